'use strict';
// learningRateAt is torchvision's per-iteration schedule: SequentialLR(LinearLR warm-up, MultiStepLR)
// as PyTorch itself computes it, over whole small schedules, within 1e-12 relative (PyTorch's
// schedulers update recursively, so their rates carry a few ulps of accumulated rounding).
const t = require('tap');
const { learningRateAt } = require('..');
const { runPython } = require('./helpers/training');

const RELATIVE = 1e-12;

const SCHEDULES = [
  // torchvision's recipe, shrunk: 10 warm-up epochs, milestones 20/30/40, 45 epochs.
  { lr: 0.01, itersPerEpoch: 3, warmupEpochs: 10, warmupDecay: 0.001, milestones: [20, 30, 40], gamma: 0.1, epochs: 45 },
  { lr: 0.64, itersPerEpoch: 7, warmupEpochs: 2, warmupDecay: 0.01, milestones: [4, 6], gamma: 0.5, epochs: 8 },
  // A milestone at the end of the warm-up applies from the switch on; repeated milestones compound.
  { lr: 0.1, itersPerEpoch: 4, warmupEpochs: 3, warmupDecay: 0.25, milestones: [3, 5, 5], gamma: 0.1, epochs: 7 },
  { lr: 0.02, itersPerEpoch: 1, warmupEpochs: 1, warmupDecay: 1, milestones: [2], gamma: 0.3, epochs: 4 },
];

for (const schedule of SCHEDULES) {
  const { epochs, ...options } = schedule;
  t.test(`equals torch's SequentialLR: ${JSON.stringify(options)}`, async (t) => {
    const iterations = epochs * options.itersPerEpoch;
    const reference = runPython('ref_lr_schedule.py', [
      '--lr', String(options.lr), '--iters-per-epoch', String(options.itersPerEpoch),
      '--warmup-epochs', String(options.warmupEpochs), '--warmup-decay', String(options.warmupDecay),
      '--milestones', options.milestones.join(','), '--gamma', String(options.gamma), '--iterations', String(iterations),
    ]); // prettier-ignore
    t.equal(reference.length, iterations);
    let worst = 0;
    let worstAt = -1;
    for (let i = 0; i < iterations; i++) {
      const ours = learningRateAt(i, options);
      const relative = reference[i] === 0 ? Math.abs(ours) : Math.abs(ours - reference[i]) / Math.abs(reference[i]);
      if (relative > worst) [worst, worstAt] = [relative, i];
    }
    t.ok(worst <= RELATIVE, `max relative difference ${worst.toExponential(2)} (iteration ${worstAt}) <= ${RELATIVE}`);
    const warmupEnd = options.warmupEpochs * options.itersPerEpoch;
    t.ok(Math.abs(learningRateAt(0, options) - options.lr * options.warmupDecay) <= RELATIVE * options.lr, 'starts at lr x warmupDecay');
    t.ok(Math.abs(learningRateAt(warmupEnd, options) - reference[warmupEnd]) <= RELATIVE * options.lr, 'the switch to MultiStepLR');
  });
}

t.test("defaults are torchvision's recipe", async (t) => {
  const itersPerEpoch = 2;
  t.equal(learningRateAt(0, { lr: 1, itersPerEpoch }), 0.001);
  t.equal(learningRateAt(20, { lr: 1, itersPerEpoch }), 1, 'lr at the end of 10 warm-up epochs');
  t.ok(Math.abs(learningRateAt(40, { lr: 1, itersPerEpoch }) - 0.1) < 1e-15, 'x0.1 from epoch 20');
  t.ok(Math.abs(learningRateAt(89, { lr: 1, itersPerEpoch }) - 0.001) < 1e-15, 'x0.001 from epoch 40');
  t.equal(learningRateAt(5, { lr: 0.5, itersPerEpoch: 1, warmupEpochs: 0, milestones: [3] }), 0.05, 'no warm-up: lr, then milestones');
});

t.test('bad calls', async (t) => {
  const ok = { lr: 0.1, itersPerEpoch: 10 };
  t.throws(() => learningRateAt(-1, ok), { name: 'RangeError', message: /expected iteration to be an integer >= 0, got number -1/ });
  t.throws(() => learningRateAt(1.5, ok), { name: 'RangeError', message: /iteration/ });
  t.throws(() => learningRateAt('1', ok), { name: 'TypeError', message: /expected iteration to be a number/ });
  t.throws(() => learningRateAt(0), { name: 'TypeError', message: /expected options to be an object/ });
  t.throws(() => learningRateAt(0, { itersPerEpoch: 1 }), { name: 'TypeError', message: /options\.lr/ });
  t.throws(() => learningRateAt(0, { lr: -1, itersPerEpoch: 1 }), {
    name: 'RangeError',
    message: /options\.lr to be a finite number >= 0/,
  });
  t.throws(() => learningRateAt(0, { lr: 1, itersPerEpoch: 0 }), {
    name: 'RangeError',
    message: /options\.itersPerEpoch to be an integer >= 1/,
  });
  t.throws(() => learningRateAt(0, { ...ok, warmupDecay: 0 }), {
    name: 'RangeError',
    message: /options\.warmupDecay to be a number in \(0, 1\]/,
  });
  t.throws(() => learningRateAt(0, { ...ok, milestones: [20, -1] }), { name: 'RangeError', message: /options\.milestones\[1\]/ });
  t.throws(() => learningRateAt(0, { ...ok, milestones: 20 }), { name: 'TypeError', message: /options\.milestones to be an array/ });
  t.throws(() => learningRateAt(0, { ...ok, gamma: Infinity }), { name: 'RangeError', message: /options\.gamma/ });
});
