// Wire interop between node-ipc-rs ("ours") and the v9 reference ("ref"), each in its own
// process, in both directions, over a Unix socket and TCP, in JSON and rawBuffer mode.
// ref<->ref runs too, as a control that validates the harness itself.
import test from 'ava'
import path from 'node:path'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { spawnNode, assertLoaded } from './helpers/proc.mjs'
import { scenarioEndpoint } from './helpers/net.mjs'

const require = createRequire(import.meta.url)
const here = path.dirname(fileURLToPath(import.meta.url))
const FIX = path.join(here, 'fixtures', 'interop')
const P = require('./fixtures/interop/payloads.cjs')

// The processes under test run on the Node that a version or arm64 run names
// (scripts/test-node-versions.mjs and scripts/test-linux-arm64.sh set the version and
// architecture they expect); elsewhere on this Node.
test('the processes under test run on the Node the run names, with either implementation', async (t) => {
  const expected = {
    version: process.env.NODE_IPC_RS_TEST_NODE_VERSION || process.version,
    arch: process.env.NODE_IPC_RS_TEST_NODE_ARCH || process.arch,
    serve: 'function',
  }
  for (const impl of ['ref', 'ours']) {
    const child = spawnNode(path.join(FIX, 'which-node.cjs'), { impl, t })
    t.deepEqual(JSON.parse(await child.waitLine(/version/, 60_000)), expected, impl)
  }
})

const EXCHANGE_TIMEOUT = 40000

const PAIRS = [
  { server: 'ours', client: 'ref' },
  { server: 'ref', client: 'ours' },
  { server: 'ref', client: 'ref', control: true },
]

// Compare a list of received records against [type, data] expectations by type + digest.
function compareSeq(t, label, got, want) {
  const g = got.map((r) => `${r.type}:${r.sha}`)
  const w = want.map(([type, data]) => `${type}:${P.digest(data)}`)
  let first = -1
  for (let i = 0; i < Math.max(g.length, w.length); i++)
    if (g[i] !== w[i]) {
      first = i
      break
    }
  const detail =
    first === -1
      ? ''
      : `first difference at #${first}: got ${JSON.stringify(got[first] && { type: got[first].type, len: got[first].len, data: got[first].data })}, ` +
        `want ${JSON.stringify(want[first] && { type: want[first][0], data: JSON.stringify(want[first][1]).slice(0, 300) })}; got ${g.length} records, want ${w.length}`
  t.is(first, -1, `${label}: ${detail}`)
}

function setupPair(t, pair, fixtureServer, fixtureClient, env) {
  const server = spawnNode(path.join(FIX, fixtureServer), { impl: pair.server, env, label: `server[${pair.server}]` })
  const client = spawnNode(path.join(FIX, fixtureClient), { impl: pair.client, env, label: `client[${pair.client}]` })
  t.teardown(() => Promise.all([server.kill(), client.kill()]))
  return { server, client }
}

for (const pair of PAIRS) {
  for (const transport of ['unix', 'tcp']) {
    const name = `${pair.control ? '[control] ' : ''}${pair.server} server <-> ${pair.client} client`

    test.serial(`json ${transport}: ${name}`, async (t) => {
      const ep = await scenarioEndpoint(t, transport, 'interop.sock')
      const server = spawnNode(path.join(FIX, 'json-server.cjs'), {
        impl: pair.server,
        env: ep.env,
        label: `server[${pair.server}]`,
      })
      t.teardown(() => server.kill())
      await assertLoaded(t, server, pair.server)
      await server.waitJson((o) => o.ev === 'listening', 10000)
      const client = spawnNode(path.join(FIX, 'json-client.cjs'), {
        impl: pair.client,
        env: ep.env,
        label: `client[${pair.client}]`,
      })
      t.teardown(() => client.kill())
      await assertLoaded(t, client, pair.client)

      await client.waitJson((o) => o.ev === 'client-done', EXCHANGE_TIMEOUT)
      // both client connections closed by ipc.disconnect: the server sees two peers go
      await server.waitJson((o) => o.ev === 'peer-closed' && o.n === 2, 10000)

      const errors = [...server.json(), ...client.json()].filter((o) => o.ev === 'error' || o.ev === 'watchdog')
      t.deepEqual(errors, [], 'no error events on either side')

      const burst = Array.from({ length: P.BURST_N }, (_, i) => ['burst', P.burstWire(i)])
      // server side, per connection, in wire order
      const srecv = server.json().filter((o) => o.ev === 'recv')
      compareSeq(
        t,
        'server <- c1',
        srecv.filter((r) => r.conn === 'c1'),
        [
          ['hello', { id: 'c1' }],
          ['welcome-ack', { got: P.UNICODE }],
          ['unicode', P.UNICODE],
          ['nested', P.NESTED],
          ['big', P.BIG],
          ...burst,
          ['done', { n: P.BURST_N }],
        ],
      )
      compareSeq(
        t,
        'server <- c2',
        srecv.filter((r) => r.conn === 'c2'),
        [['hello', { id: 'c2' }]],
      )
      t.deepEqual(
        srecv.filter((r) => r.conn === 'unknown'),
        [],
        'every message came on a known connection',
      )
      // readable checks of the small payloads
      t.deepEqual(srecv.find((r) => r.type === 'unicode').data, P.UNICODE)
      t.deepEqual(srecv.find((r) => r.type === 'nested').data, P.NESTED)
      t.is(srecv.find((r) => r.type === 'big').len, JSON.stringify(P.BIG).length)

      // client side: replies (echo) in order, the broadcast on both connections
      const crecv = client.json().filter((o) => o.ev === 'recv')
      const c1 = crecv.filter((r) => r.conn === 'c1')
      compareSeq(
        t,
        'c1 <- server (without news)',
        c1.filter((r) => r.type !== 'news'),
        [
          ['welcome', { id: 'c1', text: P.UNICODE }],
          ['echo', { type: 'welcome-ack', data: { got: P.UNICODE } }],
          ['echo', { type: 'unicode', data: P.UNICODE }],
          ['echo', { type: 'nested', data: P.NESTED }],
          ['echo', { type: 'big', data: P.BIG }],
          ...burst.map(([type, data]) => ['echo', { type, data }]),
          ['done-ack', { ok: true, n: P.BURST_N }],
        ],
      )
      const news = { text: 'to all ✓', n: 2 }
      compareSeq(
        t,
        'c1 news',
        c1.filter((r) => r.type === 'news'),
        [['news', news]],
      )
      compareSeq(
        t,
        'c2 <- server',
        crecv.filter((r) => r.conn === 'c2'),
        [
          ['welcome', { id: 'c2', text: P.UNICODE }],
          ['news', news],
        ],
      )
      t.deepEqual(c1.find((r) => r.type === 'welcome').data, { id: 'c1', text: P.UNICODE })
    })

    for (const encoding of ['hex', 'latin1']) {
      test.serial(`rawBuffer/${encoding} ${transport}: ${name}`, async (t) => {
        const ep = await scenarioEndpoint(t, transport, 'interop.sock')
        const env = { ...ep.env, ENCODING: encoding }
        const server = spawnNode(path.join(FIX, 'raw-server.cjs'), {
          impl: pair.server,
          env,
          label: `server[${pair.server}]`,
        })
        t.teardown(() => server.kill())
        await assertLoaded(t, server, pair.server)
        await server.waitJson((o) => o.ev === 'listening', 10000)
        const client = spawnNode(path.join(FIX, 'raw-client.cjs'), {
          impl: pair.client,
          env,
          label: `client[${pair.client}]`,
        })
        t.teardown(() => client.kill())
        await assertLoaded(t, client, pair.client)

        const sent = P.rawClientBytes(encoding)
        // the string chunk really was encoded with config.encoding: ff 00 0c 80 41 on the wire
        t.true(sent.includes(Buffer.from([0xff, 0x00, 0x0c, 0x80, 0x41])))
        const s = await server.waitJson((o) => o.ev === 'raw-recv', EXCHANGE_TIMEOUT)
        t.is(s.firstDiff, -1, `server got different bytes: ${JSON.stringify(s)}`)
        t.is(s.len, sent.length)
        t.is(s.sha, P.sha(sent))
        t.is(s.head, sent.subarray(0, 16).toString('hex'))

        const want = Buffer.concat([P.RAW_GREETING, sent])
        const c = await client.waitJson((o) => o.ev === 'raw-recv', EXCHANGE_TIMEOUT)
        t.is(c.firstDiff, -1, `client got different bytes: ${JSON.stringify(c)}`)
        t.is(c.len, want.length)
        t.is(c.sha, P.sha(want))
        t.is(c.head, 'ff000c80' + Buffer.from('greeting').toString('hex') + '00010203')

        const bad = [...server.json(), ...client.json()].filter((o) =>
          ['error', 'not-a-buffer', 'watchdog'].includes(o.ev),
        )
        t.deepEqual(bad, [])
      })
    }
  }
}
