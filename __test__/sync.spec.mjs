// Sync mode (SPEC §5.6): with config.sync = true the client keeps one request in flight
// per server reply. The server here replies after ~200 ms and flags any overlap.
import test from 'ava'
import { IMPL_NAMES, newIpc, track, endpoint, startServer, connectClient, Recorder } from './helpers/behav-util.mjs'

const REPLY_DELAY = 200
const N = 5

// A server that answers each 'req' after REPLY_DELAY ms and records overlaps.
async function slowServer(t, impl, ep) {
  const ipc = track(t, newIpc(impl))
  const server = await startServer(ipc, ep)
  const state = { inFlight: false, overlaps: 0, received: [] }
  server.on('req', (data, socket) => {
    state.received.push({ n: data.n, t: performance.now() })
    if (state.inFlight) state.overlaps++
    state.inFlight = true
    setTimeout(() => {
      state.inFlight = false
      server.emit(socket, 'reply', { n: data.n })
    }, REPLY_DELAY)
  })
  return { server, state }
}

for (const impl of IMPL_NAMES) {
  for (const tr of ['unix', 'tcp']) {
    test.serial(`[${impl}] §5.6 sync=true: one request in flight per reply, all replies arrive (${tr})`, async (t) => {
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
      t.deepEqual(state.received.map((r) => r.n), [1, 2, 3, 4, 5])
      t.deepEqual(rec.of('reply').map((e) => e.args[0].n), [1, 2, 3, 4, 5])
      for (let i = 1; i < state.received.length; i++) {
        const gap = state.received[i].t - state.received[i - 1].t
        t.true(gap >= REPLY_DELAY - 5, `request ${i + 1} came ${gap.toFixed(1)} ms after request ${i}`)
      }
      t.is(rec.count('error'), 0)
    })
  }

  // Control: the same scenario without sync overlaps, so the test above can tell the difference.
  test.serial(`[${impl}] §5.6 sync=false: requests are not held back (control)`, async (t) => {
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
    t.true(state.received[N - 1].t - state.received[0].t < REPLY_DELAY)
  })

  test.serial(`[${impl}] §5.6 sync is read live at each emit`, async (t) => {
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
    t.deepEqual(state.received.map((r) => r.n), [1, 2, 3, 4])
  })
}
