'use strict'

// The JSON envelope of node-ipc v9 (js-message + EventParser), byte for byte (SPEC §4.1).

function formatFrame(type, data, delimiter) {
  // v9's normalization: undefined, null, '' and NaN become {}, and so does anything with
  // a truthy _maxListeners (an EventEmitter). Receivers rely on seeing {} (SPEC §12 #5).
  if (!data && data !== false && data !== 0) {
    data = {}
  }
  if (data['_maxListeners']) {
    data = {}
  }
  return JSON.stringify({ type: type, data: data }) + delimiter
}

// Returns [type, data]; a frame that is not a JSON object becomes an 'error' event with
// v9's payload, and the connection stays open (SPEC §12 #6).
function parseFrame(text) {
  let parsed = text
  try {
    parsed = JSON.parse(text)
    return [parsed.type, parsed.data]
  } catch (err) {
    return ['error', { message: 'Invalid JSON response format', err: err, response: parsed }]
  }
}

module.exports = { formatFrame, parseFrame }
