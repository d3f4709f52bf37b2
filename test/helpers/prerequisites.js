'use strict';
// Tests that need something the machine may lack. On a developer's machine a missing prerequisite is
// a skip; in CI (CI=true, as GitHub Actions and most CI services set it) .ci/run installs every one of
// them (scripts/setup.sh), so a missing one is a failure: a green run must not hide that a whole feature
// went untested. GPU tests are not here: CI has no GPU, so they stay skips everywhere.

const IN_CI = /^(true|1)$/i.test(process.env.CI ?? '');

/**
 * True when `available`; otherwise a skip named `what` (returns false), or, in CI, an Error naming it.
 */
function requirePrerequisite(t, available, what) {
  if (available) return true;
  if (IN_CI) {
    throw new Error(`${what}: CI (CI=${process.env.CI}) installs it with scripts/setup.sh, so it fails instead of skipping`);
  }
  t.skip(what);
  return false;
}

module.exports = { IN_CI, requirePrerequisite };
