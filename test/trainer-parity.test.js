'use strict';
// A training step through torchvideo equals the same step in PyTorch: the same export loaded with
// torch.jit.load in Python, train mode, CrossEntropyLoss, torch.optim.SGD(lr, momentum, weight_decay).
// The loss of each step and every parameter and buffer after steps 1 and 3 (momentum at work) agree
// within 1e-5, and the steps move the weights far more than that.
const path = require('node:path');
const fs = require('node:fs');
const t = require('tap');
const { Trainer } = require('..');
const { modelPath, tempDir } = require('./helpers/paths');
const { clipsTensor, labelsTensor, referenceSteps } = require('./helpers/training');

const TOLERANCE = 1e-5;
// Large enough that one step moves some weight by far more than TOLERANCE.
const LR = 0.2;
const MOMENTUM = 0.9;
const WEIGHT_DECAY = 1e-4;

const CASES = [
  // The export's own 400-class fc, trained as is.
  { arch: 'r3d_18', numClasses: 400, labels: [3, 397] },
  // A new 5-class fc: PyTorch starts from the trainer's export made right after create, so the
  // check does not rest on both sides drawing the same random numbers.
  { arch: 'r3d_18', numClasses: 5, labels: [1, 4] },
  { arch: 'r2plus1d_18', numClasses: 5, labels: [0, 2] },
];

for (const { arch, numClasses, labels: labelValues } of CASES) {
  t.test(`${arch}, ${numClasses} classes: 3 SGD steps equal PyTorch's`, async (t) => {
    const dir = tempDir();
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const trainer = await Trainer.create({
      model: modelPath(arch),
      numClasses,
      lr: LR,
      momentum: MOMENTUM,
      weightDecay: WEIGHT_DECAY,
      seed: 5,
    });
    t.teardown(() => trainer.dispose());
    t.equal(trainer.info.arch, arch);
    t.equal(trainer.info.numClasses, numClasses);
    let start = modelPath(arch);
    if (numClasses !== 400) {
      start = path.join(dir, 'start.pt');
      await trainer.exportModel(start);
    }
    const clips = clipsTensor();
    const labels = labelsTensor(labelValues);
    const results = [];
    const afterStep = { 1: path.join(dir, 'step1.pt'), 3: path.join(dir, 'step3.pt') };
    for (let step = 1; step <= 3; step++) {
      results.push(await trainer.step(clips, labels));
      if (afterStep[step]) await trainer.exportModel(afterStep[step]);
    }
    const reference = referenceSteps(dir, {
      model: start,
      clips,
      labels,
      steps: 3,
      lr: LR,
      momentum: MOMENTUM,
      weightDecay: WEIGHT_DECAY,
      compare: afterStep,
    });
    for (let i = 0; i < 3; i++) {
      const diff = Math.abs(results[i].loss - reference.losses[i]);
      t.ok(
        diff <= TOLERANCE,
        `step ${i + 1} loss ${results[i].loss.toFixed(6)} vs PyTorch ${reference.losses[i].toFixed(6)} (diff ${diff.toExponential(2)})`,
      );
      t.equal(results[i].correct, reference.corrects[i], `step ${i + 1} correct`);
    }
    for (const step of Object.keys(afterStep)) {
      const { parameters, buffers, worst, missing, update } = reference.compare[step];
      t.same(missing, [], `after step ${step}: the same parameter and buffer names and shapes`);
      t.ok(
        parameters <= TOLERANCE,
        `after step ${step}: every parameter within ${TOLERANCE} (max ${parameters.toExponential(2)}, at ${worst})`,
      );
      t.ok(buffers <= TOLERANCE, `after step ${step}: every buffer within ${TOLERANCE} (max ${buffers.toExponential(2)})`);
      t.ok(update > 100 * TOLERANCE, `after step ${step}: the steps moved a weight by ${update.toExponential(2)}`);
    }
  });
}
