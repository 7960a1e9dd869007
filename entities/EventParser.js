'use strict'

// node-ipc v9's entities/EventParser.js, at the same path, for code that frames messages
// itself (`require(path.dirname(require.resolve('node-ipc')) + '/entities/EventParser')`)
// and writes them with socket.write: the same class, the same output for the same input.

const Defaults = require('./Defaults.js')

class Parser {
  constructor(config) {
    if (!config) {
      config = new Defaults()
    }
    this.delimiter = config.delimiter
  }

  // A js-message-style message ({type, data, JSON}) as one frame. As in v9, `data` is
  // normalised on the message itself before its JSON (the message's own getter) is read:
  // falsy data other than false and 0 becomes {}, and so does data with a truthy
  // `_maxListeners` (an EventEmitter after setMaxListeners).
  format(message) {
    if (!message.data && message.data !== false && message.data !== 0) {
      message.data = {}
    }
    if (message.data._maxListeners) {
      message.data = {}
    }
    return message.JSON + this.delimiter
  }

  // The complete frames in `data`; an unterminated last piece is dropped, as in v9.
  parse(data) {
    const events = data.split(this.delimiter)
    events.pop()
    return events
  }
}

module.exports = Parser
