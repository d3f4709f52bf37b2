// torchvision's video-classification learning-rate schedule (references/video_classification/train.py),
// stepped once per iteration: a linear warm-up from lr x warmupDecay to lr over warmupEpochs, then
// lr x gamma^k after the k-th milestone epoch. In PyTorch it is
//   SequentialLR([LinearLR(start_factor=warmupDecay, total_iters=warmupEpochs*itersPerEpoch),
//                 MultiStepLR(milestones=[(m - warmupEpochs)*itersPerEpoch for m], gamma)],
//                milestones=[warmupEpochs*itersPerEpoch])
// whose schedulers update the rate recursively (lr_t from lr_{t-1}); this closed form is the same
// sequence up to the rounding those products accumulate (a few ulps). At the switch SequentialLR calls
// MultiStepLR.step(0), whose closed form gives lr x gamma^(milestones <= warmupEpochs): exactly lr at
// the end of the warm-up, and below it only for a milestone at or before the warm-up's end.
import { checkOptions, describe, expectRange, expectType } from '../validate';

export interface LearningRateScheduleOptions {
  /** The base learning rate (after warm-up, before any milestone). */
  lr: number;
  /** Iterations (optimizer steps) per epoch, >= 1. */
  itersPerEpoch: number;
  /** Epochs of linear warm-up (default 10); 0 starts at lr, as train.py without warm-up does. */
  warmupEpochs?: number;
  /** The warm-up's starting factor, in (0, 1] (default 0.001). */
  warmupDecay?: number;
  /** Epochs after which the rate is multiplied by gamma (default [20, 30, 40]). */
  milestones?: number[];
  /** The factor at each milestone (default 0.1). */
  gamma?: number;
}

function checkNumber(value: unknown, name: string, what: string, valid: (x: number) => boolean): number {
  expectType(typeof value === 'number', name, 'a number', value);
  expectRange(valid(value as number), name, what, value);
  return value as number;
}

const isCount = (x: number): boolean => Number.isInteger(x) && x >= 0;

/**
 * The learning rate of iteration `iteration` (0-based: the rate the step numbered `iteration` uses)
 * under torchvision's warm-up + multi-step schedule.
 * @throws TypeError for non-numbers; RangeError for a negative or fractional iteration, itersPerEpoch
 *   < 1, warmupEpochs or a milestone not an integer >= 0, warmupDecay outside (0, 1], lr or gamma
 *   negative or non-finite.
 */
export function learningRateAt(iteration: number, options: LearningRateScheduleOptions): number {
  checkNumber(iteration, 'iteration', 'an integer >= 0', isCount);
  expectType(typeof options === 'object' && options !== null, 'options', 'an object', options);
  const opts = checkOptions(options);
  const lr = checkNumber(opts.lr, 'options.lr', 'a finite number >= 0', (x) => Number.isFinite(x) && x >= 0);
  const itersPerEpoch = checkNumber(opts.itersPerEpoch, 'options.itersPerEpoch', 'an integer >= 1', (x) => Number.isInteger(x) && x >= 1);
  const warmupEpochs =
    opts.warmupEpochs === undefined ? 10 : checkNumber(opts.warmupEpochs, 'options.warmupEpochs', 'an integer >= 0', isCount);
  const warmupDecay =
    opts.warmupDecay === undefined
      ? 0.001
      : checkNumber(opts.warmupDecay, 'options.warmupDecay', 'a number in (0, 1]', (x) => x > 0 && x <= 1);
  const gamma =
    opts.gamma === undefined ? 0.1 : checkNumber(opts.gamma, 'options.gamma', 'a finite number >= 0', (x) => Number.isFinite(x) && x >= 0);
  const milestones = opts.milestones === undefined ? [20, 30, 40] : opts.milestones;
  if (!Array.isArray(milestones)) throw new TypeError(`expected options.milestones to be an array of epochs, got ${describe(milestones)}`);
  milestones.forEach((m, i) => checkNumber(m, `options.milestones[${i}]`, 'an integer >= 0', isCount));

  const warmupIters = warmupEpochs * itersPerEpoch;
  if (iteration < warmupIters) return lr * (warmupDecay + ((1 - warmupDecay) * iteration) / warmupIters);
  // MultiStepLR counts iterations from the end of the warm-up; a milestone at or before it applies
  // from the start (its position is <= 0).
  const sinceWarmup = iteration - warmupIters;
  const passed = (milestones as number[]).filter((m) => (m - warmupEpochs) * itersPerEpoch <= sinceWarmup).length;
  return lr * gamma ** passed;
}
