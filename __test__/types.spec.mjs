// index.d.ts accepts what compiles against @types/node-ipc 9.2.3, types the additions, and
// types the ESM entry (README, "TypeScript"). Fixtures: __test__/fixtures/types/.
//
// The CommonJS fixtures import 'node-ipc'. Each of their checks maps that one specifier, with
// `paths`, to one declaration file (ours or @types/node-ipc's), so the same unchanged file is
// checked against both. The ESM fixtures import 'node-ipc-rs' and reach index.d.mts through
// package.json's exports map (a self-reference), as an ESM user's import does. The tests
// assert which file each import resolved to. Lines ending in `//!` in the
// negative fixtures must be reported, and no other line.
import test from 'ava'
import fs from 'node:fs'
import path from 'node:path'
import { createRequire } from 'node:module'
import { ROOT } from './helpers/impl.mjs'
import { spawnNode, runToEnd } from './helpers/proc.mjs'

const ts = createRequire(import.meta.url)('typescript')

const FIXTURES = path.join(ROOT, '__test__/fixtures/types')
const OURS = path.join(ROOT, 'index.d.ts')
const OURS_ESM = path.join(ROOT, 'index.d.mts')
const AT_TYPES_DIR = path.join(ROOT, 'node_modules/@types/node-ipc')
const AT_TYPES = path.join(AT_TYPES_DIR, 'index.d.ts')
const fixture = (name) => path.join(FIXTURES, name)

// Parsed declaration files (lib, @types/node) are shared by the programs: the same text
// parsed with the same settings (the key) gives the same tree.
const parsed = new Map()

// One program per (declaration, module system) holds several fixtures; each is a module,
// so they do not see each other.
function check(declaration, system, roots) {
  const esm = system === 'node16'
  const specifier = esm ? 'node-ipc-rs' : 'node-ipc'
  const options = {
    noEmit: true,
    strict: true,
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2022.d.ts'],
    module: esm ? ts.ModuleKind.Node16 : ts.ModuleKind.CommonJS,
    moduleResolution: esm ? ts.ModuleResolutionKind.Node16 : ts.ModuleResolutionKind.Node10,
    esModuleInterop: true,
    // Only @types/node is global; @types/node-ipc may enter only through `paths`.
    types: ['node'],
    typeRoots: [path.join(ROOT, 'node_modules/@types')],
    ...(esm ? {} : { paths: { 'node-ipc': [declaration] } }),
  }
  const host = ts.createCompilerHost(options, true)
  const getSourceFile = host.getSourceFile.bind(host)
  host.getSourceFile = (fileName, settings, onError, shouldCreate) => {
    if (fileName.startsWith(FIXTURES) || !fileName.endsWith('.d.ts')) {
      return getSourceFile(fileName, settings, onError, shouldCreate)
    }
    const s = typeof settings === 'object' ? settings : { languageVersion: settings }
    const key = [fileName, s.languageVersion, s.impliedNodeFormat, s.jsDocParsingMode].join('|')
    if (!parsed.has(key)) {
      parsed.set(key, getSourceFile(fileName, settings, onError, shouldCreate))
    }
    return parsed.get(key)
  }
  // Records where every import of the fixtures' specifier went.
  const resolutions = []
  host.resolveModuleNameLiterals = (literals, containingFile, redirectedReference, opts, containingSourceFile) =>
    literals.map((literal) => {
      const mode = ts.getModeForUsageLocation(containingSourceFile, literal, opts)
      const result = ts.resolveModuleName(
        literal.text,
        containingFile,
        opts,
        host,
        undefined,
        redirectedReference,
        mode,
      )
      if (literal.text === specifier) {
        resolutions.push({ from: containingFile, to: result.resolvedModule && result.resolvedModule.resolvedFileName })
      }
      return result
    })
  const program = ts.createProgram(roots.map(fixture), options, host)
  return { program, resolutions, declaration }
}

const lazy = (make) => {
  let value
  return () => (value ??= make())
}
const oursCjs = lazy(() =>
  check(OURS, 'commonjs', ['v9.ts', 'additions.ts', 'bad.ts', 'not-in-types.ts', 'not-in-runtime.ts']),
)
const atTypesCjs = lazy(() => check(AT_TYPES, 'commonjs', ['v9.ts', 'bad.ts', 'not-in-types.ts']))
const oursEsm = lazy(() => check(OURS_ESM, 'node16', ['esm.mts', 'esm-bad.mts']))

function diagnostics({ program }, file) {
  const sourceFile = program.getSourceFile(file)
  if (!sourceFile) {
    throw new Error(`${file} is not in the program`)
  }
  return ts.getPreEmitDiagnostics(program, sourceFile).map((d) => {
    const line = d.file ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0
    const where = d.file ? `${path.relative(ROOT, d.file.fileName)}:${line}` : '(global)'
    return { line, text: `${where} TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}` }
  })
}

const messages = (checked, name) => diagnostics(checked, fixture(name)).map((d) => d.text)

// The lines ending in `//!`, and the lines reported.
function markedAndReported(checked, name) {
  const marked = fs
    .readFileSync(fixture(name), 'utf8')
    .split('\n')
    .flatMap((text, i) => (/\/\/!\s*$/.test(text) ? [i + 1] : []))
  const found = diagnostics(checked, fixture(name))
  const reported = [...new Set(found.map((d) => d.line))].sort((a, b) => a - b)
  return { marked, reported, found: found.map((d) => d.text).join('\n') }
}

function assertMarkedLinesFail(t, checked, name) {
  const { marked, reported, found } = markedAndReported(checked, name)
  t.true(marked.length > 0, `${name} marks no line`)
  t.deepEqual(reported, marked, `${name} against ${path.relative(ROOT, checked.declaration)}:\n${found}`)
}

test('the checks use @types/node-ipc 9.2.3 and TypeScript 5.9', (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(AT_TYPES_DIR, 'package.json'), 'utf8'))
  t.is(pkg.version, '9.2.3')
  t.regex(ts.version, /^5\.9\./)
})

test('each check resolves the import to the declaration it names, and only that one is loaded', (t) => {
  for (const checked of [oursCjs(), atTypesCjs(), oursEsm()]) {
    const { program, resolutions, declaration } = checked
    const other = declaration === AT_TYPES ? OURS : AT_TYPES
    const roots = program.getRootFileNames()
    t.deepEqual(
      [...new Set(resolutions.map((r) => r.from))].sort(),
      [...roots].sort(),
      'every fixture imports node-ipc',
    )
    for (const { from, to } of resolutions) {
      t.is(to, declaration, `${path.relative(ROOT, from)} resolved to ${to}`)
    }
    const loaded = program.getSourceFiles().map((f) => f.fileName)
    t.true(loaded.includes(declaration))
    t.false(loaded.includes(other), `${other} must not be part of this check`)
    if (declaration !== AT_TYPES) {
      t.deepEqual(
        loaded.filter((f) => f.startsWith(AT_TYPES_DIR)),
        [],
        'no file of @types/node-ipc in a check of index.d.ts',
      )
    }
  }
})

test('the ESM check treats the .mts files as ES modules and index.d.ts as CommonJS (what index.mjs wraps)', (t) => {
  const { program } = oursEsm()
  t.is(program.getSourceFile(fixture('esm.mts')).impliedNodeFormat, ts.ModuleKind.ESNext)
  t.is(program.getSourceFile(OURS_ESM).impliedNodeFormat, ts.ModuleKind.ESNext)
  t.is(program.getSourceFile(OURS).impliedNodeFormat, ts.ModuleKind.CommonJS)
})

test('index.d.ts and index.d.mts themselves have no errors under strict', (t) => {
  t.deepEqual(
    diagnostics(oursCjs(), OURS).map((d) => d.text),
    [],
  )
  t.deepEqual(
    diagnostics(oursEsm(), OURS).map((d) => d.text),
    [],
  )
  t.deepEqual(
    diagnostics(oursEsm(), OURS_ESM).map((d) => d.text),
    [],
  )
})

test('the v9 usage file compiles against @types/node-ipc 9.2.3 (so it uses only what @types declares)', (t) => {
  t.deepEqual(messages(atTypesCjs(), 'v9.ts'), [])
})

test('the same v9 usage file compiles against index.d.ts', (t) => {
  t.deepEqual(messages(oursCjs(), 'v9.ts'), [])
})

test('the additions compile against index.d.ts', (t) => {
  t.deepEqual(messages(oursCjs(), 'additions.ts'), [])
})

test('ESM (node16): default import and named IPC and IPCModule compile against index.d.mts', (t) => {
  t.deepEqual(messages(oursEsm(), 'esm.mts'), [])
})

test('wrong calls are reported against index.d.ts and against @types/node-ipc alike', (t) => {
  assertMarkedLinesFail(t, oursCjs(), 'bad.ts')
  assertMarkedLinesFail(t, atTypesCjs(), 'bad.ts')
})

test('each addition is accepted by index.d.ts and reported against @types/node-ipc', (t) => {
  t.deepEqual(messages(oursCjs(), 'not-in-types.ts'), [])
  assertMarkedLinesFail(t, atTypesCjs(), 'not-in-types.ts')
})

test('what the runtime does not have is reported against index.d.ts', (t) => {
  assertMarkedLinesFail(t, oursCjs(), 'not-in-runtime.ts')
})

test('wrong ESM code, including a named import index.mjs does not export, is reported against index.d.mts', (t) => {
  assertMarkedLinesFail(t, oursEsm(), 'esm-bad.mts')
})

// The same files through the tsc command line, as a user's build would run it.
test('tsc --noEmit --strict -p passes over the usage files (tsconfig in the fixtures)', async (t) => {
  const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc')
  const child = spawnNode(tsc, {
    args: ['--noEmit', '--strict', '-p', fixture('tsconfig.json'), '--listFiles'],
    label: 'tsc',
    t,
  })
  const end = await runToEnd(child, 60_000)
  t.deepEqual(end, { code: 0, signal: null, timedOut: false }, child.stdout + child.stderr)
  const files = child.lines
  for (const file of [OURS, OURS_ESM, fixture('v9.ts'), fixture('additions.ts'), fixture('esm.mts')]) {
    t.true(files.includes(file), `tsc checked ${file}`)
  }
  t.false(
    files.some((f) => f.startsWith(AT_TYPES_DIR)),
    'and not @types/node-ipc',
  )
})
