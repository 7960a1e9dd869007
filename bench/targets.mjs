// The benchmark's targets (ours vs the node:net floor), shared by run.mjs and combine.mjs.
// Ratios by case and metric; CPU per message and peak RSS for the first five cases; the
// latency case's context switches per round trip (all threads of both processes), an
// absolute bound.
export const RATIO_GOALS = {
  throughput: { msgsPerSec: ['>=', 1.5] },
  latency: { p50us: ['<=', 1.0], p99us: ['<=', 1.0] },
  large: { MBps: ['>=', 1.5] },
  fanout: { deliveriesPerSec: ['>=', 2.0] },
  raw: { msgsPerSec: ['>=', 1.0] },
  sync: { p50us: ['<=', 1.0] },
  clients8: { p50us: ['<=', 1.0] },
  inflight64: { p50us: ['<=', 1.0] },
}
export const RESOURCE_GOALS = ['throughput', 'latency', 'large', 'fanout', 'raw']
export const SWITCH_GOALS = { latency: 2.2 }
export const RSS_GOAL_MB = 20

export const meets = (value, op, bound) =>
  Number.isFinite(value) ? (op === '>=' ? value >= bound : value <= bound) : false
