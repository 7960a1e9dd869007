// server.address() reports where the server is bound, as net does: serveNet with a host
// name gives the address it resolved to (v9's net.Server: 'localhost' -> 127.0.0.1). Both
// implementations. (Port 0 is not "any port" in v9: it falls back to networkPort.)
import test from 'ava'
import { IMPL_NAMES, newIpc, track } from './helpers/behav-util.mjs'
import { freePort } from './helpers/net.mjs'

const started = (ipc) =>
  new Promise((resolve, reject) => {
    ipc.server.on('start', () => resolve(ipc.server.server))
    ipc.server.on('error', reject)
    ipc.server.start()
  })

for (const impl of IMPL_NAMES) {
  test(`[${impl}] serveNet('localhost', port): address() is the resolved 127.0.0.1`, async (t) => {
    const ipc = track(t, newIpc(impl))
    const port = await freePort()
    ipc.serveNet('localhost', port, () => {})
    const server = await started(ipc)
    t.deepEqual(server.address(), { address: '127.0.0.1', family: 'IPv4', port })
  })
}
