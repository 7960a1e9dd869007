// Sync mode (config.sync = true, client side only; README, "Sync mode"): the client keeps
// one request in flight and sends the next only once a message comes back. The server here
// replies after REPLY_DELAY ms and logs, in order, each request it receives and each reply it
// sends, so the tests assert the order of those events rather than how long they took.
import test from 'ava'
import {
  IMPL_NAMES,
  newIpc,
  track,
  endpoint,
  startServer,
  connectClient,
  Recorder,
  now,
} from './helpers/behav-util.mjs'

const REPLY_DELAY = 200
const N = 5

// A server that answers each 'req' after REPLY_DELAY ms. `state.log` lists 'req:<n>' as each
// request arrives and 'reply:<n>' as each reply is sent; `overlaps` counts requests that
// arrived while an earlier one was still unanswered.
async function slowServer(t, impl, ep) {
  const ipc = track(t, newIpc(impl))
  const server = await startServer(ipc, ep)
  const state = { inFlight: false, overlaps: 0, received: [], log: [] }
  server.on('req', (data, socket) => {
    state.received.push({ n: data.n, t: now() })
    state.log.push(`req:${data.n}`)
    if (state.inFlight) state.overlaps++
    state.inFlight = true
    setTimeout(() => {
      state.inFlight = false
      state.log.push(`reply:${data.n}`)
      server.emit(socket, 'reply', { n: data.n })
    }, REPLY_DELAY)
  })
  return { server, state }
}

const numbers = Array.from({ length: N }, (_, i) => i + 1)

for (const impl of IMPL_NAMES) {
  for (const tr of ['unix', 'tcp']) {
    test.serial(`[${impl}] sync=true: one request in flight per reply, all replies arrive (${tr})`, async (t) => {
      const ep = await endpoint(t, tr)
      const { state } = await slowServer(t, impl, ep)
      const ipc = track(t, newIpc(impl, { sync: true, stopRetrying: true }))
      const c = connectClient(ipc, 'w', ep)
      const rec = new Recorder().attach(c, ['reply', 'error'])
      c.on('connect', () => {
        for (let n = 1; n <= N; n++) c.emit('req', { n })
      })
      await rec.waitCount('reply', N, N * REPLY_DELAY + 3000)
      t.is(state.overlaps, 0, 'the server never saw a second request before it replied')
      t.deepEqual(
        state.log,
        numbers.flatMap((n) => [`req:${n}`, `reply:${n}`]),
        'each request arrives after the reply to the one before',
      )
      t.deepEqual(
        state.received.map((r) => r.n),
        numbers,
      )
      t.deepEqual(
        rec.of('reply').map((e) => e.args[0].n),
        numbers,
      )
      // Request n+1 leaves the client only after reply n, which the server sends from a
      // setTimeout(REPLY_DELAY) started when request n arrived; Node never fires a timer
      // early beyond its rounding to whole milliseconds, so the arrivals are at least
      // REPLY_DELAY apart, less a 10 ms margin. (No upper bound: load only makes gaps longer.)
      for (let i = 1; i < state.received.length; i++) {
        const gap = state.received[i].t - state.received[i - 1].t
        t.true(gap >= REPLY_DELAY - 10, `request ${i + 1} came ${gap.toFixed(1)} ms after request ${i}`)
      }
      t.is(rec.count('error'), 0)
    })
  }

  // Control: the same scenario without sync overlaps, so the test above can tell the difference.
  test.serial(`[${impl}] sync=false: requests are not held back (control)`, async (t) => {
    const ep = await endpoint(t, 'unix')
    const { state } = await slowServer(t, impl, ep)
    const ipc = track(t, newIpc(impl, { sync: false, stopRetrying: true }))
    const c = connectClient(ipc, 'w', ep)
    const rec = new Recorder().attach(c, ['reply'])
    c.on('connect', () => {
      for (let n = 1; n <= N; n++) c.emit('req', { n })
    })
    await rec.waitCount('reply', N, N * REPLY_DELAY + 3000)
    t.is(state.overlaps, N - 1)
    t.deepEqual(
      state.log.slice(0, N),
      numbers.map((n) => `req:${n}`),
      'every request arrived before the first reply was sent',
    )
  })

  test.serial(`[${impl}] sync is read live at each emit`, async (t) => {
    const ep = await endpoint(t, 'unix')
    const { state } = await slowServer(t, impl, ep)
    const ipc = track(t, newIpc(impl, { sync: true, stopRetrying: true }))
    const c = connectClient(ipc, 'w', ep)
    const rec = new Recorder().attach(c, ['reply'])
    c.on('connect', () => {
      c.emit('req', { n: 1 }) // sync: sent at once (idle queue)
      c.emit('req', { n: 2 }) // sync: queued until a reply arrives
    })
    await rec.waitCount('reply', 2, 2 * REPLY_DELAY + 3000)
    t.is(state.overlaps, 0)
    ipc.config.sync = false
    c.emit('req', { n: 3 })
    c.emit('req', { n: 4 })
    await rec.waitCount('reply', 4, 2 * REPLY_DELAY + 3000)
    t.is(state.overlaps, 1, 'with sync turned off the next two requests overlap')
    t.deepEqual(
      state.received.map((r) => r.n),
      [1, 2, 3, 4],
    )
  })
}
