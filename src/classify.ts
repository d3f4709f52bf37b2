// Video in, labels out: decode and preprocess clips on the decode pool while the model's executor
// runs the network on the clips decoded before them.
import { checkSignal, throwIfAborted } from './abort';
import { Batcher } from './batcher';
import { Model } from './model';
import type { NativePreprocessOptions } from './native';
import { sampleClips } from './sampling';
import { DEFAULT_CLIPS_PER_VIDEO } from './sidecar';
import type { Tensor } from './tensor';
import { softmax, topK, type Prediction } from './topk';
import { nativePreprocessOptions, openVideo, readClipBatch } from './video';
import { checkInteger, checkOptions, checkString, describe, expectType } from './validate';

export interface ClassifyOptions {
  /** Clips per video, evenly spaced (default 5). */
  clipsPerVideo?: number;
  /** Frames per clip (default: the model's, 16). */
  clipLength?: number;
  /** Frame rate clips are sampled at (default: the model's, 15). */
  frameRate?: number;
  /** Classes to report, best first (default 5; numClasses gives the full probability vector). */
  topk?: number;
  /** Clips per forward pass (default: 1 on CPU, so decoding overlaps compute; all clips on CUDA). */
  batchSize?: number;
  /**
   * Aborts the classification: rejects (classifyVideos: throws from the iteration) with the signal's
   * reason; decodes and forward passes still queued never run, running ones' results are freed.
   */
  signal?: AbortSignal;
}

export interface Classification {
  /** Mean of the clips' softmax, top-k classes. */
  top: Prediction[];
  /** Clips the score averages. */
  clips: number;
}

export interface ClassifyVideosOptions extends ClassifyOptions {
  /** Videos decoded ahead of the one being classified (default 2). */
  prefetch?: number;
}

export interface VideoResult {
  path: string;
  top?: Prediction[];
  clips?: number;
  error?: Error;
}

interface Plan {
  clipsPerVideo: number;
  clipLength: number;
  frameRate: number;
  topk: number;
  batchSize: number;
  preprocess: NativePreprocessOptions;
  signal: AbortSignal | undefined;
}

interface PreparedVideo {
  clipCount: number;
  // Decoded, preprocessed batches, decoded one after another ahead of the forward passes.
  batches: Promise<Tensor>[];
}

// Who runs the clips: a model alone, or a batcher that shares its forward passes with other callers.
/** @internal */
export interface Runner {
  model: Model;
  batcher?: Batcher;
}

/** @internal */
export function runnerOf(value: unknown): Runner {
  if (value instanceof Batcher) return { model: value.model, batcher: value };
  if (value instanceof Model) return { model: value };
  throw new TypeError(`expected model to be a Model or a Batcher, got ${describe(value)}`);
}

function planOf({ model, batcher }: Runner, options: ClassifyOptions): Plan {
  const opts = checkOptions(options);
  const { preprocessing, numClasses, device } = model.info;
  const clipsPerVideo = checkInteger(opts.clipsPerVideo, 'options.clipsPerVideo', DEFAULT_CLIPS_PER_VIDEO, { min: 1, max: 10000 });
  const clipLength = checkInteger(opts.clipLength, 'options.clipLength', preprocessing.clipLength, { min: 1, max: 10000 });
  expectType(opts.frameRate === undefined || typeof opts.frameRate === 'number', 'options.frameRate', 'a number', opts.frameRate);
  const frameRate = (opts.frameRate as number | undefined) ?? preprocessing.frameRate;
  // As evaluate: a rate to resample to (sampleClips' 0, "the video's own rate", is not a classifier's input).
  if (!(frameRate > 0 && Number.isFinite(frameRate))) {
    throw new RangeError(`expected options.frameRate to be a positive number, got ${describe(frameRate)}`);
  }
  const topk = checkInteger(opts.topk, 'options.topk', 5, { min: 1 });
  const defaultBatch = device === 'cpu' ? 1 : clipsPerVideo;
  const batchSize = checkInteger(opts.batchSize, 'options.batchSize', defaultBatch, { min: 1, max: 10000 });
  if (batcher && batchSize > batcher.options.maxBatchSize && opts.batchSize !== undefined) {
    throw new RangeError(
      `expected options.batchSize to be at most the batcher's maxBatchSize ${batcher.options.maxBatchSize}, got ${batchSize}`,
    );
  }
  const signal = checkSignal(opts.signal);
  return {
    clipsPerVideo,
    clipLength,
    frameRate,
    topk: Math.min(topk, numClasses),
    batchSize: batcher ? Math.min(batchSize, batcher.options.maxBatchSize) : batchSize,
    preprocess: nativePreprocessOptions({ preprocessing }),
    signal,
  };
}

// A promise whose rejection is handled later (when awaited) must not count as unhandled meanwhile.
function deferRejection<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

async function prepareVideo(path: string, plan: Plan): Promise<PreparedVideo> {
  const reader = await openVideo(path, { signal: plan.signal });
  let clips: number[][];
  try {
    clips = sampleClips(reader.info, {
      clipLength: plan.clipLength,
      frameRate: plan.frameRate,
      clipsPerVideo: plan.clipsPerVideo,
    });
  } catch (error) {
    // (A video without frames never gets here: openVideo refuses it with ERR_VIDEO_DECODE.)
    reader.close();
    throw error;
  }
  const batches: Promise<Tensor>[] = [];
  let previous: Promise<unknown> = Promise.resolve();
  for (let start = 0; start < clips.length; start += plan.batchSize) {
    const batchClips = clips.slice(start, start + plan.batchSize);
    // One batch at a time per file (a decoder is single-threaded); the next starts when this is decoded.
    const batch = previous.then(() => readClipBatch(reader, batchClips, plan.preprocess, {}, plan.signal));
    batches.push(deferRejection(batch));
    previous = batch;
  }
  previous.finally(() => reader.close()).catch(() => {});
  return { clipCount: clips.length, batches };
}

// Logits of each decoded batch, in order. Through a batcher every batch is queued as soon as it is
// decoded (the batcher joins them with other callers' clips); a model alone runs one after another.
function logitsOf({ model, batcher }: Runner, batches: Promise<Tensor>[], signal: AbortSignal | undefined): (() => Promise<Tensor>)[] {
  const run = async (pending: Promise<Tensor>) => {
    const input = await pending;
    try {
      return await (batcher ? batcher.forward(input, { signal }) : model.forward(input, { signal }));
    } finally {
      input.dispose();
    }
  };
  if (!batcher) return batches.map((pending) => () => run(pending));
  const queued = batches.map((pending) => deferRejection(run(pending)));
  return queued.map((logits) => () => logits);
}

async function scoreVideo(runner: Runner, prepared: PreparedVideo, plan: Plan): Promise<Classification> {
  const { model } = runner;
  const sum = new Float64Array(model.info.numClasses);
  const results = logitsOf(runner, prepared.batches, plan.signal);
  let read = 0;
  try {
    for (const next of results) {
      read++;
      let logits = await next();
      if (logits.device !== 'cpu') {
        const onDevice = logits;
        logits = await onDevice.to('cpu');
        onDevice.dispose();
      }
      const values = logits.data() as Float32Array;
      const [rows, classes] = logits.shape;
      for (let row = 0; row < rows; row++) {
        const probabilities = softmax(values.subarray(row * classes, (row + 1) * classes));
        for (let c = 0; c < classes; c++) sum[c] += probabilities[c];
      }
      logits.dispose();
    }
    throwIfAborted(plan.signal);
  } finally {
    // On failure, free the logits a batcher still computes for batches not read.
    for (const unread of results.slice(read))
      if (runner.batcher)
        unread().then(
          (t) => t.dispose(),
          () => {},
        );
    // On failure, free the batches decoded ahead too.
    for (const pending of prepared.batches)
      pending.then(
        (t) => t.dispose(),
        () => {},
      );
  }
  for (let c = 0; c < sum.length; c++) sum[c] /= prepared.clipCount;
  return { top: topK(sum, model.info.labels, plan.topk), clips: prepared.clipCount };
}

/**
 * Classifies one video: `clipsPerVideo` clips evenly spaced over the video resampled to `frameRate`
 * (torchvision's UniformClipSampler), each preprocessed like torchvision's VideoClassification,
 * scored by the mean of the clips' softmax. Decoding of the next clips overlaps the network's work.
 * `model` may be a Batcher: the clips are then queued as they decode and share forward passes with
 * other callers' (batchSize is capped at its maxBatchSize).
 * @throws TypeError / RangeError (rejects) for bad arguments.
 * @throws TorchVideoError (rejects) with `path` for a file that cannot be opened or decoded.
 * @throws AbortError (rejects; the signal's reason) when options.signal aborts.
 */
export async function classifyVideo(model: Model | Batcher, path: string, options: ClassifyOptions = {}): Promise<Classification> {
  const runner = runnerOf(model);
  checkString(path, 'path');
  const plan = planOf(runner, options);
  throwIfAborted(plan.signal);
  return scoreVideo(runner, await prepareVideo(path, plan), plan);
}

/**
 * Classifies many videos, yielding one result per path in input order. A file that fails is an
 * entry with `error` and the rest go on. The next `prefetch` videos decode while one is classified.
 * @throws TypeError / RangeError for bad arguments (when iteration starts).
 * @throws AbortError (the signal's reason) from the iteration when options.signal aborts: an abort ends
 *   the iteration, it is not one video's failure.
 */
export async function* classifyVideos(
  model: Model | Batcher,
  paths: Iterable<string>,
  options: ClassifyVideosOptions = {},
): AsyncGenerator<VideoResult> {
  const runner = runnerOf(model);
  // A lone string is iterable too (by character): reject it rather than read 'a', '.', 'm', ...
  const iterable = paths !== null && typeof paths !== 'string' && typeof (paths as Iterable<string>)?.[Symbol.iterator] === 'function';
  expectType(iterable, 'paths', 'an iterable of paths (e.g. an array)', paths);
  const list = [...paths];
  list.forEach((p, i) => checkString(p, `paths[${i}]`));
  const prefetch = checkInteger(checkOptions(options).prefetch, 'options.prefetch', 2, { min: 0, max: 64 });
  const plan = planOf(runner, options);
  throwIfAborted(plan.signal);
  const prepared: Promise<PreparedVideo>[] = [];
  const startPreparing = (i: number) => {
    if (i < list.length && prepared[i] === undefined) prepared[i] = deferRejection(prepareVideo(list[i], plan));
  };
  try {
    for (let i = 0; i < list.length; i++) {
      for (let ahead = i; ahead <= i + prefetch; ahead++) startPreparing(ahead);
      let result: VideoResult;
      try {
        result = { path: list[i], ...(await scoreVideo(runner, await prepared[i], plan)) };
      } catch (error) {
        throwIfAborted(plan.signal);
        result = { path: list[i], error: error instanceof Error ? error : new Error(String(error)) };
      }
      delete prepared[i];
      yield result;
    }
  } finally {
    // The caller may stop early (break, return, throw): free what was decoded ahead for it.
    for (const pending of prepared) {
      pending
        ?.then((video) =>
          video.batches.forEach((batch) =>
            batch.then(
              (t) => t.dispose(),
              () => {},
            ),
          ),
        )
        .catch(() => {});
    }
  }
}
