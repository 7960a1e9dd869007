'use strict'

// The sync-mode send queue (js-queue 2.0's surface): the first job runs at once, later
// ones wait until next() is called for the reply (v9's sync mode).
class Queue {
  constructor() {
    let queue = []
    let running = false
    Object.defineProperties(this, {
      add: {
        enumerable: true,
        value(...jobs) {
          queue.push(...jobs)
          if (!running && !this.stop && this.autoRun) {
            this.next()
          }
        },
      },
      next: {
        enumerable: true,
        value() {
          running = true
          if (queue.length < 1 || this.stop) {
            running = false
            return
          }
          queue.shift().call(this)
        },
      },
      clear: {
        enumerable: true,
        value() {
          queue = []
          return queue
        },
      },
      contents: {
        enumerable: false,
        get: () => queue,
        set: (value) => {
          queue = value
        },
      },
      autoRun: { enumerable: true, writable: true, value: true },
      stop: { enumerable: true, writable: true, value: false },
    })
  }
}

module.exports = Queue
