'use strict';
// Reading a job's rendezvous from torchrun, Slurm and Kubernetes Indexed Job environments (the
// distributed issue's groundwork): every launcher's variables, and the error for each missing piece.
const path = require('node:path');
const t = require('tap');
const { ROOT } = require('./helpers/paths');
const { resolveRendezvous, firstSlurmHost, DEFAULT_MASTER_PORT } = require(path.join(ROOT, 'dist', 'internal.js'));

t.test('torchrun: rank 0 hosts the store, or the agent does under /worker/attempt_<restart>', async (t) => {
  const env = { RANK: '3', WORLD_SIZE: '4', LOCAL_RANK: '1', MASTER_ADDR: '10.0.0.5', MASTER_PORT: '29400' };
  t.match(resolveRendezvous('env', {}, env), {
    launcher: 'torchrun',
    rank: 3,
    worldSize: 4,
    localRank: 1,
    masterAddr: '10.0.0.5',
    masterPort: 29400,
    agentStore: false,
    storePrefix: '',
    restartCount: 0,
  });
  t.match(resolveRendezvous('env', {}, { ...env, TORCHELASTIC_USE_AGENT_STORE: 'True', TORCHELASTIC_RESTART_COUNT: '2' }), {
    agentStore: true,
    storePrefix: '/worker/attempt_2',
    restartCount: 2,
  });
  t.throws(() => resolveRendezvous('env', {}, { ...env, RANK: '4' }), {
    name: 'RangeError',
    message: /rank 4 is not below the world size 4 \(torchrun\)/,
  });
  t.throws(() => resolveRendezvous('env', {}, { ...env, WORLD_SIZE: 'two' }), {
    message: /expected WORLD_SIZE to be an integer >= 1, got "two"/,
  });
  t.throws(() => resolveRendezvous('env', {}, { ...env, MASTER_PORT: '70000' }), { message: /expected MASTER_PORT to be a TCP port/ });
  t.throws(() => resolveRendezvous('env', {}, { RANK: '0', WORLD_SIZE: '2' }), { message: /expected a master address \(torchrun\)/ });
});

t.test('Slurm: the master is the first host of the node list', async (t) => {
  t.match(resolveRendezvous('env', {}, { SLURM_PROCID: '5', SLURM_NTASKS: '8', SLURM_LOCALID: '1', SLURM_JOB_NODELIST: 'gpu[07-08,12]' }), {
    launcher: 'slurm',
    rank: 5,
    worldSize: 8,
    localRank: 1,
    masterAddr: 'gpu07',
    masterPort: DEFAULT_MASTER_PORT,
  });
  t.equal(firstSlurmHost('node[01-03,07],gpu5'), 'node01');
  t.equal(firstSlurmHost('host1,host2'), 'host1');
  t.equal(firstSlurmHost('a-[2-4]-ib[0-1]'), 'a-2-ib0');
  t.equal(firstSlurmHost('single'), 'single');
  t.throws(() => firstSlurmHost(''), { name: 'RangeError', message: /cannot read a host from SLURM_JOB_NODELIST ''/ });
  t.throws(() => firstSlurmHost('node[01-03'), { message: /cannot read a host/ });
  t.throws(() => resolveRendezvous('env', {}, { SLURM_PROCID: '0' }), {
    message: /expected SLURM_NTASKS to be an integer >= 1, got nothing/,
  });
});

t.test('Kubernetes Indexed Job: the index is the rank, the rest comes from options', async (t) => {
  const env = { JOB_COMPLETION_INDEX: '2' };
  t.match(resolveRendezvous('env', { worldSize: 4, masterAddr: 'train-0.train' }, env), {
    launcher: 'kubernetes',
    rank: 2,
    worldSize: 4,
    masterAddr: 'train-0.train',
    masterPort: DEFAULT_MASTER_PORT,
  });
  t.throws(() => resolveRendezvous('env', {}, env), {
    name: 'RangeError',
    message: /gives only JOB_COMPLETION_INDEX: give the world size and the master address/,
  });
});

t.test('explicit rendezvous, and no launcher at all', async (t) => {
  t.match(resolveRendezvous({ rank: 1, worldSize: 2, masterAddr: '127.0.0.1', masterPort: 29501 }, {}, {}), {
    launcher: 'explicit',
    rank: 1,
    worldSize: 2,
    masterPort: 29501,
  });
  t.throws(() => resolveRendezvous({ rank: -1, worldSize: 2, masterAddr: 'h' }, {}, {}), {
    message: /expected distributed.rank to be an integer >= 0/,
  });
  t.throws(() => resolveRendezvous(null, {}, {}), { name: 'TypeError' });
  t.throws(() => resolveRendezvous('env', {}, {}), {
    name: 'RangeError',
    message: /found no launcher: expected torchrun's RANK and WORLD_SIZE/,
  });
});
