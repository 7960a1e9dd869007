'use strict'
// The "world" server of node-ipc's basic example, over a Unix socket or TCP.
// Usage: node world-server.js unix <socketPath> | tcp <port>
const ipc = require('..')

const [transport, where] = process.argv.slice(2)
ipc.config.id = 'world'
ipc.config.silent = true

function onStart() {
  ipc.server.on('app.message', (data, socket) => {
    console.log(`[world/${transport}] got a message from ${data.id}: ${JSON.stringify(data.message)}`)
    ipc.server.emit(socket, 'app.message', { id: ipc.config.id, message: data.message + ' world!' })
  })
  ipc.server.on('socket.disconnected', (socket, id) => {
    console.log(`[world/${transport}] ${id} disconnected; stopping`)
    ipc.server.stop()
  })
  process.send && process.send('listening')
}

if (transport === 'unix') {
  ipc.serve(where, onStart)
} else {
  ipc.serveNet('127.0.0.1', Number(where), onStart)
}
ipc.server.start()
