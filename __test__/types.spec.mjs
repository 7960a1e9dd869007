// index.d.ts accepts the @types/node-ipc 9.2.3 usage patterns (SPEC §11, §14.18).
import test from 'ava'
import path from 'node:path'
import { createRequire } from 'node:module'
import { ROOT } from './helpers/impl.mjs'

const ts = createRequire(import.meta.url)('typescript')

function diagnosticsFor(file) {
  const program = ts.createProgram([file], {
    noEmit: true,
    strict: true,
    esModuleInterop: true,
    module: ts.ModuleKind.CommonJS,
    target: ts.ScriptTarget.ES2020,
    types: ['node'],
    typeRoots: [path.join(ROOT, 'node_modules/@types')],
  })
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))
}

test('the v9 usage patterns type-check against index.d.ts', (t) => {
  t.deepEqual(diagnosticsFor(path.join(ROOT, '__test__/fixtures/types/usage.ts')), [])
})

test('the type check can fail: a wrong call is reported', (t) => {
  const bad = path.join(ROOT, '__test__/fixtures/types/bad.ts')
  const messages = diagnosticsFor(bad)
  t.true(messages.length >= 1, 'a call with a number id must not compile')
})
