'use strict'

// Percentiles of round-trip times, shared by the children (common.cjs) and the
// orchestrator (run.mjs, which pools the round trips of several clients).

function percentile(sorted, p) {
  if (sorted.length === 0) {
    return NaN
  }
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[idx]
}

// Latency recorder: round-trip times in ns for the measured (post-warm-up) requests.
function latencySummary(rtts) {
  const sorted = Float64Array.from(rtts).sort()
  return { p50: percentile(sorted, 50) / 1000, p99: percentile(sorted, 99) / 1000 }
}

module.exports = { percentile, latencySummary }
