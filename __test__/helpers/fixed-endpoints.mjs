// The original examples hard-code /tmp/app.world and ports 8000-8002. Test files run in
// parallel processes, so every test that binds those endpoints holds this cross-process
// lock (an exclusive mkdir) for its whole run. A lock left by a dead process is taken over.
//
// The lock is fair: a waiter first takes a ticket (a file named by time, pid and a counter
// in the queue folder) and only the oldest live ticket may take the lock. Without the
// queue, a file of serial tests re-took the lock within microseconds of releasing it while
// another file, polling every 50 ms, starved: a first TLS example waited over 120 s behind
// the whole of examples.spec on a slow machine and failed. The wait has no fixed total:
// it fails only when the lock makes no progress (neither the holder nor the head of the
// queue changes) for the stated time, which means a test hangs while holding it.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { delay } from './behav-util.mjs'

const LOCK = path.join(os.tmpdir(), 'node-ipc-rs-fixed-endpoints.lock')
const OWNER = path.join(LOCK, 'owner')
const QUEUE = `${LOCK}.queue`
const POLL_MS = 50
let tickets = 0

function alive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return err.code === 'EPERM'
  }
}

const readOwner = () => {
  try {
    return fs.readFileSync(OWNER, 'utf8')
  } catch {
    return ''
  }
}

function takeTicket() {
  fs.mkdirSync(QUEUE, { recursive: true })
  // Fixed-width time first, so that names sort by arrival; pid and counter break ties.
  const name = `${String(Date.now()).padStart(15, '0')}-${String(process.pid).padStart(10, '0')}-${tickets++}`
  fs.writeFileSync(path.join(QUEUE, name), '')
  return name
}

/** The oldest ticket whose process is alive; tickets of dead processes are removed. */
function head() {
  const names = fs.readdirSync(QUEUE).sort()
  for (const name of names) {
    if (alive(Number(name.split('-')[1]))) return name
    fs.rmSync(path.join(QUEUE, name), { force: true })
  }
  return undefined
}

function tryLock() {
  try {
    fs.mkdirSync(LOCK)
    fs.writeFileSync(OWNER, String(process.pid))
    return true
  } catch (err) {
    if (err.code !== 'EEXIST') throw err
  }
  // Give a fresh lock time to record its owner before judging it stale.
  const age = Date.now() - fs.statSync(LOCK, { throwIfNoEntry: false })?.mtimeMs
  const owner = Number(readOwner())
  if (age > 1000 && !(owner && alive(owner))) fs.rmSync(LOCK, { recursive: true, force: true })
  return false
}

async function acquire(stallMs) {
  const ticket = takeTicket()
  let state = ''
  let since = Date.now()
  try {
    for (;;) {
      const first = head()
      if (first === ticket && tryLock()) return
      const now = `${readOwner()}|${first}`
      if (now !== state) {
        state = now
        since = Date.now()
      } else if (Date.now() - since > stallMs) {
        throw new Error(`the fixed example endpoints made no progress for ${stallMs} ms (${LOCK}: holder|next ${now})`)
      }
      await delay(POLL_MS)
    }
  } finally {
    fs.rmSync(path.join(QUEUE, ticket), { force: true })
  }
}

/**
 * Run `fn` holding the lock. `stallMs`: how long the lock may stay with one holder and one
 * next-in-line before the wait fails (a holder that long is hung).
 */
export async function withFixedEndpoints(fn, stallMs = 240_000) {
  await acquire(stallMs)
  try {
    return await fn()
  } finally {
    fs.rmSync(LOCK, { recursive: true, force: true })
  }
}
