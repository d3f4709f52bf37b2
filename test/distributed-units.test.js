'use strict';
// The pure pieces of a distributed job: each rank's share of an epoch (torchvision's DistributedSampler
// over the sampler's list), the device and threads a rank takes.
const t = require('tap');
const { rankShare } = require('../dist/internal.js');
const { rankDevice, rankThreads, rankCores } = require('../dist/internal.js');
const os = require('node:os');

t.test('rankShare: disjoint, equally long, padded from the start, batch b of all ranks = batch b at W x B', async (t) => {
  const items = [...Array(10).keys()];
  const shares = [0, 1, 2].map((rank) => rankShare(items, rank, 3));
  t.same(shares, [
    [0, 3, 6, 9],
    [1, 4, 7, 0],
    [2, 5, 8, 1],
  ]);
  t.same(rankShare(items, 0, 1), items, 'alone: the whole list');
  t.same(rankShare([], 1, 2), [], 'nothing to share');
  const even = [...Array(24).keys()];
  const [a, b] = [0, 1].map((rank) => rankShare(even, rank, 2));
  for (let batch = 0; batch < 6; batch++) {
    const together = [...a.slice(batch * 2, batch * 2 + 2), ...b.slice(batch * 2, batch * 2 + 2)].sort((x, y) => x - y);
    t.same(together, even.slice(batch * 4, batch * 4 + 4), `batch ${batch}`);
  }
});

t.test('rankDevice: cuda is cuda:<local rank>, modulo the GPUs the process sees', async (t) => {
  t.equal(rankDevice('cuda', 3, 8), 'cuda:3');
  t.equal(rankDevice('cuda', 3, 1), 'cuda:0', 'one GPU bound to each task');
  t.equal(rankDevice('cuda:1', 3, 8), 'cuda:1', 'an explicit device is kept');
  t.equal(rankDevice('cpu', 3, 8), 'cpu');
});

t.test("rankThreads: the launcher's OMP_NUM_THREADS, else the cores split between the machine's ranks", async (t) => {
  t.equal(rankThreads({ OMP_NUM_THREADS: '3' }), 3);
  const cores = os.availableParallelism();
  t.equal(rankThreads({ LOCAL_WORLD_SIZE: '2' }), Math.max(1, Math.floor(cores / 2)));
  t.equal(rankThreads({}), cores);
  t.equal(rankCores({ LOCAL_WORLD_SIZE: String(cores * 4) }), 1, 'at least one');
  t.equal(rankThreads({ OMP_NUM_THREADS: 'x', LOCAL_WORLD_SIZE: '1' }), cores, 'a bad value is not used');
});
