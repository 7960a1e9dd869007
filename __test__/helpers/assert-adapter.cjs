'use strict'

// Checks shared by the ava specs (Linux) and the node:test files (windows/*.test.cjs, in
// Windows node.exe) assert through `a`, this subset of ava's execution context: ava's `t`
// is one as it is; `nodeAsserts` is the same on node:assert, for node:test.
const assert = require('node:assert')

const nodeAsserts = {
  is: (actual, expected, message) => assert.strictEqual(actual, expected, message),
  true: (value, message) => assert.strictEqual(value, true, message),
  false: (value, message) => assert.strictEqual(value, false, message),
  deepEqual: (actual, expected, message) => assert.deepStrictEqual(actual, expected, message),
  regex: (string, re, message) => assert.match(string, re, message),
}

module.exports = { nodeAsserts }
