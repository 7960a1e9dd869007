'use strict'

// The event bus of clients and servers, with event-pubsub 4.3's surface and semantics
// (which node-ipc v9 inherits), except the '*' catch-all: v9's mutated payloads and threw
// on strings, and v9's wildcard crashed on some; here catch-all handlers get (type, ...args) first.

function on(type, handler, once) {
  if (!handler) {
    throw new ReferenceError('handler not defined.')
  }
  if (!this._events_[type]) {
    this._events_[type] = []
  }
  if (once) {
    handler._once_ = once
  }
  this._events_[type].push(handler)
  return this
}

function once(type, handler) {
  return this.on(type, handler, true)
}

function off(type, handler) {
  const handlers = this._events_[type]
  if (!handlers) {
    return this
  }
  if (!handler) {
    throw new ReferenceError(
      'handler not defined. if you wish to remove all handlers from the event please pass "*" as the handler',
    )
  }
  // biome-ignore lint/suspicious/noDoubleEquals: event-pubsub compared loosely; kept as v9 had it
  if (handler == '*') {
    delete this._events_[type]
    return this
  }
  for (let at = handlers.indexOf(handler); at !== -1; at = handlers.indexOf(handler)) {
    handlers.splice(at, 1)
  }
  if (handlers.length < 1) {
    delete this._events_[type]
  }
  return this
}

function publish(type, ...args) {
  if (this._events_['*']) {
    this.emit$(type, args)
  }
  const handlers = this._events_[type]
  if (!handlers) {
    return this
  }
  // As in event-pubsub: handlers added during this dispatch wait for the next one.
  let onceHandled
  for (let i = 0, count = handlers.length; i < count && i < handlers.length; i++) {
    const handler = handlers[i]
    handler.apply(this, args)
    if (handler._once_) {
      onceHandled = onceHandled || []
      onceHandled.push(handler)
    }
  }
  if (onceHandled) {
    for (const handler of onceHandled) {
      this.off(type, handler)
    }
  }
  return this
}

function emit$(type, args) {
  const catchAll = this._events_['*']
  if (!catchAll || type === '*') {
    return this
  }
  for (const handler of catchAll.slice()) {
    handler.call(this, type, ...(args || []))
  }
  return this
}

class PubSub {
  constructor() {
    // Own enumerable members in event-pubsub's order, as v9 objects expose them.
    // No prototype: wire types such as "constructor" or "__proto__" are plain names here.
    this._events_ = Object.create(null)
    this.emit = publish
    this.trigger = publish
    this.publish = publish
    this.on = on
    this.subscribe = on
    this.once = once
    this.off = off
    this.unSubscribe = off
    this.emit$ = emit$
  }
}

module.exports = PubSub
