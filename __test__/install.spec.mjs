// Packaging as a user meets it: `npm pack` the package and this machine's platform package,
// install both offline into fresh projects (by name, and by alias as `node-ipc`), run
// unchanged node-ipc code from there, and run a user project's own jest and ava suites.
import test from 'ava'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ROOT } from './helpers/impl.mjs'
import { freePort } from './helpers/net.mjs'

const RUN_TIMEOUT_MS = 90_000
const USER_PROJECT = path.join(ROOT, '__test__', 'fixtures', 'user-project')
const JEST = path.join(ROOT, 'node_modules', 'jest', 'bin', 'jest.js')
const AVA = path.join(ROOT, 'node_modules', 'ava', 'entrypoints', 'cli.mjs')
const rootManifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))

const platformDirs = fs.readdirSync(path.join(ROOT, 'npm')).map((dir) => ({
  dir: path.join(ROOT, 'npm', dir),
  manifest: JSON.parse(fs.readFileSync(path.join(ROOT, 'npm', dir, 'package.json'), 'utf8')),
}))

// The platform package this machine would install: npm decides by os, cpu and libc.
const thisPlatform = platformDirs.find(({ manifest }) =>
  manifest.os.includes(process.platform) &&
  manifest.cpu.includes(process.arch) &&
  (!manifest.libc || (process.report.getReport().header.glibcVersionRuntime ? manifest.libc.includes('glibc') : manifest.libc.includes('musl'))))

// Runs a command to its end (killed after `timeoutMs`); never rejects, the caller asserts.
function run(command, args, { cwd, env = {}, timeoutMs = RUN_TIMEOUT_MS } = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (s) => { stdout += s })
    child.stderr.setEncoding('utf8').on('data', (s) => { stderr += s })
    let timedOut = false
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL') }, timeoutMs)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, timedOut, stdout, stderr, output: stdout + stderr })
    })
  })
}

const npm = (args, cwd, extra = {}) => run('npm', args, { cwd, ...extra })

// --offline with an empty cache and a registry nobody listens on: nothing can come from a registry.
const OFFLINE = ['--offline', '--no-audit', '--no-fund', '--registry', 'http://127.0.0.1:9/']

let work // temp folder for tarballs, projects and every socket of the children (TMPDIR)
let rootTarball
let platformTarball

test.before(async (t) => {
  if (!thisPlatform) return
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'nipc-install-'))
  const packed = await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', work], ROOT)
  if (packed.code !== 0) throw new Error(`npm pack failed:\n${packed.output}`)
  rootTarball = JSON.parse(packed.stdout)[0]

  // The platform package as CI would publish it: its npm/ folder plus the addon built here.
  const stage = path.join(work, 'platform-package')
  fs.mkdirSync(stage)
  for (const file of fs.readdirSync(thisPlatform.dir)) fs.copyFileSync(path.join(thisPlatform.dir, file), path.join(stage, file))
  const addon = thisPlatform.manifest.main
  fs.copyFileSync(path.join(ROOT, addon), path.join(stage, addon))
  const packedPlatform = await npm(['pack', '--json', '--pack-destination', work], stage)
  if (packedPlatform.code !== 0) throw new Error(`npm pack of the platform package failed:\n${packedPlatform.output}`)
  platformTarball = JSON.parse(packedPlatform.stdout)[0]
})

test.after.always(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true })
})

// Skips loudly where this machine has no platform package of ours (not built for it).
function platformTest(title, fn) {
  test.serial(title, async (t) => {
    if (!thisPlatform) {
      console.warn(`SKIPPED (${title}): no npm/ platform package for ${process.platform}-${process.arch}`)
      t.pass()
      return
    }
    await fn(t)
  })
}

const tarballPath = (packed) => path.join(work, packed.filename)
const listFiles = (dir, prefix = '') => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
  e.isDirectory() ? listFiles(path.join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`])

platformTest('the root tarball holds the JS, types and certificates the loader needs, and nothing else', (t) => {
  const expected = [
    'LICENSE', 'README.md', 'package.json',
    'index.js', 'index.mjs', 'index.d.ts', 'index.d.mts', 'binding.js',
    ...listFiles(path.join(ROOT, 'lib'), 'lib/'),
    ...listFiles(path.join(ROOT, 'local-node-ipc-certs'), 'local-node-ipc-certs/'),
  ].sort()
  t.deepEqual(rootTarball.files.map((f) => f.path).sort(), expected)
  t.false(rootTarball.files.some((f) => f.path.endsWith('.node')), 'the addon lives in the platform package')
})

platformTest('the platform tarball holds the addon and its manifest only', (t) => {
  t.deepEqual(platformTarball.files.map((f) => f.path).sort(), ['LICENSE', 'README.md', 'package.json', thisPlatform.manifest.main].sort())
  t.is(platformTarball.name, thisPlatform.manifest.name)
  t.is(platformTarball.version, rootManifest.version)
})

test('manifests: no install scripts, engines for Node-API 9, every platform package wired as an optional dependency', (t) => {
  const installScripts = ['preinstall', 'install', 'postinstall', 'prepare']
  for (const manifest of [rootManifest, ...platformDirs.map((p) => p.manifest)]) {
    t.deepEqual(Object.keys(manifest.scripts || {}).filter((s) => installScripts.includes(s)), [], `${manifest.name} runs no script on install`)
    t.deepEqual(manifest.engines, { node: '>=18.17.0' }, `${manifest.name}: Node-API 9 is in Node >= 18.17`)
  }
  t.regex(fs.readFileSync(path.join(ROOT, 'Cargo.toml'), 'utf8'), /"napi9"/, 'the addon is built for Node-API 9')
  t.deepEqual(
    rootManifest.optionalDependencies,
    Object.fromEntries(platformDirs.map(({ manifest }) => [manifest.name, rootManifest.version]).sort()),
  )
  t.is(platformDirs.length, rootManifest.napi.targets.length, 'one npm/ package per napi target')
  for (const { manifest } of platformDirs) t.is(manifest.version, rootManifest.version, `${manifest.name} version`)
})

// A fresh project with the two tarballs installed offline; `spec` names the root package
// (`node-ipc-rs` by name, `node-ipc@file:…` by alias). The user project's files come first so
// npm adds the dependencies to its package.json.
async function installProject(t, name, rootSpec) {
  const project = path.join(work, name)
  fs.cpSync(USER_PROJECT, project, { recursive: true })
  const installed = await npm(
    ['install', ...OFFLINE, '--cache', path.join(work, `${name}-cache`), rootSpec, `${platformTarball.name}@file:${tarballPath(platformTarball)}`],
    project,
  )
  t.is(installed.code, 0, installed.output)
  t.notRegex(installed.output, /install-scripts/, 'npm found no install script to run')
  return project
}

// What the installed package loads: the JS from node_modules/<name>, the addon from the platform
// package. The addon loads with the first server or client, so the script starts a server.
async function loadedFiles(t, project, name) {
  const script = `const ipc = require(${JSON.stringify(name)})
    ipc.config.silent = true
    ipc.serve(require('path').join(process.env.SOCKET_DIR, 'loader.sock'), () => {
      console.log(JSON.stringify(Object.keys(require.cache)))
      ipc.server.stop()
    })
    ipc.server.start()`
  const dir = fs.mkdtempSync(path.join(work, 'sock-'))
  const loaded = await run(process.execPath, ['-e', script], { cwd: project, env: { SOCKET_DIR: dir }, timeoutMs: 15_000 })
  fs.rmSync(dir, { recursive: true, force: true })
  t.is(loaded.code, 0, loaded.output)
  return JSON.parse(loaded.stdout)
}

// Server and client in two processes; both must exit by themselves once the client has its reply.
async function runPair(t, project, transport) {
  const dir = fs.mkdtempSync(path.join(work, 'sock-'))
  const where = transport === 'tcp' ? String(await freePort()) : path.join(dir, 'world.sock')
  const env = { TMPDIR: work }
  const server = spawn(process.execPath, ['server.js', transport, where], { cwd: project, env: { ...process.env, ...env } })
  try {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('server did not start within 10 s')), 10_000)
      let out = ''
      server.stdout.setEncoding('utf8').on('data', (s) => {
        out += s
        if (out.includes('listening')) { clearTimeout(timer); resolve() }
      })
      server.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited early (${code})`)) })
    })
    server.removeAllListeners('exit')
    const serverExit = new Promise((resolve) => server.on('exit', (code, signal) => resolve({ code, signal })))
    const client = await run(process.execPath, ['client.js', transport, where], { cwd: project, env, timeoutMs: 15_000 })
    t.is(client.code, 0, client.output)
    t.deepEqual(JSON.parse(client.stdout), { echo: { from: 'client', transport } })
    const exited = await Promise.race([serverExit, new Promise((resolve) => setTimeout(() => resolve('still running after 10 s'), 10_000))])
    t.deepEqual(exited, { code: 0, signal: null }, 'the server stops when its client leaves and its process exits by itself')
  } finally {
    server.kill('SIGKILL')
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

let aliasProject

platformTest('installed offline by name: the addon comes from the platform package; import and require agree', async (t) => {
  const project = await installProject(t, 'by-name', tarballPath(rootTarball))
  const manifest = JSON.parse(fs.readFileSync(path.join(project, 'package.json'), 'utf8'))
  t.regex(manifest.dependencies['node-ipc-rs'], /^file:/)

  const loaded = await loadedFiles(t, project, 'node-ipc-rs')
  const addons = loaded.filter((f) => f.endsWith('.node'))
  t.deepEqual(addons, [path.join(fs.realpathSync(project), 'node_modules', thisPlatform.manifest.name, thisPlatform.manifest.main)])
  t.true(loaded.includes(path.join(fs.realpathSync(project), 'node_modules', 'node-ipc-rs', 'index.js')))

  fs.writeFileSync(path.join(project, 'identity.mjs'), [
    "import ipc, { IPC, IPCModule } from 'node-ipc-rs'",
    "import { createRequire } from 'node:module'",
    "const required = createRequire(import.meta.url)('node-ipc-rs')",
    'console.log(JSON.stringify({ sameSingleton: ipc === required, sameClass: IPC === required.IPC, isInstance: ipc instanceof IPC,',
    "  defaultIsSelf: required.default === required, sameModuleClass: IPCModule === required.constructor,",
    '  className: IPC.name, keys: Object.keys(ipc) }))',
  ].join('\n'))
  const identity = await run(process.execPath, ['identity.mjs'], { cwd: project })
  t.is(identity.code, 0, identity.output)
  t.deepEqual(JSON.parse(identity.stdout), {
    sameSingleton: true, sameClass: true, isInstance: true, defaultIsSelf: true, sameModuleClass: true, className: 'IPC',
    keys: ['config', 'connectTo', 'connectToNet', 'disconnect', 'serve', 'serveNet', 'of', 'server', 'log', 'IPC'],
  })

  // The same unchanged code, with the package's own name.
  for (const file of ['server.js', 'client.js']) {
    const source = fs.readFileSync(path.join(project, file), 'utf8')
    fs.writeFileSync(path.join(project, file), source.replace("require('node-ipc')", "require('node-ipc-rs')"))
  }
  await runPair(t, project, 'unix')
})

platformTest('installed offline by alias as node-ipc: unchanged require("node-ipc") code talks over Unix and TCP', async (t) => {
  const project = await installProject(t, 'by-alias', `node-ipc@file:${tarballPath(rootTarball)}`)
  const manifest = JSON.parse(fs.readFileSync(path.join(project, 'package.json'), 'utf8'))
  t.regex(manifest.dependencies['node-ipc'], /^file:.*node-ipc-rs-/)
  const loaded = await loadedFiles(t, project, 'node-ipc')
  t.deepEqual(loaded.filter((f) => f.endsWith('.node')), [path.join(fs.realpathSync(project), 'node_modules', thisPlatform.manifest.name, thisPlatform.manifest.main)])
  t.regex(fs.readFileSync(path.join(project, 'server.js'), 'utf8'), /require\('node-ipc'\)/)
  await runPair(t, project, 'unix')
  await runPair(t, project, 'tcp')
  // The user's test runners come from this package's devDependencies (no registry at test time).
  fs.symlinkSync(path.join(ROOT, 'node_modules', 'ava'), path.join(project, 'node_modules', 'ava'), 'dir')
  aliasProject = project
})

// Where each test file of a run says it ran: {name: {pid, threadId}}.
function whereTheyRan(out) {
  return Object.fromEntries(fs.readdirSync(out).map((f) => [path.basename(f, '.json'), JSON.parse(fs.readFileSync(path.join(out, f), 'utf8'))]))
}

const LINGERING = /open handle|did not exit|failed to exit gracefully|force exited|--detectOpenHandles/i

async function runUserRunner(t, label, argv) {
  t.truthy(aliasProject, 'the alias install test ran first')
  const out = fs.mkdtempSync(path.join(work, `${label}-`))
  const result = await run(process.execPath, argv, {
    cwd: aliasProject,
    env: { USER_PROJECT_OUT: out, TMPDIR: work, CI: 'true', NODE_OPTIONS: '' },
  })
  t.false(result.timedOut, `the runner exits by itself (killed after ${RUN_TIMEOUT_MS} ms):\n${result.output}`)
  t.is(result.code, 0, result.output)
  t.notRegex(result.output, LINGERING)
  return { result, ran: whereTheyRan(out) }
}

const jestArgs = (label, ...extra) => [JEST, '--ci', '--no-watchman', '--cacheDirectory', path.join(work, `jest-cache-${label}`), ...extra]

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
  const { result, ran } = await runUserRunner(t, 'jest-inband', jestArgs('inband', '--runInBand', '--detectOpenHandles'))
  t.regex(result.output, /Tests:\s+2 passed, 2 total/)
  t.is(ran['jest-unix'].pid, ran['jest-tcp'].pid, 'both test files ran in the one jest process')
})

platformTest('user project: jest with worker threads (the addon loaded in two threads of one process)', async (t) => {
  const { result, ran } = await runUserRunner(t, 'jest-threads', jestArgs('threads', '--maxWorkers=2', '--workerThreads'))
  t.regex(result.output, /Tests:\s+2 passed, 2 total/)
  t.is(ran['jest-unix'].pid, ran['jest-tcp'].pid)
  t.not(ran['jest-unix'].threadId, ran['jest-tcp'].threadId)
  t.true(ran['jest-unix'].threadId > 0 && ran['jest-tcp'].threadId > 0, 'both ran off the main thread')
})

platformTest('user project: ava with worker threads (its default)', async (t) => {
  const { result, ran } = await runUserRunner(t, 'ava', [AVA, '--verbose'])
  t.regex(result.output, /3 tests passed/)
  t.is(ran['ava-unix'].pid, ran['ava-tcp'].pid)
  t.not(ran['ava-unix'].threadId, ran['ava-tcp'].threadId)
  t.true(ran['ava-unix'].threadId > 0 && ran['ava-tcp'].threadId > 0, 'both ran in worker threads')
})

// The control: the checks above can fail. A test that leaves its server open keeps jest alive,
// and --detectOpenHandles names the addon's handle. The window is 8 s from start, over five
// times the whole clean run.
platformTest('control: a user test that leaves a server running keeps jest from exiting', async (t) => {
  t.truthy(aliasProject)
  const result = await run(process.execPath, jestArgs('leaky', '--runInBand', '--detectOpenHandles', '--testMatch', '**/leaky/*.test.js'), {
    cwd: aliasProject,
    env: { TMPDIR: work, CI: 'true' },
    timeoutMs: 8_000,
  })
  t.true(result.timedOut, `jest should still be running:\n${result.output}`)
  t.regex(result.output, /Tests:\s+1 passed, 1 total/)
  t.regex(result.output, /detected the following 1 open handle/)
  t.regex(result.output, LINGERING)
})
