// Ephemeral endpoints for tests: a free TCP port on 127.0.0.1 and a private socket folder.
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

// A fresh folder for Unix socket paths (kept short: the OS limit is 108 bytes on Linux).
export function tmpSocketDir(prefix = 'nipc-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix))
}

// Remove a folder made by tmpSocketDir; never throws.
export function rmDir(dir) {
  try { fs.rmSync(dir, { recursive: true, force: true }) } catch {}
}
