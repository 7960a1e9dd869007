#!/usr/bin/env node
// Summarises V8 .cpuprofile files (from `node --cpu-prof`, e.g. `npm run bench -- --cpu-prof /tmp/prof`):
// self time per function (callFrame.functionName + url), aggregated over all nodes, and
// self time per category (this package's lib/*.js, the reference, node internals, GC, ...).
//   node bench/cpuprofile-summary.mjs file.cpuprofile [more files] [--top 25]
// A profile covers the main JS thread only: time spent in native code called from JS is
// attributed to the called binding (url ''); the Rust core's tokio threads do not appear.

import { readFileSync } from 'node:fs'
import path from 'node:path'

const args = process.argv.slice(2)
let top = 25
const files = []
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--top') {
    top = Number(args[++i])
  } else {
    files.push(args[i])
  }
}

function category(url, name) {
  if (name === '(garbage collector)') return 'gc'
  if (name === '(idle)') return 'idle'
  if (name === '(program)') return 'program (native, outside JS)'
  if (name === '(root)') return 'root'
  if (!url) return 'native (builtin / binding call)'
  if (/nipc-bench-pkg-[^/]+\/lib\/|\/work\/main\/lib\//.test(url) && !url.includes('node_modules'))
    return 'ours lib/*.js'
  if (url.includes('/bench/')) return 'bench harness'
  if (url.includes('node_modules')) return 'node_modules'
  if (url.startsWith('node:')) return 'node internals'
  return 'other'
}

function short(url) {
  if (!url) return ''
  const m = url.match(/(?:\/work\/main|nipc-bench-pkg-[^/]+)\/(.*)$/)
  return m ? m[1] : url.replace(/^file:\/\//, '')
}

for (const file of files) {
  const prof = JSON.parse(readFileSync(file, 'utf8'))
  const totalUs = prof.endTime - prof.startTime
  // Time per node from the sample timeline (DevTools' way): sample i lasts until sample
  // i+1, so a main thread that was descheduled inside a call is charged to that call.
  const byId = new Map(prof.nodes.map((n) => [n.id, n]))
  const timeOf = new Map()
  const hitsOf = new Map()
  const samples = prof.samples || []
  const deltas = prof.timeDeltas || []
  for (let i = 0; i < samples.length; i++) {
    const dt = i + 1 < deltas.length ? deltas[i + 1] : 0
    timeOf.set(samples[i], (timeOf.get(samples[i]) || 0) + Math.max(0, dt))
    hitsOf.set(samples[i], (hitsOf.get(samples[i]) || 0) + 1)
  }
  const totalHits = samples.length
  const usPerHit = 1 // values below are µs of sampled time
  const byFn = new Map()
  const byCat = new Map()
  for (const [id, us] of timeOf) {
    const n = byId.get(id)
    const { functionName, url, lineNumber } = n.callFrame
    const key = `${functionName || '(anonymous)'} ${short(url)}${url ? ':' + (lineNumber + 1) : ''}`
    byFn.set(key, (byFn.get(key) || 0) + us)
    const cat = category(url, functionName)
    byCat.set(cat, (byCat.get(cat) || 0) + us)
  }
  const busyHits = [...byCat].reduce((sum, [c, us]) => (c === 'idle' ? sum : sum + us), 0)
  console.log(
    `\n${path.basename(file)}: ${(totalUs / 1000).toFixed(0)} ms profiled, ${totalHits} samples, ${((busyHits * usPerHit) / 1000).toFixed(0)} ms not idle`,
  )
  console.log('  by category (share of non-idle):')
  for (const [cat, hits] of [...byCat].sort((a, b) => b[1] - a[1])) {
    if (cat === 'idle') continue
    console.log(
      `    ${((100 * hits) / busyHits).toFixed(1).padStart(5)}%  ${((hits * usPerHit) / 1000).toFixed(0).padStart(6)} ms  ${cat}`,
    )
  }
  console.log(`  top ${top} self time (share of non-idle):`)
  for (const [key, hits] of [...byFn]
    .sort((a, b) => b[1] - a[1])
    .filter(([k]) => !k.startsWith('(idle)'))
    .slice(0, top)) {
    console.log(
      `    ${((100 * hits) / busyHits).toFixed(1).padStart(5)}%  ${((hits * usPerHit) / 1000).toFixed(1).padStart(7)} ms  ${key}`,
    )
  }
}
