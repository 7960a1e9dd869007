// A test whose scenario this machine cannot make (no IPv6 loopback, a resolver that does not
// answer, no platform package of ours) does not run it. Locally that is said loudly and the
// test passes (or is listed as skipped), so that the rest of the file still tells something.
// Under CI (CI is set, as CI runs with CI=true) it fails: a green CI run means every
// scenario ran.
import test from 'ava'

export const IN_CI = Boolean(process.env.CI) && !/^(0|false)$/i.test(process.env.CI)

// Inside a test that found out it cannot run: fail under CI, otherwise a loud pass.
export function cannotRun(t, reason) {
  const message = `SKIPPED "${t.title}": ${reason}`
  if (IN_CI) {
    t.fail(`${message}; a skipped case fails under CI`)
    return
  }
  console.warn(message)
  t.log(message)
  t.pass()
}

// Register `title` with `register` (test, test.serial), or, where `reason` (known when the
// file loads) says the scenario cannot be made here, a test that fails under CI and is
// skipped elsewhere.
export function testUnless(reason, register, title, ...rest) {
  if (!reason) return register(title, ...rest)
  if (IN_CI) return register(title, (t) => t.fail(`cannot run here (${reason}); a skipped case fails under CI`))
  console.warn(`SKIPPED "${title}": ${reason}`)
  return test.skip(`${title} (SKIPPED: ${reason})`, ...rest)
}
