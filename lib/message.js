'use strict'

const { isProxy } = require('util').types
const { shared } = require('./native')

// The JSON envelope of node-ipc v9 (js-message + EventParser), byte for byte.

// v9's normalization: undefined, null, '' and NaN become {}, and so does anything with a
// truthy _maxListeners (an EventEmitter). Receivers rely on seeing {}.
function normalize(data) {
  if (!data && data !== false && data !== 0) {
    return {}
  }
  if (data['_maxListeners']) {
    return {}
  }
  return data
}

function formatFrame(type, data, delimiter) {
  return JSON.stringify({ type: type, data: normalize(data) }) + delimiter
}

// Strings at least `shared().largeString` long (64 KiB), as `data` or as a field of a
// plain-object `data`, are written by the core (src/json_text.rs): V8's JSON.stringify
// escapes a few hundred MB/s on the JS thread, which capped how fast large payloads could
// be sent. The mark stands in for a large string in the small rest of a frame, both ways;
// random per process, so that it matches no string of the application's or of a peer's.
// Objects with more fields than this go to JSON.stringify whole: looking costs more.
const MAX_FIELDS = 16
function largeStringMark() {
  return shared().largeStringMark
}

// The frame formatFrame would make, as `[json, string, json, ..., json]` for the core's
// writeJson/broadcastJson (even items: JSON text; odd items: strings to write as JSON
// literals), or null when data holds no large string where this looks.
//
// It only takes messages whose serialisation runs no user code: a string type, and data
// that is a string or a plain object of primitive data properties (no getters, proxies or
// toJSON, no nested objects). Deciding that reads property descriptors, never values
// through getters, so that the JSON.stringify path taken otherwise sees the message as
// v9 did, side effects and all.
function formatLargeFrame(type, data, delimiter) {
  if (typeof type !== 'string') {
    return null
  }
  const LARGE_STRING = shared().largeString
  let large = null
  let skeleton
  if (typeof data === 'string') {
    if (data.length < LARGE_STRING || data['_maxListeners'] || type.includes(largeStringMark())) {
      return null
    }
    large = [data]
    skeleton = largeStringMark() + '0'
  } else {
    if (data === null || typeof data !== 'object' || isProxy(data) || 'toJSON' in data || '_maxListeners' in data) {
      return null
    }
    const proto = Object.getPrototypeOf(data)
    if (proto !== Object.prototype && proto !== null) {
      return null
    }
    const keys = Object.keys(data)
    if (keys.length > MAX_FIELDS) {
      return null
    }
    const values = new Array(keys.length)
    for (let i = 0; i < keys.length; i++) {
      const property = Object.getOwnPropertyDescriptor(data, keys[i])
      const value = property.value
      const kind = typeof value
      // A getter; nested data; values JSON.stringify would look for a toJSON on.
      if (!('value' in property) || (value !== null && kind === 'object') || kind === 'function' || kind === 'bigint') {
        return null
      }
      if (typeof value === 'string' && value.length >= LARGE_STRING) {
        large = large || []
        large.push(value)
      }
      values[i] = value
    }
    if (large === null) {
      return null
    }
    const MARK = largeStringMark()
    if (type.includes(MARK)) {
      return null
    }
    // Null prototype: a "__proto__" key stays an ordinary field, as JSON.stringify sees it.
    skeleton = Object.create(null)
    let n = 0
    for (let i = 0; i < keys.length; i++) {
      const value = values[i]
      if (keys[i].includes(MARK)) {
        return null
      }
      if (typeof value === 'string') {
        if (value.length >= LARGE_STRING) {
          skeleton[keys[i]] = MARK + n++
          continue
        }
        if (value.includes(MARK)) {
          return null
        }
      }
      skeleton[keys[i]] = value
    }
  }
  const text = JSON.stringify({ type: type, data: skeleton })
  const pieces = []
  let from = 0
  for (let i = 0; i < large.length; i++) {
    const literal = '"' + largeStringMark() + i + '"'
    const at = text.indexOf(literal, from)
    if (at < 0) {
      return null
    }
    pieces.push(text.slice(from, at), large[i])
    from = at + literal.length
  }
  pieces.push(text.slice(from) + delimiter)
  return pieces
}

// The frame of formatLargeFrame's pieces made by JSON.stringify alone, for strings the core
// hands back (ones that may hold a lone surrogate: see src/json_text.rs).
function joinLargeFrame(pieces) {
  let text = pieces[0]
  for (let i = 1; i < pieces.length; i += 2) {
    text += JSON.stringify(pieces[i]) + pieces[i + 1]
  }
  return text
}

// Returns [type, data]; a frame that is not a JSON object becomes an 'error' event with
// v9's payload, and the connection stays open. `text` may also be a large
// frame taken apart by the core: [skeleton, ...strings].
function parseFrame(text) {
  if (typeof text !== 'string') {
    return parseLargeFrame(text)
  }
  let parsed = text
  try {
    parsed = JSON.parse(text)
    return [parsed.type, parsed.data]
  } catch (err) {
    return ['error', { message: 'Invalid JSON response format', err: err, response: parsed }]
  }
}

// The skeleton's marks are swapped back for their strings as JSON.parse builds the value;
// a skeleton that does not parse is put back together so that the error is JSON.parse's
// own for the frame as it came.
function parseLargeFrame(parts) {
  const MARK = largeStringMark()
  const revive = (key, value) => {
    if (typeof value === 'string' && value.startsWith(MARK)) {
      const index = value.slice(MARK.length)
      if (/^\d{1,6}$/.test(index) && Number(index) + 1 < parts.length) {
        return parts[Number(index) + 1]
      }
    }
    return value
  }
  let parsed
  try {
    parsed = JSON.parse(parts[0], revive)
  } catch (err) {
    let text = parts[0]
    for (let n = 1; n < parts.length; n++) {
      text = text.replace('"' + MARK + (n - 1) + '"', () => '"' + parts[n] + '"')
    }
    return parseFrame(text)
  }
  try {
    return [parsed.type, parsed.data]
  } catch (err) {
    return ['error', { message: 'Invalid JSON response format', err: err, response: parsed }]
  }
}

// v9's raw frame, Buffer.from(value, encoding), without its copy of a byte array when the
// bytes are copied before emit returns anyway (the socket's cork, the core's queue).
function rawFrame(value, encoding) {
  return value instanceof Uint8Array ? value : Buffer.from(value, encoding)
}

module.exports = { rawFrame, formatFrame, formatLargeFrame, joinLargeFrame, parseFrame }
