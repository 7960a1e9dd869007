// Which implementation a test loads: this package ("ours") or the v9 reference ("ref").
// Tests that compare behaviour run the same scenario against both.
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const IMPLS = {
  ours: path.join(ROOT, 'index.js'),
  ref: require.resolve('@achrinza/node-ipc'),
}
export const loadImpl = (name) => require(IMPLS[name])
