// The checking of evaluate's options, in the order evaluate has always checked them (so the first bad
// option is the one named): those that need nothing loaded up front (checkEvaluateOptions), and the clip
// length and frame rate, whose defaults are the model's, once it is loaded (checkClipOptions).
import { jobTimeoutMs } from '../distributed/process-group';
import { Batcher } from '../batcher';
import { optionWithAlias } from '../deprecated';
import { Model } from '../model';
import { DEFAULT_CLIPS_PER_VIDEO, type Preprocessing } from '../sidecar';
import { checkInteger, checkOptions, expectRange, expectType } from '../validate';
import type { EvaluateOptions } from './types';

/** evaluate's options, checked, with their defaults. */
export interface CheckedOptions {
  crops: number;
  batchSize: number;
  preprocessOn: 'host' | 'device';
  decodeThreadsAsked?: number;
  threadsPerVideoAsked?: number;
  prefetchAsked?: number;
  clipsPerVideo: number;
  shortVideos: 'pad' | 'skip';
  /** `outDir` or its old name `out`. */
  outDir?: string;
  timeoutMs: number;
}

/**
 * Checks evaluate's options (all but clipLength and frameRate): the options as given, and those checked.
 * @throws TypeError / RangeError for a bad option, naming it.
 */
export function checkEvaluateOptions(options: EvaluateOptions): { opts: Partial<EvaluateOptions>; checked: CheckedOptions } {
  const opts = checkOptions(options) as Partial<EvaluateOptions>;
  expectType(
    opts.model instanceof Model || opts.model instanceof Batcher || typeof opts.model === 'string',
    'options.model',
    'a Model, a Batcher or the path of an export',
    opts.model,
  );
  expectType(
    typeof opts.data === 'string' || (typeof opts.data === 'object' && opts.data !== null),
    'options.data',
    'a dataset path or a Dataset',
    opts.data,
  );
  const crops = checkInteger(opts.crops, 'options.crops', 1, { min: 1, max: 3 });
  expectRange(crops !== 2, 'options.crops', '1 or 3', crops);
  const batchSize = checkInteger(opts.batchSize, 'options.batchSize', 8, { min: 1, max: 4096 });
  const preprocessOn = opts.preprocessOn ?? 'host';
  expectRange(preprocessOn === 'host' || preprocessOn === 'device', 'options.preprocessOn', "'host' or 'device'", preprocessOn);
  const decodeThreadsAsked =
    opts.decodeThreads === undefined ? undefined : checkInteger(opts.decodeThreads, 'options.decodeThreads', 1, { min: 1, max: 256 });
  const threadsPerVideoAsked =
    opts.threadsPerVideo === undefined ? undefined : checkInteger(opts.threadsPerVideo, 'options.threadsPerVideo', 1, { min: 0, max: 64 });
  const prefetchAsked = opts.prefetch === undefined ? undefined : checkInteger(opts.prefetch, 'options.prefetch', 2, { min: 0, max: 64 });
  const clipsPerVideo = checkInteger(opts.clipsPerVideo, 'options.clipsPerVideo', DEFAULT_CLIPS_PER_VIDEO, { min: 1, max: 10000 });
  const shortVideos = opts.shortVideos ?? 'pad';
  expectRange(shortVideos === 'pad' || shortVideos === 'skip', 'options.shortVideos', "'pad' or 'skip'", shortVideos);
  expectType(opts.onProgress === undefined || typeof opts.onProgress === 'function', 'options.onProgress', 'a function', opts.onProgress);
  expectType(opts.onVideo === undefined || typeof opts.onVideo === 'function', 'options.onVideo', 'a function', opts.onVideo);
  expectType(opts.signal === undefined || opts.signal instanceof AbortSignal, 'options.signal', 'an AbortSignal', opts.signal);
  expectType(opts.out === undefined || typeof opts.out === 'string', 'options.out', 'a folder path', opts.out);
  expectType(opts.outDir === undefined || typeof opts.outDir === 'string', 'options.outDir', 'a folder path', opts.outDir);
  const outDir = optionWithAlias<string>(opts, 'outDir', 'out', 'TORCHVIDEO_DEP_EVALUATE_OUT', 'options');
  if (opts.resume && outDir === undefined)
    throw new RangeError('expected options.outDir with options.resume: resume continues the job in outDir');
  expectType(opts.indexDir === undefined || typeof opts.indexDir === 'string', 'options.indexDir', 'a folder path', opts.indexDir);
  // Load options mean nothing for a Model already loaded: refused rather than ignored.
  if (opts.model instanceof Batcher) {
    // A batcher takes preprocessed clips, and each forward it runs holds at most maxBatchSize of them.
    expectRange(preprocessOn === 'host', 'options.preprocessOn', "'host' with a Batcher (it takes preprocessed clips)", preprocessOn);
    const { maxBatchSize } = opts.model.options;
    if (batchSize * crops > maxBatchSize) {
      throw new RangeError(
        `expected options.batchSize * options.crops to be at most the batcher's maxBatchSize ${maxBatchSize}, got ${batchSize} * ${crops}`,
      );
    }
  }
  if (opts.model instanceof Model || opts.model instanceof Batcher) {
    const given = (['threads', 'precision', 'half'] as const).find((key) => opts[key] !== undefined);
    if (given !== undefined) {
      throw new RangeError(
        `expected options.${given} only with a model given by path: a loaded Model keeps the options it was loaded with`,
      );
    }
  }
  if (opts.distributed !== undefined && opts.shard !== undefined) {
    throw new RangeError('expected options.shard or options.distributed, not both: a distributed job shards the set by rank');
  }
  const timeoutMs = jobTimeoutMs(opts);
  return {
    opts,
    checked: {
      crops,
      batchSize,
      preprocessOn,
      decodeThreadsAsked,
      threadsPerVideoAsked,
      prefetchAsked,
      clipsPerVideo,
      shortVideos,
      outDir,
      timeoutMs,
    },
  };
}

/**
 * The clip length and frame rate of the job: as given, else the model's preprocessing's.
 * @throws TypeError / RangeError for a bad clipLength or frameRate.
 */
export function checkClipOptions(opts: Partial<EvaluateOptions>, preprocessing: Preprocessing): { clipLength: number; frameRate: number } {
  const clipLength = checkInteger(opts.clipLength, 'options.clipLength', preprocessing.clipLength, { min: 1, max: 10000 });
  const frameRate = opts.frameRate ?? preprocessing.frameRate;
  expectRange(
    typeof frameRate === 'number' && frameRate > 0 && Number.isFinite(frameRate),
    'options.frameRate',
    'a positive number',
    frameRate,
  );
  return { clipLength, frameRate };
}
