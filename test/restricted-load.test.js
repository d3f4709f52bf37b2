'use strict';
// scripts/torchvideo_export/restricted_load.py on its own: the .pth loader export_models.py reads
// --weights with. test/py/check_restricted_load.py makes plain state dicts, torchvision reference
// checkpoints, payloads that would run code, whole modules and legacy files, and checks each with
// Debian's torch; one JSON line per case.
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const t = require('tap');
const { ROOT } = require('./helpers/paths');
const { PYTHON } = require('./helpers/python-reference');

t.test("the restricted .pth loader's own cases", async (t) => {
  const result = spawnSync(PYTHON, [path.join(ROOT, 'test', 'py', 'check_restricted_load.py')], { encoding: 'utf8' });
  t.equal(result.error, undefined, 'the script ran');
  const cases = result.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line));
  t.ok(cases.length >= 10, `${cases.length} cases`);
  for (const c of cases) t.ok(c.ok, c.name, { diagnostic: !c.ok, detail: c.detail });
  t.equal(result.status, 0, result.stderr);
});
