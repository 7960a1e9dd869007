// The FFI boundary, checked (README "Development"): no panic may unwind into Node or libuv.
// Fails listing each place that breaks a rule:
// - every #[napi] function or method catches panics (#[napi(catch_unwind, ...)]);
// - every `extern "C" fn` in src/ runs its body inside `guard(` (src/binding/teardown.rs);
// - no `.lock().unwrap()` outside tests: a poisoned lock would panic again (src/locked.rs).
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const files = []
const walk = (dir) => {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) walk(full)
    else if (entry.name.endsWith('.rs')) files.push(full)
  }
}
walk(path.join(root, 'src'))

const problems = []
for (const file of files) {
  const rel = path.relative(root, file)
  let text = fs.readFileSync(file, 'utf8')
  const tests = text.indexOf('#[cfg(test)]\nmod tests')
  if (tests >= 0) text = text.slice(0, tests)
  if (rel.endsWith('_tests.rs')) continue
  const lines = text.split('\n')
  lines.forEach((line, i) => {
    const where = `${rel}:${i + 1}`
    let attr = line.trim()
    if (/^#\[napi(\(|\]$)/.test(attr) && !/object/.test(attr)) {
      // The whole attribute, which may span lines.
      let end = i
      while (!attr.endsWith(')]') && !attr.endsWith('#[napi]') && end + 1 < lines.length) {
        end++
        attr += ` ${lines[end].trim()}`
      }
      const next = (lines[end + 1] || '').trim()
      const isItem = /^(pub )?(struct|impl)\b/.test(next)
      if (!isItem && !attr.includes('catch_unwind')) problems.push(`${where}: #[napi] export without catch_unwind`)
    }
    if (line.includes('.lock().unwrap()')) problems.push(`${where}: .lock().unwrap() (use Locked::locked)`)
    if (/extern "C" fn \w+\(/.test(line) && !/^\s*(fn|pub fn)/.test(line) && line.includes('{')) {
      let body = ''
      for (let j = i + 1; j < lines.length && !/^}/.test(lines[j]); j++) body += lines[j] + '\n'
      if (!body.includes('guard(')) problems.push(`${where}: extern "C" callback without guard(`)
    }
  })
}
if (problems.length) {
  console.error(problems.join('\n'))
  process.exit(1)
}
console.log(`FFI boundary: ${files.length} files, every export and callback guarded`)
