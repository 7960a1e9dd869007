// Ephemeral endpoints for tests: free TCP and UDP ports on the loopback and a private socket
// folder.
import dgram from 'node:dgram'
import net from 'node:net'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

// A port that was free a moment ago: bind port 0 on 127.0.0.1, read it, close.
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

const UDP_LOOPBACK = { udp4: '127.0.0.1', udp6: '::1' }

// A dgram socket of `type` bound to host:port (default: a free port on the loopback).
export function bindDgram(type, port = 0, host = UDP_LOOPBACK[type]) {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket(type)
    s.once('error', reject)
    s.bind(port, host, () => {
      s.off('error', reject)
      resolve(s)
    })
  })
}

// `n` distinct UDP ports that were free a moment ago (all bound at once, then closed).
export async function freeUdpPorts(type, n = 1) {
  const socks = []
  for (let i = 0; i < n; i++) socks.push(await bindDgram(type))
  const ports = socks.map((s) => s.address().port)
  await Promise.all(socks.map((s) => new Promise((resolve) => s.close(resolve))))
  return ports
}

// A fresh folder for Unix socket paths (kept short: the OS limit is 108 bytes on Linux).
export function tmpSocketDir(prefix = 'nipc-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix))
}

// A fresh endpoint of `transport` ('unix' | 'tcp') for a child-process scenario: `env`
// (TRANSPORT, SOCK_PATH | PORT, as the scenario fixtures read them) and `ep` ({path} or
// {port}, what behav-util's raw node:net peers take). The folder goes at teardown.
export async function scenarioEndpoint(t, transport, file = 's.sock') {
  if (transport === 'tcp') {
    const port = await freePort()
    return { env: { TRANSPORT: 'tcp', PORT: String(port) }, ep: { port } }
  }
  const dir = tmpSocketDir()
  t.teardown(() => rmDir(dir))
  const p = path.join(dir, file)
  return { env: { TRANSPORT: 'unix', SOCK_PATH: p }, ep: { path: p } }
}

// Remove a folder made by tmpSocketDir; never throws.
export function rmDir(dir) {
  try { fs.rmSync(dir, { recursive: true, force: true }) } catch {}
}
