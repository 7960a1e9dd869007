// Medians over several full `npm run bench -- --json FILE` runs: the targets are judged on
// the median of runs, not on one. Usage: node bench/combine.mjs run1.jsonl run2.jsonl ...
// Prints, per case, transport and metric, the median across runs of ours/floor, ours/ref
// and CPU ours/floor (each run's value is itself a median of its samples), the latency
// context switches, the worst peak-RSS difference, and each target's result.
import fs from 'node:fs'
import { RATIO_GOALS, RESOURCE_GOALS, RSS_GOAL_MB, SWITCH_GOALS, meets } from './targets.mjs'

const files = process.argv.slice(2)
if (files.length === 0) {
  console.error('usage: node bench/combine.mjs run1.jsonl [run2.jsonl ...]')
  process.exit(2)
}
const runs = files.map((file) =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line)),
)
// Pinned runs (--pin) measure the code's share without cross-CPU wake-ups; they are not
// the runs the targets are judged on, and are never mixed with unpinned ones.
const pins = new Set(runs.map((run) => (run.find((l) => l.type === 'machine') || {}).pin ?? null))
if (pins.size > 1) {
  console.error('these runs differ in --pin (pinned to other CPUs, or not pinned); combine each kind alone')
  process.exit(2)
}
const [pin] = pins
const median = (values) => {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b)
  if (v.length === 0) return Number.NaN
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2
}
const x = (v) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : '-')

const keys = new Map()
for (const run of runs) {
  for (const line of run) {
    if (line.type === 'ratio') keys.set(`${line.case}|${line.transport}|${line.metric}`, line)
  }
}
const rows = []
for (const [key, { case: kase, transport, metric }] of keys) {
  const mine = runs.map((run) => run.find((l) => l.type === 'ratio' && `${l.case}|${l.transport}|${l.metric}` === key))
  const pick = (field) => median(mine.map((r) => (r ? r[field] : Number.NaN)))
  const switches = median(
    runs.map((run) => {
      const s = run.find(
        (l) => l.type === 'summary' && l.case === kase && l.transport === transport && l.impl === 'ours',
      )
      return s ? s.switchesPerMsg : Number.NaN
    }),
  )
  const rss = median(mine.map((r) => (r ? Math.max(r.rssServerMinusFloorMB, r.rssClientMinusFloorMB) : Number.NaN)))
  const goal = (RATIO_GOALS[kase] || {})[metric]
  const results = []
  if (goal) results.push(`${metric} ${goal[0]} ${goal[1]}x: ${meets(pick('oursVsFloor'), ...goal) ? 'met' : 'MISSED'}`)
  const first = [...keys.values()].find((l) => l.case === kase && l.transport === transport).metric === metric
  if (first && RESOURCE_GOALS.includes(kase)) {
    results.push(`cpu <= 1.0x: ${meets(pick('cpuOursVsFloor'), '<=', 1) ? 'met' : 'MISSED'}`)
    results.push(`rss <= +${RSS_GOAL_MB} MB: ${meets(rss, '<=', RSS_GOAL_MB) ? 'met' : 'MISSED'}`)
    if (SWITCH_GOALS[kase] !== undefined) {
      results.push(`ctxsw <= ${SWITCH_GOALS[kase]}: ${meets(switches, '<=', SWITCH_GOALS[kase]) ? 'met' : 'MISSED'}`)
    }
  }
  rows.push([
    kase,
    transport,
    metric,
    x(pick('oursVsFloor')),
    x(pick('oursVsRef')),
    x(pick('cpuOursVsFloor')),
    Number.isFinite(switches) ? switches.toFixed(2) : '-',
    Number.isFinite(rss) ? `${rss >= 0 ? '+' : ''}${rss.toFixed(1)}` : '-',
    results.join('; '),
  ])
}
const header = ['case', 'transport', 'metric', 'ours/floor', 'ours/ref', 'cpu/floor', 'ctxsw', 'rss Δ MB', 'targets']
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)))
const line = (cells) =>
  cells
    .map((c, i) => String(c).padEnd(widths[i]))
    .join('  ')
    .trimEnd()
console.log(`medians over ${runs.length} runs: ${files.join(', ')}`)
if (pin !== null) {
  console.log(`every process pinned to CPU ${pin}: the code's share, not the runs the targets are judged on`)
}
console.log(line(header))
console.log(line(widths.map((w) => '-'.repeat(w))))
for (const row of rows) console.log(line(row))
