'use strict';
// The one atomic-write module of the TypeScript side (src/common/atomic-file.ts): a symlink planted at a
// temporary name or at the target is never written through, two writers of one file never leave it torn,
// and the evaluation journal (predictions.jsonl) is neither truncated nor appended through a planted link.
const fs = require('node:fs');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const t = require('tap');
const { ROOT, tempDir } = require('./helpers/paths');

const ATOMIC = path.join(ROOT, 'dist', 'internal.js');
const { writeFileAtomic, copyFileAtomic } = require(ATOMIC);
const { PredictionsLog } = require(path.join(ROOT, 'dist', 'internal.js'));

const root = tempDir('torchvideo-atomic-');
t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));

// A file somebody else owns, which a planted link points at: it must keep its contents.
function victim(dir) {
  const file = path.join(dir, 'victim.txt');
  fs.writeFileSync(file, 'precious\n');
  return file;
}

const leftovers = (dir) => fs.readdirSync(dir).filter((name) => name.endsWith('.tmp'));

t.test('writes the contents, leaves no temporary file', async (t) => {
  const dir = path.join(root, 'plain');
  fs.mkdirSync(dir);
  const file = path.join(dir, 'report.json');
  writeFileAtomic(file, '{"a": 1}');
  writeFileAtomic(file, Buffer.from('{"b": 2}'));
  t.equal(fs.readFileSync(file, 'utf8'), '{"b": 2}');
  t.same(leftovers(dir), []);
  t.throws(
    () => writeFileAtomic(path.join(dir, 'missing', 'x.json'), 'x'),
    { code: 'ENOENT' },
    'a missing folder is the file system error',
  );
  t.same(leftovers(dir), []);
});

t.test('a symlink at the old predictable temporary name is not followed', async (t) => {
  const dir = path.join(root, 'planted-temp');
  fs.mkdirSync(dir);
  const target = victim(dir);
  const file = path.join(dir, 'checkpoint.json');
  // Releases before this one wrote `.<name>.<pid>.tmp` through whatever was there.
  fs.symlinkSync(target, path.join(dir, `.checkpoint.json.${process.pid}.tmp`));
  fs.symlinkSync(target, path.join(dir, `.best.pt.${process.pid}.tmp`));
  writeFileAtomic(file, 'new state');
  t.equal(fs.readFileSync(target, 'utf8'), 'precious\n', "writeFileAtomic: the link's target is unchanged");
  const source = path.join(dir, 'model.pt');
  fs.writeFileSync(source, 'weights');
  copyFileAtomic(source, path.join(dir, 'best.pt'));
  t.equal(fs.readFileSync(target, 'utf8'), 'precious\n', "copyFileAtomic: the link's target is unchanged");
  t.equal(fs.readFileSync(file, 'utf8'), 'new state');
  t.equal(fs.readFileSync(path.join(dir, 'best.pt'), 'utf8'), 'weights');
});

t.test('a symlink at the target is replaced, not written through', async (t) => {
  const dir = path.join(root, 'planted-target');
  fs.mkdirSync(dir);
  const target = victim(dir);
  const file = path.join(dir, 'history.jsonl');
  fs.symlinkSync(target, file);
  writeFileAtomic(file, 'epoch 0\n');
  t.equal(fs.readFileSync(target, 'utf8'), 'precious\n', "the link's target is unchanged");
  t.notOk(fs.lstatSync(file).isSymbolicLink(), 'the target is a file of its own now');
  t.equal(fs.readFileSync(file, 'utf8'), 'epoch 0\n');
});

// Two worker threads share a pid, so a temporary name made of the pid alone is one file for both: each
// truncates and overwrites the other's half-written file. Random names give each writer its own.
t.test('two concurrent writers never leave a torn file', async (t) => {
  const dir = path.join(root, 'concurrent');
  fs.mkdirSync(dir);
  const file = path.join(dir, 'report.json');
  const WRITES = 150;
  const versions = { a: 'a'.repeat(600_000), b: 'b'.repeat(400_000) };
  writeFileAtomic(file, versions.a);
  const script = `
    const { workerData, parentPort } = require('node:worker_threads');
    const { writeFileAtomic } = require(workerData.module);
    const text = workerData.letter.repeat(workerData.length);
    for (let i = 0; i < workerData.writes; i++) writeFileAtomic(workerData.file, text);
    parentPort.postMessage('done');`;
  const workers = Object.entries(versions).map(
    ([letter, text]) =>
      new Worker(script, { eval: true, workerData: { module: ATOMIC, file, letter, length: text.length, writes: WRITES } }),
  );
  const finished = workers.map((worker) => new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject)));
  let running = true;
  Promise.all(finished).then(
    () => (running = false),
    () => (running = false),
  );
  const torn = [];
  let reads = 0;
  while (running) {
    const text = fs.readFileSync(file, 'utf8');
    reads++;
    if (text !== versions.a && text !== versions.b)
      torn.push(`${text.length} bytes, starting ${text.slice(0, 1)}, ending ${text.slice(-1)}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(finished);
  const last = fs.readFileSync(file, 'utf8');
  t.ok(last === versions.a || last === versions.b, "the file after both is one writer's contents, whole");
  t.same(torn.slice(0, 3), [], `none of ${reads} reads saw a torn file`);
  t.same(leftovers(dir), [], 'no temporary file left');
});

t.test('the evaluation journal does not write through a symlink at its name', async (t) => {
  const dir = path.join(root, 'journal');
  fs.mkdirSync(dir);
  const target = victim(dir);
  const journal = path.join(dir, 'predictions.jsonl');
  fs.symlinkSync(target, journal);
  const header = { model: { arch: 'r3d_18' } };
  const { log } = PredictionsLog.open(dir, header, false);
  log.add({ kind: 'skipped', path: '/videos/a.mp4' });
  log.close();
  t.equal(fs.readFileSync(target, 'utf8'), 'precious\n', "the link's target is unchanged");
  t.notOk(fs.lstatSync(journal).isSymbolicLink());
  t.equal(fs.readFileSync(journal, 'utf8').split('\n').filter(Boolean).length, 2, 'the header and one video');

  // Resuming reads and appends only a journal that is a file of its own.
  fs.rmSync(journal);
  fs.symlinkSync(target, journal);
  const resumed = PredictionsLog.open(dir, header, true);
  resumed.log.add({ kind: 'skipped', path: '/videos/b.mp4' });
  resumed.log.close();
  t.same(resumed.done, [], 'nothing resumed from the link');
  t.equal(fs.readFileSync(target, 'utf8'), 'precious\n', "the link's target is unchanged");
});
