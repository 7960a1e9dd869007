// A child process that runs as another user (uid/gid 65534, "nobody"), for tests of what a
// server does with peers it does not trust. Only root can start one (tests run as root in
// CI); elsewhere `OTHER_USER_UNAVAILABLE` says why, for helpers/skip.mjs (a skipped case
// fails under CI).
//
// That user can read neither this repository when it lives under a 0700 folder (CI clones
// into a mktemp folder) nor a Node binary under /root (the Node-version stage runs a Node
// from /root/.cache, see NODE_UNDER_TEST in helpers/proc.mjs). So the child runs from a
// copy: `otherUserTree(t, files)` copies what it needs (package.json, index.js, binding.js,
// lib/, the built addon, the fixtures' loader and the given files, at the same relative
// paths, so that fixtures/interop/load-impl.cjs finds the package where it expects it) and,
// if that user could not run it where it is, the Node binary, into a fresh world-readable
// mkdtemp folder, removed at the test's teardown. Unix sockets for such a child can live in
// that folder too (`tree.path('s.sock')`): it is searchable by everyone, and a server there
// needs `writableAll` so the other user may connect.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ROOT } from './impl.mjs'
import { NODE_UNDER_TEST, spawnNode } from './proc.mjs'
import { rmDir } from './net.mjs'

export const OTHER_UID = 65534
export const OTHER_GID = 65534

export const OTHER_USER_UNAVAILABLE =
  process.platform === 'win32'
    ? 'Windows has no uids'
    : process.getuid() !== 0
      ? `starting a child as uid ${OTHER_UID} needs root; this runs as uid ${process.getuid()}`
      : null

// What every child of ours loads, relative to the repository root.
const PACKAGE_FILES = ['package.json', 'index.js', 'binding.js', 'lib', '__test__/fixtures/interop/load-impl.cjs']

// Whether others (not the owner, not the group) may execute `file`: every folder above it
// searchable by others, and the file executable by them.
function othersCanExec(file) {
  let dir = path.dirname(file)
  for (;;) {
    if (!(fs.statSync(dir).mode & 0o001)) return false
    const up = path.dirname(dir)
    if (up === dir) break
    dir = up
  }
  return Boolean(fs.statSync(file).mode & 0o001)
}

// The Node command (NODE_UNDER_TEST) with every program in it that others cannot run
// copied into `bin` (mode 0755).
function nodeCommandFor(bin) {
  return NODE_UNDER_TEST.map((part) => {
    if (!path.isAbsolute(part) || !fs.existsSync(part) || othersCanExec(part)) return part
    fs.mkdirSync(bin, { recursive: true, mode: 0o755 })
    const copy = path.join(bin, path.basename(part))
    fs.copyFileSync(part, copy)
    fs.chmodSync(copy, 0o755)
    return copy
  })
}

// Everything under `dir` readable (and folders searchable) by everyone.
function openUp(dir) {
  fs.chmodSync(dir, 0o755)
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) openUp(full)
    else fs.chmodSync(full, 0o644)
  }
}

// A copy of the package and of `files` (paths relative to the repository root) that the
// other user can run, removed at the teardown of `t`. `tree.path(rel)` names a file in it.
export function otherUserTree(t, files = []) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nipc-other-'))
  t.teardown(() => rmDir(root))
  const addons = fs.readdirSync(ROOT).filter((name) => name.endsWith('.node'))
  if (addons.length === 0) throw new Error(`no built addon (*.node) in ${ROOT}: run npm run build first`)
  for (const rel of [...PACKAGE_FILES, ...addons, ...files]) {
    fs.cpSync(path.join(ROOT, rel), path.join(root, rel), { recursive: true })
  }
  openUp(root)
  const node = nodeCommandFor(path.join(root, 'bin'))
  return { root, node, path: (rel) => path.join(root, rel) }
}

// Runs `script` (relative to the tree's root) as uid/gid 65534 with the implementation in
// the tree, through helpers/proc.mjs's spawnNode; killed at the teardown of `t`.
export function spawnAsOtherUser(t, tree, script, { env = {}, label } = {}) {
  return spawnNode(tree.path(script), {
    impl: 'ours',
    implPath: tree.path('index.js'),
    env,
    cwd: tree.root,
    node: tree.node,
    uid: OTHER_UID,
    gid: OTHER_GID,
    label: label || `uid ${OTHER_UID}:${path.basename(script)}`,
    t,
  })
}
