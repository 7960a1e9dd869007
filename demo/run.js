'use strict'
// `npm start`: a world server and a hello client, in separate processes, exchange
// messages through the native core over a Unix socket and then over TCP; then all exit.
const { fork } = require('child_process')
const fs = require('fs')
const net = require('net')
const os = require('os')
const path = require('path')

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address()
      probe.close(() => resolve(port))
    })
    probe.on('error', reject)
  })
}

function exited(child, name) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill()
      reject(new Error(`${name} did not finish within 10 s`))
    }, 10000)
    child.on('exit', (code) => {
      clearTimeout(timer)
      code === 0 ? resolve() : reject(new Error(`${name} exited with code ${code}`))
    })
  })
}

async function exchange(transport, where) {
  console.log(`--- ${transport} (${where}) ---`)
  const server = fork(path.join(__dirname, 'world-server.js'), [transport, where])
  await new Promise((resolve) => server.once('message', resolve))
  const client = fork(path.join(__dirname, 'hello-client.js'), [transport, where])
  await Promise.all([exited(client, 'hello client'), exited(server, 'world server')])
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-ipc-rs-demo-'))
  try {
    await exchange('unix', path.join(dir, 'app.world'))
    await exchange('tcp', String(await freePort()))
    console.log('--- done: both processes exited by themselves ---')
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
