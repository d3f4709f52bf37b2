'use strict';
// Which shard an evaluation takes from a launcher's environment: Slurm arrays and Kubernetes Indexed Jobs,
// with an explicit count (--shard-count) winning over the environment's, as every flag does.
const t = require('tap');
const { resolveShard } = require('../dist/internal.js');

function withEnv(env, body) {
  const saved = {};
  for (const [name, value] of Object.entries(env)) {
    saved[name] = process.env[name];
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  try {
    return body();
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

const CLEAN = {
  SLURM_ARRAY_TASK_ID: undefined,
  SLURM_ARRAY_TASK_COUNT: undefined,
  SLURM_ARRAY_TASK_MIN: undefined,
  JOB_COMPLETION_INDEX: undefined,
};

t.test('Slurm arrays: the task is the shard, offset by the array minimum', async (t) => {
  withEnv({ ...CLEAN, SLURM_ARRAY_TASK_ID: '5', SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '3' }, () => {
    t.same(resolveShard('env'), { index: 2, count: 4 });
  });
});

t.test('an explicit shardCount wins over SLURM_ARRAY_TASK_COUNT', async (t) => {
  withEnv({ ...CLEAN, SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '8' }, () => {
    t.same(resolveShard('env', 2), { index: 1, count: 2 }, 'the option, not the variable');
    t.throws(
      () => resolveShard('env', 1),
      { name: 'RangeError', message: /options\.shardCount index/ },
      'and is checked against the index',
    );
  });
});

t.test('Kubernetes Indexed Jobs need the count from the option', async (t) => {
  withEnv({ ...CLEAN, JOB_COMPLETION_INDEX: '3' }, () => {
    t.same(resolveShard('env', 4), { index: 3, count: 4 });
    t.throws(() => resolveShard('env'), {
      name: 'RangeError',
      message: /expected options\.shardCount \(--shard-count\) with JOB_COMPLETION_INDEX/,
    });
  });
});
