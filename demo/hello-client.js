'use strict'
// The "hello" client: sends three messages, prints the replies, disconnects.
// Usage: node hello-client.js unix <socketPath> | tcp <port>
const ipc = require('..')

const [transport, where] = process.argv.slice(2)
ipc.config.id = 'hello'
ipc.config.silent = true
ipc.config.maxRetries = 10

const connect = (cb) =>
  transport === 'unix' ? ipc.connectTo('world', where, cb) : ipc.connectToNet('world', '127.0.0.1', Number(where), cb)

connect(() => {
  const world = ipc.of.world
  let replies = 0
  world.on('connect', () => {
    for (const word of ['hello', 'bonjour', 'hallo']) {
      world.emit('app.message', { id: ipc.config.id, message: word })
    }
  })
  world.on('app.message', (data) => {
    console.log(`[hello/${transport}] got a message from ${data.id}: ${JSON.stringify(data.message)}`)
    if (++replies === 3) {
      ipc.disconnect('world')
    }
  })
})
