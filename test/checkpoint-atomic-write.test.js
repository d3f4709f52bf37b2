'use strict';
// The C++ side writes checkpoints and exports by the same rules as the TypeScript side
// (src/common/atomic-file.ts, cpp/train/atomic_file.cpp): a random temporary name created with
// O_CREAT | O_EXCL | O_NOFOLLOW, renamed over the target. A symlink planted at the temporary name the old
// code used (`.<name>.<pid>.tmp`, predictable) or at the target itself is never written through: the file
// it points at keeps its bytes, and the target ends as a regular file holding the new contents.
const fs = require('node:fs');
const path = require('node:path');
const t = require('tap');
const { Trainer, loadModel } = require('..');
const { modelPath, tempDir } = require('./helpers/paths');

const dir = tempDir('torchvideo-atomic-cpp-');
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const VICTIM_BYTES = 'a file the writer must not touch\n';

let trainer;
t.before(async () => {
  trainer = await Trainer.create({ model: modelPath('mc3_18'), numClasses: 2, seed: 3, threads: 1 });
});
t.teardown(() => trainer?.dispose());

// A folder with a victim file outside it and a symlink to the victim planted at `linkName`.
function plant(name, linkName) {
  const folder = fs.mkdtempSync(path.join(dir, `${name}-`));
  const victim = path.join(dir, `${path.basename(folder)}-victim.txt`);
  fs.writeFileSync(victim, VICTIM_BYTES);
  fs.symlinkSync(victim, path.join(folder, linkName));
  return { folder, victim };
}

// Compared as a flag: a failure would otherwise diff megabytes of checkpoint against one line.
function victimUnchanged(t, victim) {
  const bytes = fs.readFileSync(victim);
  t.ok(
    bytes.equals(Buffer.from(VICTIM_BYTES)),
    `the link's target is unchanged (${bytes.length} bytes, ${Buffer.byteLength(VICTIM_BYTES)} before)`,
  );
}

function temporaries(folder, planted) {
  return fs.readdirSync(folder).filter((f) => f.endsWith('.tmp') && f !== planted);
}

for (const [what, write, read] of [
  ['saveCheckpoint', (file) => trainer.saveCheckpoint(file), (file) => Trainer.restore(file, { threads: 1 })],
  ['exportModel', (file) => trainer.exportModel(file), (file) => loadModel(file, { warmup: false, threads: 1 })],
]) {
  t.test(`${what}: a symlink at the old predictable temporary name is not written through`, async (t) => {
    const oldTemporary = `.out.pt.${process.pid}.tmp`;
    const { folder, victim } = plant(what, oldTemporary);
    const target = path.join(folder, 'out.pt');
    await write(target);
    victimUnchanged(t, victim);
    t.ok(fs.lstatSync(target).isFile(), 'the target is a regular file');
    t.ok(fs.lstatSync(path.join(folder, oldTemporary)).isSymbolicLink(), 'the planted link is left alone');
    t.same(temporaries(folder, oldTemporary), [], 'no temporary file is left behind');
    (await read(target)).dispose();
  });

  t.test(`${what}: a symlink at the target is replaced, not written through`, async (t) => {
    const { folder, victim } = plant(`${what}-target`, 'out.pt');
    const target = path.join(folder, 'out.pt');
    await write(target);
    victimUnchanged(t, victim);
    t.ok(fs.lstatSync(target).isFile(), 'the target is now a regular file');
    t.same(temporaries(folder), [], 'no temporary file is left behind');
    (await read(target)).dispose();
  });
}

t.test('a write that fails leaves the target as it was and no temporary file', async (t) => {
  const folder = fs.mkdtempSync(path.join(dir, 'fail-'));
  // The target is a folder: the rename over it fails after the temporary file is written.
  const target = path.join(folder, 'out.pt');
  fs.mkdirSync(target);
  await t.rejects(trainer.saveCheckpoint(target), { code: 'ERR_CHECKPOINT' });
  t.ok(fs.statSync(target).isDirectory(), 'the target is untouched');
  t.same(temporaries(folder), [], 'the temporary file is removed');
});
