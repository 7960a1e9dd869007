// Ephemeral endpoints for tests: free TCP and UDP ports on the loopback, private socket
// folders, and the odd things that can sit at a socket path.
import dgram from 'node:dgram'
import net from 'node:net'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawnNode, runToEnd } from './proc.mjs'

// A port that was free a moment ago: bind port 0 on `host`, read it, close.
export function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.once('error', reject)
    srv.listen(0, host, () => {
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

// A port as /proc/net/{tcp,udp}* write it: 4 upper-case hex digits.
export const hexPort = (port) => port.toString(16).toUpperCase().padStart(4, '0')

// Is a UDP socket of `type` bound on `port` (any local address)? Read from /proc/net/udp or
// /proc/net/udp6, so that no probe datagram reaches the socket.
export function udpBound(type, port) {
  const file = type === 'udp6' ? '/proc/net/udp6' : '/proc/net/udp'
  const want = ':' + hexPort(port)
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .slice(1)
    .some((line) => {
      const f = line.trim().split(/\s+/)
      return f.length > 2 && f[1].endsWith(want)
    })
}

// A fresh folder for Unix socket paths (kept short: the OS limit is 108 bytes on Linux).
export function tmpSocketDir(prefix = 'nipc-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix))
}

// A fresh folder for one test, removed at its teardown.
export function tmpDir(t, prefix = 'nipc-') {
  const dir = tmpSocketDir(prefix)
  t.teardown(() => rmDir(dir))
  return dir
}

// Remove a folder made by tmpSocketDir; never throws.
export function rmDir(dir) {
  try {
    fs.rmSync(dir, { recursive: true, force: true })
  } catch {}
}

// A fresh endpoint of `transport` ('unix' | 'tcp') for a child-process scenario: `env`
// (TRANSPORT, SOCK_PATH | PORT, as the scenario fixtures read them), `ep` ({path} or
// {port}, what behav-util's raw node:net peers take) and, for unix, its folder `dir`, which
// goes at teardown.
export async function scenarioEndpoint(t, transport, file = 's.sock') {
  if (transport === 'tcp') {
    const port = await freePort()
    return { env: { TRANSPORT: 'tcp', PORT: String(port) }, ep: { port } }
  }
  const dir = tmpDir(t)
  const p = path.join(dir, file)
  return { env: { TRANSPORT: 'unix', SOCK_PATH: p }, ep: { path: p }, dir }
}

// A regular file where a server's socket would go, in a fresh folder of the test; its
// content ('keep me\n') shows whether it survived.
export function regularFile(t, name = 'plain.txt') {
  const p = path.join(tmpDir(t), name)
  fs.writeFileSync(p, 'keep me\n')
  return p
}

// A socket path in `dir` well past the sun_path limit (108 bytes on Linux, 104 on macOS).
export function longPath(dir) {
  return path.join(dir, 'L'.repeat(130) + '.sock')
}

// A Unix socket file nobody listens on, at `file`: a child binds it and dies by SIGKILL,
// so nothing gets to remove it (a Node server's close() would unlink it). Resolves with
// `file`.
export async function staleSocket(file) {
  const code = `require('net').createServer().listen(${JSON.stringify(file)}, () => process.kill(process.pid, 'SIGKILL'))`
  const child = spawnNode('-e', { args: [code], label: 'stale socket' })
  await runToEnd(child, 10000)
  if (!fs.statSync(file, { throwIfNoEntry: false })?.isSocket())
    throw new Error(`no stale socket at ${file}\n${child.describe()}`)
  return file
}
