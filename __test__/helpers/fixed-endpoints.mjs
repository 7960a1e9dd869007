// The original examples hard-code /tmp/app.world and ports 8000-8002. Test files run in
// parallel processes, so every test that binds those endpoints holds this cross-process
// lock (an exclusive mkdir) for its whole run. A lock left by a dead process is taken over.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { delay } from './behav-util.mjs'

const LOCK = path.join(os.tmpdir(), 'node-ipc-rs-fixed-endpoints.lock')
const OWNER = path.join(LOCK, 'owner')
const POLL_MS = 50

function ownerAlive() {
  try {
    const pid = Number(fs.readFileSync(OWNER, 'utf8'))
    process.kill(pid, 0)
    return true
  } catch (err) {
    return err.code === 'EPERM'
  }
}

async function acquire(timeoutMs) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      fs.mkdirSync(LOCK)
      fs.writeFileSync(OWNER, String(process.pid))
      return
    } catch (err) {
      if (err.code !== 'EEXIST') throw err
    }
    // Give a fresh lock time to record its owner before judging it stale.
    const age = Date.now() - fs.statSync(LOCK, { throwIfNoEntry: false })?.mtimeMs
    if (age > 1000 && !ownerAlive()) {
      fs.rmSync(LOCK, { recursive: true, force: true })
      continue
    }
    if (Date.now() > deadline) {
      throw new Error(`the fixed example endpoints stayed locked for ${timeoutMs} ms (${LOCK})`)
    }
    await delay(POLL_MS)
  }
}

export async function withFixedEndpoints(fn, timeoutMs = 240_000) {
  await acquire(timeoutMs)
  try {
    return await fn()
  } finally {
    fs.rmSync(LOCK, { recursive: true, force: true })
  }
}
