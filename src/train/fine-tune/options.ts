// fineTune()'s options, checked and given their defaults (torchvision's recipe) before anything else runs,
// and the job options: what defines a run, recorded in checkpoint.json, which every rank of a job and every
// resume of a run must agree on. The few options that depend on the data (numClasses) or on rank 0 (the
// seed) are checked later, where they are known, so the checks and their errors come in the same order.
import * as path from 'node:path';
import { jobTimeoutMs, type DistributedSpec } from '../../distributed/process-group';
import type { RendezvousOptions } from '../../distributed/rendezvous';
import type { Dataset } from '../../eval/dataset';
import { checkBoolean, checkInteger, checkOptions, checkRate, checkString, expectRange, expectType } from '../../validate';
import type { FineTuneEpoch, FineTuneOptions, FineTuneProgress } from './types';

/** The training recipe: what both the checked options and a run's job options hold. */
interface TrainingRecipe {
  model: string;
  epochs: number;
  batchSize: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  warmupEpochs: number;
  warmupDecay: number;
  gamma: number;
  milestones: number[];
  clipLength: number;
  frameRate: number;
  clipsPerVideo: number;
  freezeBackbone: boolean;
  amp: boolean;
  hflipProb: number;
}

/** FineTuneOptions checked, with their defaults. */
export interface ResolvedOptions extends TrainingRecipe {
  /** Absolute. */
  outDir: string;
  device: string;
  resume: boolean;
  checkpointEvery: number | undefined;
  prefetch: number;
  onProgress: ((progress: FineTuneProgress) => void) | undefined;
  onEpoch: ((epoch: FineTuneEpoch) => void) | undefined;
  signal: AbortSignal | undefined;
  indexDir: string | undefined;
  train: string | Dataset;
  val: string | Dataset;
  timeoutMs: number;
  distributed: DistributedSpec | undefined;
  rendezvous: RendezvousOptions | undefined;
  /** Unchecked: checked once the training set (numClasses) or rank 0 (seed) is known. */
  numClasses: unknown;
  seed: unknown;
  threads: number | undefined;
}

/**
 * Checks fineTune()'s options and fills in the defaults.
 * @throws TypeError / RangeError for a bad option, named.
 */
export function resolveOptions(options: FineTuneOptions): ResolvedOptions {
  const opts = checkOptions(options) as Partial<FineTuneOptions>;
  const model = checkString(opts.model, 'options.model');
  const outDir = path.resolve(checkString(opts.outDir, 'options.outDir'));
  const epochs = checkInteger(opts.epochs, 'options.epochs', 45, { min: 1, max: 100000 });
  const batchSize = checkInteger(opts.batchSize, 'options.batchSize', 16, { min: 1, max: 4096 });
  const lr = checkRate(opts.lr, 'options.lr', 0.01);
  const momentum = checkRate(opts.momentum, 'options.momentum', 0.9);
  const weightDecay = checkRate(opts.weightDecay, 'options.weightDecay', 1e-4);
  const warmupEpochs = checkInteger(opts.warmupEpochs, 'options.warmupEpochs', 10, { min: 0, max: 100000 });
  const warmupDecay = checkRate(opts.warmupDecay, 'options.warmupDecay', 0.001);
  const gamma = checkRate(opts.gamma, 'options.gamma', 0.1);
  const milestones = opts.milestones ?? [20, 30, 40];
  expectType(Array.isArray(milestones), 'options.milestones', 'an array of epochs', milestones);
  milestones.forEach((m, i) => checkInteger(m, `options.milestones[${i}]`, undefined, { min: 0, max: 100000 }));
  const clipLength = checkInteger(opts.clipLength, 'options.clipLength', 16, { min: 1, max: 10000 });
  const frameRate = opts.frameRate ?? 15;
  expectRange(
    typeof frameRate === 'number' && frameRate > 0 && Number.isFinite(frameRate),
    'options.frameRate',
    'a positive number',
    frameRate,
  );
  const clipsPerVideo = checkInteger(opts.clipsPerVideo, 'options.clipsPerVideo', 5, { min: 1, max: 10000 });
  const freezeBackbone = checkBoolean(opts.freezeBackbone, 'options.freezeBackbone', false);
  const amp = checkBoolean(opts.amp, 'options.amp', false);
  const hflipProb = checkRate(opts.hflipProb, 'options.hflipProb', 0.5);
  expectRange(hflipProb <= 1, 'options.hflipProb', 'a probability in [0, 1]', hflipProb);
  const device = opts.device ?? 'cpu';
  const resume = checkBoolean(opts.resume, 'options.resume', false);
  const checkpointEvery =
    opts.checkpointEvery === undefined ? undefined : checkInteger(opts.checkpointEvery, 'options.checkpointEvery', undefined, { min: 1 });
  const prefetch = checkInteger(opts.prefetch, 'options.prefetch', 2, { min: 0, max: 64 });
  expectType(opts.onProgress === undefined || typeof opts.onProgress === 'function', 'options.onProgress', 'a function', opts.onProgress);
  expectType(opts.onEpoch === undefined || typeof opts.onEpoch === 'function', 'options.onEpoch', 'a function', opts.onEpoch);
  expectType(opts.signal === undefined || opts.signal instanceof AbortSignal, 'options.signal', 'an AbortSignal', opts.signal);
  const indexDir = opts.indexDir === undefined ? undefined : checkString(opts.indexDir, 'options.indexDir');
  expectType(
    typeof opts.train === 'string' || (typeof opts.train === 'object' && opts.train !== null),
    'options.train',
    'a dataset path or a Dataset',
    opts.train,
  );
  expectType(
    typeof opts.val === 'string' || (typeof opts.val === 'object' && opts.val !== null),
    'options.val',
    'a dataset path or a Dataset',
    opts.val,
  );
  const timeoutMs = jobTimeoutMs(opts);
  return {
    model,
    outDir,
    epochs,
    batchSize,
    lr,
    momentum,
    weightDecay,
    warmupEpochs,
    warmupDecay,
    gamma,
    milestones,
    clipLength,
    frameRate,
    clipsPerVideo,
    freezeBackbone,
    amp,
    hflipProb,
    device,
    resume,
    checkpointEvery,
    prefetch,
    onProgress: opts.onProgress,
    onEpoch: opts.onEpoch,
    signal: opts.signal,
    indexDir,
    train: opts.train as string | Dataset,
    val: opts.val as string | Dataset,
    timeoutMs,
    distributed: opts.distributed,
    rendezvous: opts.rendezvous,
    numClasses: opts.numClasses,
    seed: opts.seed,
    threads: opts.threads,
  };
}

// What defines a run: a resume must agree on all of it.
export interface JobOptions extends TrainingRecipe {
  numClasses: number;
  labels: string[];
  seed: number;
  /** Ranks of the job (1 alone): each rank's share of an epoch, and so a position in it, depends on it. */
  worldSize: number;
}

/** The job options of a run of `opts` on `numClasses` classes named `labels`, with `seed`, over `worldSize` ranks. */
export function jobOptionsOf(
  opts: ResolvedOptions,
  { numClasses, labels, seed, worldSize }: { numClasses: number; labels: string[]; seed: number; worldSize: number },
): JobOptions {
  return {
    model: path.resolve(opts.model),
    numClasses,
    labels,
    epochs: opts.epochs,
    batchSize: opts.batchSize,
    lr: opts.lr,
    momentum: opts.momentum,
    weightDecay: opts.weightDecay,
    warmupEpochs: opts.warmupEpochs,
    warmupDecay: opts.warmupDecay,
    milestones: [...opts.milestones],
    gamma: opts.gamma,
    clipLength: opts.clipLength,
    frameRate: opts.frameRate,
    clipsPerVideo: opts.clipsPerVideo,
    freezeBackbone: opts.freezeBackbone,
    hflipProb: opts.hflipProb,
    amp: opts.amp,
    seed,
    worldSize,
  };
}

function differingOption(a: JobOptions, b: JobOptions): keyof JobOptions | undefined {
  for (const key of Object.keys(a) as (keyof JobOptions)[]) {
    if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) return key;
  }
  return undefined;
}

/**
 * Checks that every rank runs the job of rank 0 (`jobs[r]` is rank r's; the model's path may differ).
 * @throws RangeError naming the first rank and option that differ.
 */
export function checkRanksAgree(jobs: JobOptions[]): void {
  jobs.forEach((other, r) => {
    const key = differingOption({ ...jobs[0], model: '' }, { ...other, model: '' });
    if (key !== undefined) {
      throw new RangeError(
        `rank ${r}'s options differ from rank 0's: ${key} is ${JSON.stringify(other[key])} there, ${JSON.stringify(jobs[0][key])} on rank 0`,
      );
    }
  });
}

/**
 * Checks that a resume of the run in `outDir` (recorded with `previous`) has its options (`job`).
 * @throws RangeError naming the first option that differs.
 */
export function checkResumeAgrees(outDir: string, previous: JobOptions, job: JobOptions): void {
  // Runs from before the distributed release did not record it: they ran alone.
  previous.worldSize ??= 1;
  const key = differingOption(previous, job);
  if (key !== undefined) {
    throw new RangeError(
      `cannot resume the run in '${outDir}' with other options: ${key} was ${JSON.stringify(previous[key])}, now ${JSON.stringify(job[key])}`,
    );
  }
}
