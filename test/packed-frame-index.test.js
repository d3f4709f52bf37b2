'use strict';
// The metadata index packs each integer list of a frame index into runs [first, step, count].
const path = require('node:path');
const t = require('tap');
const { ROOT } = require('./helpers/paths');
const { toRuns, fromRuns, packFrameIndex, unpackFrameIndex } = require(path.join(ROOT, 'dist', 'internal.js'));

t.test('runs round-trip any integer list', async (t) => {
  const lists = [[], [7], [0, 512], [0, 512, 1024, 1536], [-1024, 0, 1024, 3072, 4096, 4097, 4098, 9000], [5, 5, 5], [3, 2, 1, 0]];
  for (const list of lists) t.same(fromRuns(toRuns(list)), list, JSON.stringify(list));
  t.same(toRuns([0, 512, 1024, 1536]), [[0, 512, 4]], 'a constant step is one run');
  t.same(
    toRuns([0, 1, 2, 10, 20]),
    [
      [0, 1, 3],
      [10, 10, 2],
    ],
    'a change of step starts a run',
  );
});

t.test('a frame index packs and unpacks to itself', async (t) => {
  const index = {
    byTimestamp: true,
    frameCount: 6,
    pts: [0, 1001, 2002, 3003, 4004, 6006],
    keyframes: [0, 4],
    keyframeSeekTs: [0, 4004],
    damagedFrames: [],
    firstPacketPos: 48,
    firstPacketDts: null,
    startSeekTs: -1001,
    spanTs: 7007,
  };
  t.same(unpackFrameIndex(JSON.parse(JSON.stringify(packFrameIndex(index)))), index);
});
