// The platforms node-ipc-rs publishes are named in four places that must agree: the release
// workflow's build matrix (.github/workflows/release.yml), package.json's napi.targets, the
// npm/ platform packages, and the names binding.js (napi's loader) requires. A target missing
// from one of them would publish a package nobody loads, or load a package nobody publishes.
import test from 'ava'
import fs from 'node:fs'
import path from 'node:path'
import * as yaml from 'js-yaml'
import { ROOT } from './helpers/impl.mjs'

const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
const workflow = yaml.load(fs.readFileSync(path.join(ROOT, '.github', 'workflows', 'release.yml'), 'utf8'))
const loader = fs.readFileSync(path.join(ROOT, 'binding.js'), 'utf8')
const binaryName = manifest.napi.binaryName

/** A Rust target triple as napi names its platform package: `win32-x64-msvc`, ... */
function platformOf(triple) {
  const [arch, , os, abi] = triple.split('-')
  const cpu = { x86_64: 'x64', aarch64: 'arm64' }[arch]
  const platform = { linux: 'linux', darwin: 'darwin', windows: 'win32' }[os]
  if (!cpu || !platform) throw new Error(`no napi platform name for ${triple}`)
  return { os: platform, cpu, abi, name: [platform, cpu, abi].filter(Boolean).join('-') }
}

const matrixTargets = workflow.jobs.build.strategy.matrix.settings.map((s) => s.target)
const npmDirs = fs.readdirSync(path.join(ROOT, 'npm')).sort()

test('the workflow builds exactly the napi targets', (t) => {
  t.deepEqual([...matrixTargets].sort(), [...manifest.napi.targets].sort())
  t.true(matrixTargets.includes('x86_64-pc-windows-msvc'), 'Windows x64 (MSVC) is built')
})

test('each napi target has its npm/ package, for its os and cpu, carrying its binary', (t) => {
  t.deepEqual(npmDirs, manifest.napi.targets.map((triple) => platformOf(triple).name).sort())
  for (const triple of manifest.napi.targets) {
    const p = platformOf(triple)
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'npm', p.name, 'package.json'), 'utf8'))
    t.is(pkg.name, `${binaryName}-${p.name}`, triple)
    t.is(pkg.main, `${binaryName}.${p.name}.node`, triple)
    t.deepEqual(pkg.files, [pkg.main], triple)
    t.deepEqual(pkg.os, [p.os], triple)
    t.deepEqual(pkg.cpu, [p.cpu], triple)
    t.is(pkg.version, manifest.version, triple)
    if (p.os === 'linux') t.deepEqual(pkg.libc, [p.abi === 'gnu' ? 'glibc' : 'musl'], triple)
  }
})

test("binding.js loads each target's local file and package by the same names", (t) => {
  for (const triple of manifest.napi.targets) {
    const { name } = platformOf(triple)
    t.true(loader.includes(`require('./${binaryName}.${name}.node')`), `${name}: local file`)
    t.true(loader.includes(`require('${binaryName}-${name}')`), `${name}: package`)
  }
})

test('each build in the workflow runs tests on its own platform', (t) => {
  const settings = workflow.jobs.build.strategy.matrix.settings
  for (const s of settings) {
    t.truthy(s.host, s.target)
    t.regex(s.test, /^(npm test|node --test .*__test__\/windows\/)$/, s.target)
    const os = platformOf(s.target).os
    const host = { linux: /^ubuntu-/, darwin: /^macos-/, win32: /^windows-/ }[os]
    t.regex(s.host, host, `${s.target} builds on ${os}`)
  }
  const steps = workflow.jobs.build.steps.map((s) => s.run || '')
  t.true(
    steps.some((r) => r.includes('${{ matrix.settings.test }}')),
    'a step runs the tests',
  )
})
