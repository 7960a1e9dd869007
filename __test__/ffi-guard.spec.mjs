// A panic in the native core reached from JS comes back as a JS error instead of aborting
// Node: every export catches panics (scripts/check-ffi.mjs checks that each one does). The
// addon's panicCheck() panics when NODE_IPC_RS_PANIC_TEST is set, and does nothing otherwise.
import test from 'ava'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const binding = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'binding.js')
const SCRIPT = `
  const b = require(process.argv[1])
  let caught = null
  try { b.panicCheck() } catch (err) { caught = { message: err.message, isError: err instanceof Error } }
  console.log(JSON.stringify({ caught, alive: true }))
`
const run = (env) =>
  JSON.parse(
    execFileSync(process.execPath, ['-e', SCRIPT, binding], {
      encoding: 'utf8',
      timeout: 10000,
      env: { ...process.env, ...env },
    }),
  )

test('[ours] a panic behind an export reaches JS as an Error and the process lives on', (t) => {
  const out = run({ NODE_IPC_RS_PANIC_TEST: '1' })
  t.true(out.alive)
  t.truthy(out.caught, 'the call threw')
  t.true(out.caught.isError)
  t.regex(out.caught.message, /panic test/)
})

test('[ours] without the variable the check does nothing', (t) => {
  const env = { ...process.env }
  delete env.NODE_IPC_RS_PANIC_TEST
  const out = JSON.parse(
    execFileSync(process.execPath, ['-e', SCRIPT, binding], { encoding: 'utf8', timeout: 10000, env }),
  )
  t.is(out.caught, null)
})
