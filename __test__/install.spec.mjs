// Packaging as a user meets it: `npm pack` the package and this machine's platform package,
// install both offline into fresh projects (by name, and by alias as `node-ipc`), run
// unchanged node-ipc code from there, and run a user project's own jest and ava suites.
import test from 'ava'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import semver from 'semver'
import { ROOT } from './helpers/impl.mjs'
import { freePort } from './helpers/net.mjs'
import { NODE_UNDER_TEST, spawnCommand, runToEnd } from './helpers/proc.mjs'
import { cannotRun } from './helpers/skip.mjs'

const RUN_TIMEOUT_MS = 90_000
const USER_PROJECT = path.join(ROOT, '__test__', 'fixtures', 'user-project')
const JEST = path.join(ROOT, 'node_modules', 'jest', 'bin', 'jest.js')
const AVA = path.join(ROOT, 'node_modules', 'ava', 'entrypoints', 'cli.mjs')
// v9's EventParser compared with the reference's in an installed project (and the
// js-message class v9 formats).
const requireHere = createRequire(import.meta.url)
const EVENT_PARSER_TABLE = path.join(ROOT, '__test__', 'fixtures', 'event-parser-table.cjs')
const { table } = requireHere(EVENT_PARSER_TABLE)
// js-message as the reference resolves it (a dependency of the reference, not of ours).
const JS_MESSAGE = createRequire(requireHere.resolve('@achrinza/node-ipc')).resolve('js-message')
const Message = requireHere(JS_MESSAGE)
const RefParser = requireHere(
  path.join(path.dirname(requireHere.resolve('@achrinza/node-ipc')), 'entities', 'EventParser.js'),
)
const rootManifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))

const platformDirs = fs.readdirSync(path.join(ROOT, 'npm')).map((dir) => ({
  dir: path.join(ROOT, 'npm', dir),
  manifest: JSON.parse(fs.readFileSync(path.join(ROOT, 'npm', dir, 'package.json'), 'utf8')),
}))

// The installed project's own code runs on the Node under test (helpers/proc.mjs): its
// platform picks the platform package (an arm64 Node under qemu installs linux-arm64-gnu).
// npm, tsc and the test runner stay on this Node.
const [NODE, ...NODE_PREFIX] = NODE_UNDER_TEST
const target = JSON.parse(
  execFileSync(
    NODE,
    [
      ...NODE_PREFIX,
      '-p',
      'JSON.stringify({ platform: process.platform, arch: process.arch, version: process.versions.node,' +
        " libc: process.report.getReport().header.glibcVersionRuntime ? 'glibc' : 'musl' })",
    ],
    { encoding: 'utf8', timeout: 60_000 },
  ),
)

const CROSS = target.platform !== process.platform || target.arch !== process.arch

// The platform package npm would install there: npm decides by os, cpu and libc.
const thisPlatform = platformDirs.find(
  ({ manifest }) =>
    manifest.os.includes(target.platform) &&
    manifest.cpu.includes(target.arch) &&
    (!manifest.libc || manifest.libc.includes(target.libc)),
)

// A built addon for which no npm/ package exists would make every test here skip: say so.
const builtAddons = fs
  .readdirSync(ROOT)
  .filter((f) => f.startsWith(`${rootManifest.napi.binaryName}.`) && f.endsWith('.node'))

// Runs a command to its end (its process group killed after `timeoutMs`); never rejects,
// the caller asserts.
async function run(command, args, { timeoutMs = RUN_TIMEOUT_MS, ...opts } = {}) {
  const child = spawnCommand(command, args, opts)
  const end = await runToEnd(child, timeoutMs)
  return { ...end, stdout: child.stdout, stderr: child.stderr, output: child.stdout + child.stderr }
}

const runNode = (args, opts) => run(NODE, [...NODE_PREFIX, ...args], opts)

let work // temp folder for tarballs, projects and every socket of the children (TMPDIR)
let rootTarball
let platformTarball
let publishedManifest // the root package.json as packed for publishing

// Every npm call: offline, with an empty cache, a registry nobody listens on and no user or
// global npmrc, so nothing can come from a registry and no local setting changes the layout.
const npm = (args, cwd) =>
  run(
    'npm',
    [
      ...args,
      '--offline',
      '--no-audit',
      '--no-fund',
      '--no-update-notifier',
      '--registry',
      'http://127.0.0.1:9/',
      // The platform of the Node under test, which may not be this machine's.
      '--os',
      target.platform,
      '--cpu',
      target.arch,
      '--libc',
      target.libc,
      // npm checks a package named on the command line against this machine's own cpu
      // whatever --cpu says (EBADPLATFORM): for another architecture's Node (arm64 under
      // qemu) --force turns that check into a warning.
      ...(CROSS ? ['--force'] : []),
      '--cache',
      path.join(work, 'npm-cache'),
      // Two empty files: npm 11 refuses one file as both (outside `npm run`, which passes
      // its own through the environment).
      '--userconfig',
      path.join(work, 'npmrc-user'),
      '--globalconfig',
      path.join(work, 'npmrc-global'),
    ],
    { cwd },
  )

async function pack(dir, ...flags) {
  const packed = await npm(['pack', ...flags, '--json', '--pack-destination', work], dir)
  if (packed.code !== 0) throw new Error(`npm pack in ${dir} failed:\n${packed.output}`)
  return JSON.parse(packed.stdout)[0]
}

test.before(async () => {
  if (!thisPlatform) return
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'nipc-i-'))
  fs.writeFileSync(path.join(work, 'npmrc-user'), '')
  fs.writeFileSync(path.join(work, 'npmrc-global'), '')

  // The root package as `npm publish` sends it: its prepublishOnly (`napi pre-publish`) adds
  // every platform package as an optional dependency at the root's version. The repository's
  // package.json has none, so `npm ci` needs no unpublished package.
  const repoTarball = await pack(ROOT, '--ignore-scripts')
  const stage = path.join(work, 'root-package')
  fs.mkdirSync(stage)
  const untar = await run('tar', ['-xzf', path.join(work, repoTarball.filename), '-C', stage])
  if (untar.code !== 0) throw new Error(`tar failed:\n${untar.output}`)
  fs.rmSync(path.join(work, repoTarball.filename))
  const manifestPath = path.join(stage, 'package', 'package.json')
  publishedManifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'))
  publishedManifest.optionalDependencies = Object.fromEntries(
    platformDirs.map(({ manifest }) => [manifest.name, rootManifest.version]),
  )
  fs.writeFileSync(manifestPath, JSON.stringify(publishedManifest, null, 2))
  rootTarball = await pack(path.join(stage, 'package'), '--ignore-scripts')

  // The platform package as CI would publish it: its npm/ folder plus the addon built here.
  const platformStage = path.join(work, 'platform-package')
  fs.mkdirSync(platformStage)
  for (const file of fs.readdirSync(thisPlatform.dir))
    fs.copyFileSync(path.join(thisPlatform.dir, file), path.join(platformStage, file))
  const addon = thisPlatform.manifest.main
  fs.copyFileSync(path.join(ROOT, addon), path.join(platformStage, addon))
  platformTarball = await pack(platformStage)
})

test.after.always(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true })
})

// Where this machine has no platform package of ours (not built for it): fails under CI,
// skips loudly elsewhere (helpers/skip.mjs); and fails wherever an addon was built here but
// no npm/ package would carry it.
function platformTest(title, fn) {
  test.serial(title, async (t) => {
    if (!thisPlatform) {
      t.deepEqual(builtAddons, [], `built ${builtAddons} but npm/ has no package for ${target.platform}-${target.arch}`)
      cannotRun(t, `no npm/ platform package for ${target.platform}-${target.arch}`)
      return
    }
    await fn(t)
  })
}

const tarballPath = (packed) => path.join(work, packed.filename)
const listFiles = (dir, prefix = '') =>
  fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? listFiles(path.join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`],
    )

platformTest('the root tarball holds the JS, types and certificates the loader needs, and nothing else', (t) => {
  const expected = [
    'LICENSE',
    'README.md',
    'package.json',
    'index.js',
    'index.mjs',
    'index.d.ts',
    'index.d.mts',
    'node-ipc.js',
    'binding.js',
    ...listFiles(path.join(ROOT, 'lib'), 'lib/'),
    ...listFiles(path.join(ROOT, 'local-node-ipc-certs'), 'local-node-ipc-certs/'),
    // v9's files that code loads by path.
    ...listFiles(path.join(ROOT, 'entities'), 'entities/'),
    ...listFiles(path.join(ROOT, 'services'), 'services/'),
    ...listFiles(path.join(ROOT, 'dao'), 'dao/'),
  ].sort()
  t.deepEqual(rootTarball.files.map((f) => f.path).sort(), expected)
  t.false(
    rootTarball.files.some((f) => f.path.endsWith('.node')),
    'the addon lives in the platform package',
  )
  t.deepEqual(publishedManifest.optionalDependencies[thisPlatform.manifest.name], rootManifest.version)
  t.is(Object.keys(publishedManifest.optionalDependencies).length, platformDirs.length)
})

platformTest('the platform tarball holds the addon and its manifest only', (t) => {
  t.deepEqual(
    platformTarball.files.map((f) => f.path).sort(),
    ['LICENSE', 'README.md', 'package.json', thisPlatform.manifest.main].sort(),
  )
  t.is(platformTarball.name, thisPlatform.manifest.name)
  t.is(platformTarball.version, rootManifest.version)
})

const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall', 'prepare']
const installScriptsOf = (manifest) => Object.keys(manifest.scripts || {}).filter((s) => INSTALL_SCRIPTS.includes(s))

test('manifests: no install scripts, engines for Node-API 9, platform packages wired for publishing', (t) => {
  for (const manifest of [rootManifest, ...platformDirs.map((p) => p.manifest)]) {
    t.deepEqual(installScriptsOf(manifest), [], `${manifest.name} runs no script on install`)
    t.deepEqual(manifest.engines, { node: '>=18.17.0' }, `${manifest.name}: Node-API 9 is in Node >= 18.17`)
  }
  t.regex(fs.readFileSync(path.join(ROOT, 'Cargo.toml'), 'utf8'), /"napi9"/, 'the addon is built for Node-API 9')
  // Added at publish time, so a clone's `npm install`/`npm ci` asks no registry for them.
  t.is(rootManifest.optionalDependencies, undefined)
  t.is(rootManifest.scripts.prepublishOnly, 'napi pre-publish -t npm --no-gh-release')
  t.is(platformDirs.length, rootManifest.napi.targets.length, 'one npm/ package per napi target')
  for (const { manifest } of platformDirs) {
    t.is(manifest.version, rootManifest.version, `${manifest.name} version`)
    t.true(manifest.name.startsWith(`${rootManifest.name}-`), `${manifest.name} is named for the root package`)
    t.is(manifest.files.length, 1)
    t.is(manifest.main, manifest.files[0])
  }
})

// A fresh project with the two tarballs installed offline; `spec` names the root package
// (`node-ipc-rs` by name, `node-ipc@file:…` by alias). The user project's files come first so
// npm adds the dependencies to its package.json.
async function installProject(t, name, rootSpec) {
  const project = path.join(work, name)
  fs.cpSync(USER_PROJECT, project, { recursive: true })
  const installed = await npm(
    ['install', rootSpec, `${platformTarball.name}@file:${tarballPath(platformTarball)}`],
    project,
  )
  t.is(installed.code, 0, installed.output)
  // What was installed runs nothing at install time: no lifecycle script, no node-gyp build.
  for (const pkg of fs.readdirSync(path.join(project, 'node_modules')).filter((d) => !d.startsWith('.'))) {
    const dir = path.join(project, 'node_modules', pkg)
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'))
    t.deepEqual(installScriptsOf(manifest), [], `${pkg} has no install script`)
    t.false(fs.existsSync(path.join(dir, 'binding.gyp')), `${pkg} has no binding.gyp`)
  }
  return project
}

// What the installed package loads: the JS from node_modules/<name>, the addon from the platform
// package. The addon loads with the first server or client, so the script starts a server.
async function loadedFiles(t, project, name) {
  const script = `const ipc = require(${JSON.stringify(name)})
    ipc.config.silent = true
    ipc.serve(require('path').join(process.env.SOCKET_DIR, 'l.sock'), () => {
      console.log(JSON.stringify(Object.keys(require.cache)))
      ipc.server.stop()
    })
    ipc.server.start()`
  const dir = fs.mkdtempSync(path.join(work, 's-'))
  const loaded = await runNode(['-e', script], {
    cwd: project,
    env: { SOCKET_DIR: dir },
    timeoutMs: 15_000,
  })
  fs.rmSync(dir, { recursive: true, force: true })
  t.is(loaded.code, 0, loaded.output)
  return JSON.parse(loaded.stdout)
}

// Server and client in two processes; both must exit by themselves once the client has its reply.
async function runPair(t, project, transport) {
  const dir = fs.mkdtempSync(path.join(work, 's-'))
  const where = transport === 'tcp' ? String(await freePort()) : path.join(dir, 'w.sock')
  const env = { TMPDIR: work }
  const server = spawnCommand(NODE, [...NODE_PREFIX, 'server.js', transport, where], { cwd: project, env })
  try {
    const listening = await server.waitLine(/listening/, 10_000).then(
      () => true,
      () => false,
    )
    t.true(listening && server.exit === null, `the server starts within 10 s:\n${server.describe()}`)
    const client = await runNode(['client.js', transport, where], {
      cwd: project,
      env,
      timeoutMs: 15_000,
    })
    t.is(client.code, 0, client.output)
    t.deepEqual(JSON.parse(client.stdout), { echo: { from: 'client', transport } })
    t.true(
      await server.waitExit(10_000).then(
        () => true,
        () => false,
      ),
      'the server exits within 10 s of its client leaving',
    )
    t.deepEqual(server.exit, { code: 0, signal: null }, server.describe())
  } finally {
    server.kill()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

let aliasProject

platformTest(
  'installed offline by name: the addon comes from the platform package; import and require agree',
  async (t) => {
    const project = await installProject(t, 'by-name', tarballPath(rootTarball))
    const manifest = JSON.parse(fs.readFileSync(path.join(project, 'package.json'), 'utf8'))
    t.regex(manifest.dependencies['node-ipc-rs'], /^file:/)

    const loaded = await loadedFiles(t, project, 'node-ipc-rs')
    const addons = loaded.filter((f) => f.endsWith('.node'))
    t.deepEqual(addons, [
      path.join(fs.realpathSync(project), 'node_modules', thisPlatform.manifest.name, thisPlatform.manifest.main),
    ])
    t.true(loaded.includes(path.join(fs.realpathSync(project), 'node_modules', 'node-ipc-rs', 'index.js')))

    fs.writeFileSync(
      path.join(project, 'identity.mjs'),
      [
        "import ipc, { IPC, IPCModule } from 'node-ipc-rs'",
        "import { createRequire } from 'node:module'",
        "const required = createRequire(import.meta.url)('node-ipc-rs')",
        'console.log(JSON.stringify({ sameSingleton: ipc === required, sameClass: IPC === required.IPC, isInstance: ipc instanceof IPC,',
        '  defaultIsSelf: required.default === required, sameModuleClass: IPCModule === required.constructor,',
        '  className: IPC.name, keys: Object.keys(ipc) }))',
      ].join('\n'),
    )
    const identity = await runNode(['identity.mjs'], { cwd: project })
    t.is(identity.code, 0, identity.output)
    t.deepEqual(JSON.parse(identity.stdout), {
      sameSingleton: true,
      sameClass: true,
      isInstance: true,
      defaultIsSelf: true,
      sameModuleClass: true,
      className: 'IPC',
      keys: ['config', 'connectTo', 'connectToNet', 'disconnect', 'serve', 'serveNet', 'of', 'server', 'log', 'IPC'],
    })

    // The same unchanged code, with the package's own name.
    for (const file of ['server.js', 'client.js']) {
      const source = fs.readFileSync(path.join(project, file), 'utf8')
      fs.writeFileSync(path.join(project, file), source.replace("require('node-ipc')", "require('node-ipc-rs')"))
    }
    await runPair(t, project, 'unix')
  },
)

platformTest(
  'installed offline by alias as node-ipc: unchanged require("node-ipc") code talks over Unix and TCP',
  async (t) => {
    const project = await installProject(t, 'by-alias', `node-ipc@file:${tarballPath(rootTarball)}`)
    const manifest = JSON.parse(fs.readFileSync(path.join(project, 'package.json'), 'utf8'))
    t.regex(manifest.dependencies['node-ipc'], /^file:.*node-ipc-rs-/)
    const loaded = await loadedFiles(t, project, 'node-ipc')
    t.deepEqual(
      loaded.filter((f) => f.endsWith('.node')),
      [path.join(fs.realpathSync(project), 'node_modules', thisPlatform.manifest.name, thisPlatform.manifest.main)],
    )
    t.regex(fs.readFileSync(path.join(project, 'server.js'), 'utf8'), /require\('node-ipc'\)/)
    await runPair(t, project, 'unix')
    await runPair(t, project, 'tcp')
    // v9's EventParser, loaded by path next to the package's main file and by name: its
    // results on the table of inputs equal the reference's, and a frame made with it and
    // written with socket.write(text, callback) reaches an ordinary handler.
    fs.writeFileSync(
      path.join(project, 'deep.js'),
      `const path = require('path')
      const byPath = require(path.resolve(path.dirname(require.resolve('node-ipc')), 'entities/EventParser'))
      const byName = require('node-ipc/entities/EventParser')
      const byNameJs = require('node-ipc/entities/EventParser.js')
      const { table } = require(${JSON.stringify(EVENT_PARSER_TABLE)})
      const Message = require(${JSON.stringify(JS_MESSAGE)})
      const ipc = require('node-ipc')
      ipc.config.silent = true
      ipc.config.stopRetrying = true
      const out = { same: byPath === byName && byName === byNameJs, table: table(byPath, Message) }
      const where = path.join(process.env.SOCKET_DIR, 'deep.sock')
      ipc.serve(where, () => {
        ipc.server.on('hello', (data) => {
          out.received = data
          if (out.callback) finish()
        })
      })
      ipc.server.on('start', () => {
        ipc.connectTo('world', where, () => {
          ipc.of.world.on('connect', () => {
            const message = new Message()
            message.type = 'hello'
            message.data = { text: 'é😀', n: 0 }
            ipc.of.world.socket.write(new byPath(ipc.config).format(message), () => {
              out.callback = true
              if (out.received) finish()
            })
          })
        })
      })
      ipc.server.start()
      function finish() {
        console.log(JSON.stringify(out))
        ipc.disconnect('world')
        ipc.server.stop()
      }
`,
    )
    const deep = await runNode(['deep.js'], {
      cwd: project,
      env: { SOCKET_DIR: fs.mkdtempSync(path.join(work, 's-')) },
      timeoutMs: 30_000,
    })
    t.is(deep.code, 0, deep.output)
    const got = JSON.parse(deep.stdout)
    t.true(got.same, 'by path, by name and by name.js load the same module')
    t.deepEqual(got.table, table(RefParser, Message), 'the same results as v9 on the table of inputs')
    t.deepEqual(got.received, { text: 'é😀', n: 0 }, 'the handler got the frame')
    t.true(got.callback, 'the write callback fired')
    // The user's test runners and @types/node come from this package's devDependencies (no
    // registry at test time).
    fs.symlinkSync(path.join(ROOT, 'node_modules', 'ava'), path.join(project, 'node_modules', 'ava'), 'dir')
    fs.mkdirSync(path.join(project, 'node_modules', '@types'))
    fs.symlinkSync(
      path.join(ROOT, 'node_modules', '@types', 'node'),
      path.join(project, 'node_modules', '@types', 'node'),
      'dir',
    )
    aliasProject = project
  },
)

// The installed package's own types, found the way a user's tsc finds them: through
// node_modules/node-ipc/package.json (exports: types of the require and import conditions).
platformTest(
  'user project: tsc --noEmit --strict over CommonJS and ESM TypeScript that imports node-ipc',
  async (t) => {
    t.truthy(aliasProject, 'the alias install test ran first')
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
    const result = await run(
      process.execPath,
      [tsc, '--noEmit', '--strict', '-p', 'types/tsconfig.json', '--traceResolution'],
      { cwd: aliasProject },
    )
    const errors = result.stdout.split('\n').filter((l) => /error TS\d+/.test(l))
    t.deepEqual(errors, [])
    t.is(result.code, 0)
    const installed = path.join(fs.realpathSync(aliasProject), 'node_modules', 'node-ipc')
    t.regex(result.stdout, new RegExp(`'node-ipc' was successfully resolved to '${installed}/index\\.d\\.ts'`))
    t.regex(result.stdout, new RegExp(`'node-ipc' was successfully resolved to '${installed}/index\\.d\\.mts'`))
  },
)

// Where each test file of a run says it ran: {name: {pid, threadId}}.
function whereTheyRan(out) {
  return Object.fromEntries(
    fs.readdirSync(out).map((f) => [path.basename(f, '.json'), JSON.parse(fs.readFileSync(path.join(out, f), 'utf8'))]),
  )
}

// jest's and ava's words for a test process that would not end.
const LINGERING = /open handle|did not exit|failed to exit|force exited|--detectOpenHandles/i

// The user's runners run on the Node under test: jest 30 supports every version we claim;
// ava 7 only Node 20.19 and later, so on older versions the user's ava suite runs on this
// Node (the title says which).
const AVA_ENGINES = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', 'ava', 'package.json'), 'utf8')).engines
const USER_AVA_NODE = semver.satisfies(target.version, AVA_ENGINES.node) ? NODE_UNDER_TEST : [process.execPath]

async function runUserRunner(t, label, argv, [node, ...prefix] = NODE_UNDER_TEST) {
  t.truthy(aliasProject, 'the alias install test ran first')
  const out = fs.mkdtempSync(path.join(work, `${label}-`))
  const result = await run(node, [...prefix, ...argv], {
    cwd: aliasProject,
    env: { USER_PROJECT_OUT: out, TMPDIR: work, CI: 'true', NODE_OPTIONS: '' },
  })
  t.false(result.timedOut, `the runner exits by itself (killed after ${RUN_TIMEOUT_MS} ms):\n${result.output}`)
  t.is(result.code, 0, result.output)
  t.notRegex(result.output, LINGERING)
  return { result, ran: whereTheyRan(out) }
}

const jestArgs = (label, ...extra) => [
  JEST,
  '--ci',
  '--no-watchman',
  '--cacheDirectory',
  path.join(work, `jest-cache-${label}`),
  ...extra,
]

platformTest(
  'installed by alias without its platform package: require works, serve and connectTo throw ERR_IPC_NATIVE_BINARY_MISSING',
  async (t) => {
    const project = path.join(work, 'no-addon')
    fs.mkdirSync(project)
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'no-addon', private: true }))
    const installed = await npm(['install', '--omit=optional', `node-ipc@file:${tarballPath(rootTarball)}`], project)
    t.is(installed.code, 0, installed.output)
    t.false(fs.existsSync(path.join(project, 'node_modules', thisPlatform.manifest.name)), 'no platform package')
    const script = `const ipc = require('node-ipc')
      const out = { loaded: typeof ipc.serve === 'function' }
      for (const [name, call] of [['serve', () => ipc.serve('/tmp/never.sock')], ['connectTo', () => ipc.connectTo('w', '/tmp/never.sock')]]) {
        try { call(); out[name] = 'no error' } catch (err) { out[name] = { code: err.code, package: err.package, message: err.message } }
      }
      console.log(JSON.stringify(out))`
    const ran = await runNode(['-e', script], { cwd: project, timeoutMs: 15_000 })
    t.is(ran.code, 0, ran.output)
    const out = JSON.parse(ran.stdout)
    t.true(out.loaded)
    for (const name of ['serve', 'connectTo']) {
      t.is(out[name].code, 'ERR_IPC_NATIVE_BINARY_MISSING', `${name}: ${JSON.stringify(out[name])}`)
      t.is(out[name].package, thisPlatform.manifest.name, 'names the missing package')
      t.true(out[name].message.includes(`${target.platform}-${target.arch}`), 'names the platform')
    }
  },
)

platformTest('user project: jest with its default workers', async (t) => {
  const { result, ran } = await runUserRunner(t, 'jest-default', jestArgs('default'))
  t.regex(result.output, /Tests:\s+2 passed, 2 total/)
  t.deepEqual(Object.keys(ran).sort(), ['jest-tcp', 'jest-unix'])
})

platformTest('user project: jest with two worker processes', async (t) => {
  const { result, ran } = await runUserRunner(t, 'jest-workers', jestArgs('workers', '--maxWorkers=2'))
  t.regex(result.output, /Tests:\s+2 passed, 2 total/)
  t.not(ran['jest-unix'].pid, ran['jest-tcp'].pid, 'each test file ran in its own worker process')
})

platformTest('user project: jest --runInBand --detectOpenHandles (two module registries in one process)', async (t) => {
  const { result, ran } = await runUserRunner(
    t,
    'jest-inband',
    jestArgs('inband', '--runInBand', '--detectOpenHandles'),
  )
  t.regex(result.output, /Tests:\s+2 passed, 2 total/)
  t.is(ran['jest-unix'].pid, ran['jest-tcp'].pid, 'both test files ran in the one jest process')
})

platformTest('user project: jest with worker threads (the addon loaded in two threads of one process)', async (t) => {
  const { result, ran } = await runUserRunner(
    t,
    'jest-threads',
    jestArgs('threads', '--maxWorkers=2', '--workerThreads'),
  )
  t.regex(result.output, /Tests:\s+2 passed, 2 total/)
  t.is(ran['jest-unix'].pid, ran['jest-tcp'].pid)
  t.not(ran['jest-unix'].threadId, ran['jest-tcp'].threadId)
  t.true(ran['jest-unix'].threadId > 0 && ran['jest-tcp'].threadId > 0, 'both ran off the main thread')
})

platformTest(
  `user project: ava with worker threads (its default), on Node ${USER_AVA_NODE === NODE_UNDER_TEST ? target.version : `${process.versions.node} (ava 7 needs ${AVA_ENGINES.node})`}`,
  async (t) => {
    const { result, ran } = await runUserRunner(t, 'ava', [AVA, '--verbose'], USER_AVA_NODE)
    t.regex(result.output, /3 tests passed/)
    t.is(ran['ava-unix'].pid, ran['ava-tcp'].pid)
    t.not(ran['ava-unix'].threadId, ran['ava-tcp'].threadId)
    t.true(ran['ava-unix'].threadId > 0 && ran['ava-tcp'].threadId > 0, 'both ran in worker threads')
  },
)

// The control: the checks above can fail. A test that leaves its server open keeps jest alive,
// and --detectOpenHandles names the addon's handle. Once jest has said so, it must still be
// running 3 s later (three times jest's own one-second exit check).
platformTest('control: a user test that leaves a server running keeps jest from exiting', async (t) => {
  t.truthy(aliasProject)
  const jest = spawnCommand(
    NODE,
    [...NODE_PREFIX, ...jestArgs('leaky', '--runInBand', '--detectOpenHandles', '--testMatch', '**/leaky/*.test.js')],
    {
      cwd: aliasProject,
      env: { TMPDIR: work, CI: 'true' },
    },
  )
  try {
    const reported = await jest
      .waitOutput(/detected the following 1 open handle[\s\S]*napi_rs_threadsafe_function/, 60_000)
      .then(
        () => true,
        () => false,
      )
    t.true(reported && jest.exit === null, `jest names the addon's handle:\n${jest.describe()}`)
    t.false(
      await jest.waitExit(3_000).then(
        () => true,
        () => false,
      ),
      'and jest is still running 3 s later',
    )
    const output = jest.stdout + jest.stderr
    t.regex(output, /Tests:\s+1 passed, 1 total/)
    t.regex(output, LINGERING)
  } finally {
    jest.kill()
  }
})
