'use strict';
// The evaluation metrics equal torchvision's evaluate() (clip and video acc@1/acc@5, torch.topk) and the
// MMAction2-style mean class accuracy and confusion matrix, computed by test/py/ref_metrics.py on the
// same logits; metrics do not depend on record order, and merged partial runs equal one run.
const fs = require('node:fs');
const path = require('node:path');
const t = require('tap');
const { videoRecord, metricsOf, softmaxRow, mergeRecords } = require('../dist/internal.js');
const { randomFloats, maxAbsDiff } = require('./helpers/numbers');
const { tempDir } = require('./helpers/paths');
const { pythonReference } = require('./helpers/python-reference');

// Probabilities are float64 softmax rounded to float32 here and float32 softmax in torch: ~1e-8 apart.
const TOLERANCE = 1e-6;

// Clips per video (1-5) and random logits, scaled so the softmax is far from uniform. Labels use only the
// first `labelClasses` classes, so some classes have no videos and some have several; the true class gets
// a bonus of 2.5, 1.5 or 0 in turn, so there are clips and videos right at top-1, only at top-5, and wrong.
function makeCase(numClasses, clipCounts, seed, labelClasses = numClasses) {
  const labels = clipCounts.map((_, v) => (v * 7 + 3) % labelClasses);
  const clipLogits = [];
  let offset = 0;
  const values = randomFloats(clipCounts.reduce((a, b) => a + b, 0) * numClasses, seed);
  for (const [v, clips] of clipCounts.entries()) {
    const perVideo = [];
    for (let c = 0; c < clips; c++, offset += numClasses) {
      const logits = values.slice(offset, offset + numClasses).map((x) => x * 3);
      logits[labels[v]] += [2.5, 1.5, 0][v % 3];
      perVideo.push(logits);
    }
    clipLogits.push(perVideo);
  }
  const classNames = Array.from({ length: numClasses }, (_, i) => `class ${i}`);
  return { numClasses, clipCounts, labels, clipLogits, classNames };
}

function recordsOf({ clipLogits, labels }) {
  return clipLogits.map((clips, v) =>
    videoRecord(
      `videos/${String(v).padStart(2, '0')}.mp4`,
      labels[v],
      clips.map((logits) => softmaxRow(logits)),
    ),
  );
}

function reference({ numClasses, clipCounts, labels, clipLogits }) {
  const dir = tempDir();
  try {
    const file = path.join(dir, 'logits.bin');
    const all = Float32Array.from(clipLogits.flat().flatMap((logits) => Array.from(logits)));
    fs.writeFileSync(file, Buffer.from(all.buffer));
    const { json, bytes } = pythonReference('ref_metrics.py', [
      '--logits',
      file,
      '--clips',
      clipCounts.join(','),
      '--labels',
      labels.join(','),
      '--classes',
      String(numClasses),
    ]);
    return { ...json, probs: new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function near(t, actual, expected, name) {
  t.ok(Math.abs(actual - expected) <= TOLERANCE, `${name}: ${actual} vs torch ${expected}`);
}

function checkAgainstReference(t, testCase, { strictlyBetween }) {
  const records = recordsOf(testCase);
  const metrics = metricsOf(records, testCase.classNames);
  const ref = reference(testCase);
  const { numClasses } = testCase;

  t.equal(metrics.clips, ref.clips, 'clips');
  t.equal(metrics.videos, ref.videos, 'videos');
  t.same(
    records.map((r) => r.clipHits1),
    ref.clip_hits1,
    'per-video clip top-1 hits',
  );
  t.same(
    records.map((r) => r.clipHits5),
    ref.clip_hits5,
    'per-video clip top-5 hits',
  );
  for (const name of ['clipAcc1', 'clipAcc5', 'videoAcc1', 'videoAcc5', 'meanClassAcc1']) {
    near(t, metrics[name], ref[name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)], name);
    if (strictlyBetween.includes(name)) t.ok(metrics[name] > 0 && metrics[name] < 1, `${name} is strictly between 0 and 1`);
  }
  t.same(metrics.confusion, ref.confusion, 'confusion matrix (rows true, columns predicted)');
  t.same(
    metrics.perClass.map((c) => c.videos),
    ref.confusion.map((row) => row.reduce((a, b) => a + b, 0)),
    'videos per class',
  );
  t.equal(metrics.perClass.length, numClasses, 'every class is listed');
  for (const [c, entry] of metrics.perClass.entries()) {
    t.equal(entry.label, testCase.classNames[c]);
    if (ref.per_class_acc1[c] === null) t.equal(entry.acc1, null, `${entry.label} has no videos: acc1 null`);
    else near(t, entry.acc1, ref.per_class_acc1[c], `${entry.label} acc1`);
  }
  const probs = Float32Array.from(records.flatMap((r) => Array.from(r.probs)));
  t.ok(maxAbsDiff(probs, ref.probs) <= TOLERANCE, `per-video mean probabilities within ${TOLERANCE}`);

  // MMAction2's own mean_class_accuracy also averages a 0 per class predicted without videos; it is the
  // same sum of per-class accuracies over the classes seen as either true or predicted.
  const seen = metrics.perClass.filter((c, i) => c.videos > 0 || metrics.confusion.some((row) => row[i] > 0));
  const mmaction2 = seen.reduce((total, c) => total + (c.acc1 ?? 0), 0) / seen.length;
  near(t, mmaction2, ref.mmaction2_mean_class_acc, "MMAction2's mean_class_accuracy from perClass and confusion");
  return { records, metrics, ref };
}

const MAIN = makeCase(10, [3, 1, 5, 2, 4, 5, 1, 3, 2], 9, 6);

t.test("9 videos, 10 classes: every metric equals torchvision's and MMAction2's", async (t) => {
  const { metrics, ref } = checkAgainstReference(t, MAIN, {
    strictlyBetween: ['clipAcc1', 'clipAcc5', 'videoAcc1', 'videoAcc5', 'meanClassAcc1'],
  });
  t.ok(
    metrics.perClass.some((c) => c.videos === 0),
    'some class has no videos (left out of meanClassAcc1)',
  );
  t.ok(
    metrics.perClass.some((c) => c.acc1 > 0 && c.acc1 < 1),
    'some class is partly right',
  );
  t.ok(metrics.videoAcc1 < metrics.videoAcc5, 'some video is right at top-5 only');
  t.not(
    ref.mmaction2_mean_class_acc,
    metrics.meanClassAcc1,
    `a class is predicted without videos: MMAction2's mean (${ref.mmaction2_mean_class_acc}) counts it as 0`,
  );
});

t.test('3 classes: top-5 is top-3', async (t) => {
  const { metrics, records } = checkAgainstReference(t, makeCase(3, [2, 4, 1, 3, 5, 2], 14), {
    strictlyBetween: ['clipAcc1', 'videoAcc1'],
  });
  t.equal(metrics.clipAcc5, 1);
  t.equal(metrics.videoAcc5, 1);
  t.ok(records.every((r) => r.clipHits5 === r.clips));
});

t.test('metrics do not depend on the order of the records', async (t) => {
  const records = recordsOf(MAIN);
  const expected = JSON.stringify(metricsOf(records, MAIN.classNames));
  const order = randomFloats(records.length, 99);
  for (let trial = 0; trial < 3; trial++) {
    const shuffled = records
      .map((r, i) => [order[(i + trial) % order.length], r])
      .sort((a, b) => a[0] - b[0])
      .map(([, r]) => r);
    t.not(shuffled.map((r) => r.path).join(), records.map((r) => r.path).join(), 'a different order');
    t.equal(JSON.stringify(metricsOf(shuffled, MAIN.classNames)), expected, 'the same numbers, bit for bit');
  }
  t.equal(JSON.stringify(metricsOf([...records].reverse(), MAIN.classNames)), expected, 'reversed');
});

t.test('merging three partial runs gives the metrics of one run', async (t) => {
  const records = recordsOf(MAIN);
  const parts = [0, 1, 2].map((p) => records.filter((_, i) => i % 3 === p));
  const merged = mergeRecords(parts);
  t.same(
    merged.map((r) => r.path),
    records.map((r) => r.path).sort(),
    'every video once, sorted by path',
  );
  t.equal(JSON.stringify(metricsOf(merged, MAIN.classNames)), JSON.stringify(metricsOf(records, MAIN.classNames)));
  t.same(mergeRecords([records, []]), records, 'an empty part adds nothing');
});

t.test('a video in two parts is a RangeError naming it', async (t) => {
  const records = recordsOf(MAIN);
  t.throws(() => mergeRecords([records.slice(0, 5), records.slice(4)]), {
    name: 'RangeError',
    message: /videos\/04\.mp4 was evaluated twice/,
  });
  t.throws(() => metricsOf([...records, records[2]], MAIN.classNames), { name: 'RangeError', message: /videos\/02\.mp4/ });
});

t.test('parts with different label lists do not merge', async (t) => {
  const a = recordsOf(MAIN);
  const b = recordsOf(makeCase(3, [1], 5)).map((r) => ({ ...r, path: 'other.mp4' }));
  t.throws(() => mergeRecords([a, b]), { name: 'RangeError', message: /different label lists/ });
  t.throws(() => metricsOf(a, MAIN.classNames.slice(0, 9)), RangeError, 'probabilities that do not fit the labels');
});

t.test('no videos is a RangeError', async (t) => {
  t.throws(() => metricsOf([], MAIN.classNames), { name: 'RangeError', message: 'no videos were evaluated' });
  t.throws(() => videoRecord('a.mp4', 0, []), RangeError, 'a video without clips');
  t.throws(() => videoRecord('a.mp4', 10, [new Float32Array(10)]), RangeError, 'a label outside the classes');
  t.throws(() => videoRecord('a.mp4', 0, [new Float32Array([NaN, 0, 1])]), RangeError, 'a NaN probability');
});

t.test('ties rank the lower class index first (as np.argmax)', async (t) => {
  // torch.topk on CPU has no tie rule (an all-equal row of 10 gives top-1 = 8), so this is ours.
  const uniform = new Float32Array(10).fill(0.1);
  const hits = (label) => {
    const r = videoRecord('tie.mp4', label, [uniform, uniform]);
    return [r.clipHits1, r.clipHits5];
  };
  t.same(hits(0), [2, 2]);
  t.same(hits(4), [0, 2]);
  t.same(hits(5), [0, 0]);
  const metrics = metricsOf([videoRecord('tie.mp4', 3, [uniform])], MAIN.classNames);
  t.equal(metrics.confusion[3][0], 1, 'predicted class 0');
  t.equal(metrics.videoAcc5, 1);
  t.equal(metrics.videoAcc1, 0);
});

t.test('softmaxRow is the float64 softmax, stable for large logits', async (t) => {
  const logits = new Float32Array([1000, 1001, 999]);
  const p = softmaxRow(logits);
  t.ok(p instanceof Float32Array);
  const e = [Math.exp(-1), 1, Math.exp(-2)];
  const sum = e[0] + e[1] + e[2];
  t.same(Array.from(p), Array.from(new Float32Array(e.map((x) => x / sum))));
});
