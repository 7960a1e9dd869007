// The original node-ipc UDPSocket example programs, unchanged (the registry copy shipped in
// @node-ipc/compat@9.2.5), run as child processes against each implementation.
//
// Expectations are what the v9 reference does with this copy (run first and observed):
// only lines that the example code itself logs are matched (through ipc.log, so ANSI colors
// are stripped and the spacing of ipc.log's join is matched loosely), plus exit behaviour:
// a UDP "client" is a UDP server too, so no process ever exits on its own; all are killed.
//
// The examples bind the fixed UDP ports 8000 (world), 8001 (hello) and 8002 (goodbye), so
// every test is serial and holds the cross-process fixed-endpoint lock for its whole run.
// UDP has no connection: a client's first datagram is lost if world is not bound yet, so
// each client starts only once /proc/net/udp shows world's port. Every exchange is a single
// loopback datagram (a few ms); retry settings are unused by UDP.
import checks from './helpers/example-checks.cjs'
import { exampleTests } from './helpers/examples.mjs'
import { udpBound } from './helpers/net.mjs'

const PORTS = { world: 8000, hello: 8001, goodbye: 8002 }

const OPTIONS = {
  probe: { up: (port) => udpBound('udp4', port), name: (port) => `udp4 port ${port}` },
  after: (t) => {
    for (const port of Object.values(PORTS))
      t.false(udpBound('udp4', port), `udp4 port ${port} is free again after the kill`)
  },
  lockWait: 240000,
}

// The examples and what is checked: helpers/example-checks.cjs. Endpoints are the ports.
const { checkUdpOneDatagramEachWay, checkUdpMultiClientBroadcast } = checks
exampleTests('UDPSocket/basic', (t, ex) => checkUdpOneDatagramEachWay(t, ex, PORTS, 'basic'), OPTIONS)
exampleTests('UDPSocket/Multi-Client-Broadcast', (t, ex) => checkUdpMultiClientBroadcast(t, ex, PORTS), OPTIONS)
exampleTests('UDPSocket/rawBuffer', (t, ex) => checkUdpOneDatagramEachWay(t, ex, PORTS, 'rawBuffer'), OPTIONS)
