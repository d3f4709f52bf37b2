'use strict';
// fineTune's run state and checkpoint commit protocol (src/train/fine-tune/run-state.ts), on a temporary
// folder with a stand-in for the trainer's checkpoint: a commit writes the new checkpoint, then replaces
// checkpoint.json (atomically) with the state naming it, then deletes the old checkpoint. A process killed
// (SIGKILL) at any of those points leaves a folder that resumes from the previous commit or from the new
// one, whole: the state read is one of the two, and the checkpoint it names holds that state's weights.
// checkpoint.json that is torn, foreign, or names a file outside the folder is refused, named; a symlink
// in its place is not read through.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const t = require('tap');
const { ROOT, tempDir } = require('./helpers/paths');

const INTERNAL = path.join(ROOT, 'dist', 'internal.js');
const {
  STATE_FILE,
  readRunState,
  newRunState,
  commitCheckpoint,
  checkpointer,
  checkpointName,
  checkRankSeesCheckpoint,
  decidedByRankZero,
  writeFileAtomic,
} = require(INTERNAL);

const root = tempDir('torchvideo-run-state-');
t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
let folders = 0;
const freshFolder = () => {
  const dir = path.join(root, `run-${folders++}`);
  fs.mkdirSync(dir);
  return dir;
};

const JOB = {
  model: '/models/r3d_18.pt',
  numClasses: 4,
  labels: ['a', 'b', 'c', 'd'],
  epochs: 3,
  batchSize: 4,
  lr: 0.01,
  momentum: 0.9,
  weightDecay: 1e-4,
  warmupEpochs: 0,
  warmupDecay: 0.001,
  milestones: [100],
  gamma: 0.1,
  clipLength: 8,
  frameRate: 15,
  clipsPerVideo: 1,
  freezeBackbone: false,
  hflipProb: 0,
  amp: false,
  seed: 3,
  worldSize: 1,
};

// The stand-in trainer checkpoint: its bytes say which iteration's weights it holds.
const weightsAt = (iteration) => `weights after iteration ${iteration}\n`;
const saveFor = (state) => async (file) => writeFileAtomic(file, weightsAt(state.iteration));

// The run moved on by one step (a new position to commit).
function step(state) {
  state.iteration++;
  state.batch++;
  state.running.lossSum += 1.5;
  state.running.correct += 2;
  state.running.clips += 4;
}

/** What a resume of `dir` sees: the state and the weights its checkpoint holds. */
function resumed(dir) {
  const state = readRunState(dir);
  return { state, weights: fs.readFileSync(path.join(dir, state.checkpoint), 'utf8') };
}

const checkpointsIn = (dir) => fs.readdirSync(dir).filter((f) => /^checkpoint-\d+\.pt$/.test(f));

t.test('a commit is resumed as it was written; the next commit replaces it and deletes its checkpoint', async (t) => {
  const dir = freshFolder();
  t.equal(readRunState(dir), undefined, 'no checkpoint.json: nothing to resume');
  const state = newRunState(JOB);
  t.equal(state.checkpoint, '', 'a new run names no checkpoint');
  await commitCheckpoint(dir, state, saveFor(state));
  t.equal(state.checkpoint, checkpointName(0), 'the state names the checkpoint written');
  t.equal(checkpointName(1234), 'checkpoint-00001234.pt', 'checkpoints are named by iteration');
  t.same(resumed(dir), { state, weights: weightsAt(0) }, 'resumed: the state committed, and its weights');
  t.same(JSON.parse(fs.readFileSync(path.join(dir, STATE_FILE), 'utf8')), state, `${STATE_FILE} holds the state`);

  step(state);
  state.history.push({ epoch: 0, trainLoss: 1, trainAcc1: 0.5, valClipAcc1: 0.25, valVideoAcc1: 0.5, lr: 0.01 });
  state.best = { epoch: 0, valVideoAcc1: 0.5 };
  await commitCheckpoint(dir, state, saveFor(state));
  t.same(resumed(dir), { state, weights: weightsAt(1) }, 'the second commit is the one resumed');
  t.same(checkpointsIn(dir), [checkpointName(1)], "the first commit's checkpoint is deleted");
  t.same(
    fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')),
    [],
    'no temporary file is left',
  );
});

t.test('a failed save leaves the previous commit, and the state naming it', async (t) => {
  const dir = freshFolder();
  const state = newRunState(JOB);
  await commitCheckpoint(dir, state, saveFor(state));
  const committed = structuredClone(state);
  step(state);
  await t.rejects(
    commitCheckpoint(dir, state, async () => {
      throw new Error('disk full');
    }),
    { message: 'disk full' },
  );
  t.equal(state.checkpoint, committed.checkpoint, 'the state still names the committed checkpoint');
  t.same(resumed(dir), { state: committed, weights: weightsAt(0) }, 'resumed: the previous commit');
});

// A child process resumes `dir`, steps once and commits, SIGKILLed at `killAt`:
//   'saved':  once the new checkpoint is written, before checkpoint.json is replaced;
//   'rename': with checkpoint.json's new contents written to its temporary file, not yet renamed over it;
//   'delete': after checkpoint.json names the new checkpoint, before the old one is deleted;
//   'none':   not killed (the commit completes).
const CHILD = `
const fs = require('node:fs');
const [internal, dir, killAt] = process.argv.slice(1);
const { readRunState, commitCheckpoint, writeFileAtomic } = require(internal);
const die = () => process.kill(process.pid, 'SIGKILL');
const rename = fs.renameSync;
fs.renameSync = (from, to) => {
  if (killAt === 'rename' && to.endsWith('checkpoint.json')) die();
  return rename(from, to);
};
const rm = fs.rmSync;
fs.rmSync = (file, options) => {
  if (killAt === 'delete' && /checkpoint-\\d+\\.pt$/.test(file)) die();
  return rm(file, options);
};
const state = readRunState(dir);
state.iteration++;
state.batch++;
commitCheckpoint(dir, state, async (file) => {
  writeFileAtomic(file, 'weights after iteration ' + state.iteration + '\\n');
  if (killAt === 'saved') die();
}).then(() => process.exit(0));
`;

function commitInChild(dir, killAt) {
  const child = spawnSync(process.execPath, ['-e', CHILD, INTERNAL, dir, killAt], { encoding: 'utf8' });
  return { signal: child.signal, status: child.status, stderr: child.stderr };
}

for (const [killAt, expected] of [
  ['saved', 'previous'],
  ['rename', 'previous'],
  ['delete', 'new'],
  ['none', 'new'],
]) {
  t.test(`a commit killed at '${killAt}' resumes the ${expected} commit, whole`, async (t) => {
    const dir = freshFolder();
    const state = newRunState(JOB);
    await commitCheckpoint(dir, state, saveFor(state));
    for (let i = 0; i < 2; i++) {
      step(state);
      await commitCheckpoint(dir, state, saveFor(state));
    }
    const previous = readRunState(dir);
    t.equal(previous.iteration, 2, 'the commit before the kill');

    const child = commitInChild(dir, killAt);
    if (killAt === 'none') t.same(child, { signal: null, status: 0, stderr: '' }, 'the commit completes');
    else t.equal(child.signal, 'SIGKILL', `killed at '${killAt}' (${child.stderr})`);

    const next = { ...structuredClone(previous), iteration: 3, batch: 3, checkpoint: checkpointName(3) };
    const after = resumed(dir);
    if (expected === 'previous') {
      t.same(after, { state: previous, weights: weightsAt(2) }, 'the previous state and its weights');
    } else {
      t.same(after, { state: next, weights: weightsAt(3) }, 'the new state and its weights');
    }
    // Whatever else the kill left (the new checkpoint not yet named, the old one not yet deleted, a
    // temporary file) is never read; the next commit deletes the checkpoint it replaces.
    const files = checkpointsIn(dir);
    t.ok(files.includes(after.state.checkpoint), `the checkpoint named is there (${files.join(', ')})`);
    const resumedState = structuredClone(after.state);
    step(resumedState);
    step(resumedState);
    await commitCheckpoint(dir, resumedState, saveFor(resumedState));
    t.same(resumed(dir), { state: resumedState, weights: weightsAt(resumedState.iteration) }, 'the run goes on from there');
    t.notOk(checkpointsIn(dir).includes(after.state.checkpoint), 'and deletes the checkpoint it resumed from');
  });
}

t.test('checkpoint.json that is torn, foreign or not a file is refused, named', async (t) => {
  const dir = freshFolder();
  const file = path.join(dir, STATE_FILE);
  const state = newRunState(JOB);
  await commitCheckpoint(dir, state, saveFor(state));
  const whole = fs.readFileSync(file, 'utf8');

  const unreadable = (why) => ({
    name: 'TorchVideoError',
    code: 'ERR_CHECKPOINT',
    path: file,
    message: new RegExp(`^cannot resume from '${file}': it is not a readable fine-tuning state \\(${why}`),
  });
  for (const [what, text] of [
    ['torn in half', whole.slice(0, whole.length >> 1)],
    ['empty', ''],
    ['one byte short', whole.slice(0, whole.lastIndexOf('}'))],
    ['not JSON', 'checkpoint-00000000.pt'],
  ]) {
    fs.writeFileSync(file, text);
    t.throws(() => readRunState(dir), unreadable('.*'), what);
  }
  fs.rmSync(file);
  fs.mkdirSync(file);
  t.throws(() => readRunState(dir), unreadable('EISDIR'), 'a folder in its place');
  fs.rmdirSync(file);

  const foreign = {
    name: 'TorchVideoError',
    code: 'ERR_CHECKPOINT',
    path: file,
    message: `cannot resume from '${file}': it is not a torchvideo fine-tuning state`,
  };
  for (const [what, value] of [
    ['another format', { ...state, format: 'torchvideo-eval' }],
    ['another version', { ...state, version: 2 }],
    ['no checkpoint', { ...state, checkpoint: undefined }],
    ['a checkpoint that is not a name', { ...state, checkpoint: 7 }],
    ['another JSON value', [state]],
    ['null', null],
    ['a string', 'torchvideo-finetune'],
  ]) {
    fs.writeFileSync(file, JSON.stringify(value));
    t.throws(() => readRunState(dir), foreign, what);
  }

  // The checkpoint is read, and later deleted, by the name it gives: a file of the folder itself only.
  for (const name of ['', '.', '..', '../other-run/checkpoint-00000000.pt', '/tmp/checkpoint-00000000.pt', 'sub/x.pt', 'a\\b.pt', 'a\0b']) {
    fs.writeFileSync(file, JSON.stringify({ ...state, checkpoint: name }));
    t.throws(
      () => readRunState(dir),
      {
        name: 'TorchVideoError',
        code: 'ERR_CHECKPOINT',
        path: file,
        message: `cannot resume from '${file}': it names the checkpoint ${JSON.stringify(name)}, which is not a file name inside outDir '${dir}'`,
      },
      JSON.stringify(name),
    );
  }
});

t.test('a symlink at checkpoint.json is not read through: there is no state to resume', async (t) => {
  const elsewhere = freshFolder();
  const state = newRunState(JOB);
  await commitCheckpoint(elsewhere, state, saveFor(state));
  const dir = freshFolder();
  fs.symlinkSync(path.join(elsewhere, STATE_FILE), path.join(dir, STATE_FILE));
  t.equal(readRunState(dir), undefined, 'a link to a valid state is not followed');
  // A fresh run's first commit replaces the link; the file it pointed at keeps its bytes.
  const before = fs.readFileSync(path.join(elsewhere, STATE_FILE), 'utf8');
  const fresh = newRunState({ ...JOB, seed: 4 });
  await commitCheckpoint(dir, fresh, saveFor(fresh));
  t.notOk(fs.lstatSync(path.join(dir, STATE_FILE)).isSymbolicLink(), 'checkpoint.json is now a file');
  t.same(readRunState(dir), fresh, 'holding the new run');
  t.equal(fs.readFileSync(path.join(elsewhere, STATE_FILE), 'utf8'), before, 'the linked file is untouched');
});

t.test('checkpointer: commits each position once; ranks other than 0 write nothing', async (t) => {
  const dir = freshFolder();
  const state = newRunState(JOB);
  let saves = 0;
  const save = async (file) => {
    saves++;
    writeFileAtomic(file, weightsAt(state.iteration));
  };
  const checkpoint = checkpointer(dir, state, { rank: 0, resumed: false, save });
  await checkpoint();
  await checkpoint();
  t.equal(saves, 1, 'the same position is committed once');
  step(state);
  await checkpoint();
  t.equal(saves, 2, 'a new position is committed');
  t.same(resumed(dir), { state, weights: weightsAt(1) }, 'and resumed');

  const again = readRunState(dir);
  const onResume = checkpointer(dir, again, { rank: 0, resumed: true, save });
  await onResume();
  t.equal(saves, 2, 'a resumed position is committed already');

  const other = freshFolder();
  const rankOne = newRunState(JOB);
  const onRankOne = checkpointer(other, rankOne, { rank: 1, resumed: false, save });
  await onRankOne();
  step(rankOne);
  await onRankOne();
  t.equal(saves, 2, 'rank 1 saves nothing');
  t.same(fs.readdirSync(other), [], 'and writes nothing');
});

t.test('a rank that cannot see the checkpoint resumed is named', async (t) => {
  const dir = freshFolder();
  const state = newRunState(JOB);
  await commitCheckpoint(dir, state, saveFor(state));
  t.doesNotThrow(() => checkRankSeesCheckpoint(dir, state, 1), 'rank 1 sees it');
  fs.rmSync(path.join(dir, state.checkpoint));
  t.doesNotThrow(() => checkRankSeesCheckpoint(dir, state, 0), 'rank 0 is not checked (it read the state)');
  const file = path.join(dir, state.checkpoint);
  t.throws(() => checkRankSeesCheckpoint(dir, state, 2), {
    name: 'TorchVideoError',
    code: 'ERR_CHECKPOINT',
    path: file,
    message: `rank 2 cannot read rank 0's checkpoint '${file}': every rank must see outDir (a shared file system) to resume`,
  });
});

t.test('decidedByRankZero without a group: computed here, its error thrown as it is', async (t) => {
  t.equal(await decidedByRankZero(undefined, 'the seed', () => 7), 7);
  t.equal(await decidedByRankZero(undefined, 'the seed', async () => 8), 8);
  const error = new RangeError('no');
  await t.rejects(
    decidedByRankZero(undefined, 'the seed', () => {
      throw error;
    }),
    error,
  );
});
