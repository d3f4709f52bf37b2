import { abortable, checkSignal } from './abort';
import { TorchVideoError, withCallSite, withPath } from './errors';
import {
  native,
  type NativeClipBatchOutput,
  type NativeFrameIndex,
  type NativeOpenOptions,
  type NativePreprocessOptions,
  type NativeVideoInfo,
  type NativeVideoReader,
} from './native';
import { DEFAULT_PREPROCESSING } from './sidecar';
import type { Preprocessing, VideoInfo } from './types';

export type { VideoInfo } from './types';
import { EpochRandom, drawTrainCrop } from './train/clip-sampler';
import { Tensor, nativeTensorOf } from './tensor';
import { checkBoolean, checkInteger, checkOptions, checkString, expectRange, expectType } from './validate';

export interface OpenVideoOptions {
  /** Aborts the open: rejects at once with the signal's reason; an open already running finishes and its reader is closed. */
  signal?: AbortSignal;
}

export interface ReadFramesOptions {
  /** Aborts the read: rejects at once with the signal's reason; a read still queued never runs, a running one's frames are freed. */
  signal?: AbortSignal;
}

// The reader's native handle for the rest of the package (classify's batched reads), set by
// VideoReader's static block: users never see it.
let nativeReaderOf: (reader: VideoReader) => NativeVideoReader;

/** An open video file. Decoding runs on a decode thread pool, never on the JS thread. */
export class VideoReader {
  #native: NativeVideoReader | undefined;
  readonly path: string;
  readonly info: Readonly<VideoInfo>;

  /** @internal Use openVideo(). */
  constructor(handle: NativeVideoReader, path: string) {
    this.#native = handle;
    this.path = path;
    const { durationSec, fps, frameCount, width, height, codec }: NativeVideoInfo = handle.info;
    this.info = Object.freeze({ durationSec, fps, frameCount, width, height, codec });
  }

  get closed(): boolean {
    return this.#native === undefined;
  }

  #handle(): NativeVideoReader {
    if (!this.#native) throw new TorchVideoError(`video reader is closed: '${this.path}'`, 'ERR_DISPOSED');
    return this.#native;
  }

  /**
   * The frames at `indices` (presentation order, any order, repeats allowed) as uint8 (T, H, W, 3) RGB.
   * @throws TypeError / RangeError (rejects) for bad indices, one past the last frame included.
   * @throws TorchVideoError (rejects) ERR_VIDEO_DECODE when a frame cannot be decoded, ERR_DISPOSED
   *   after close().
   * @throws TypeError (rejects) when options.signal is not an AbortSignal.
   * @throws AbortError (rejects; the signal's reason) when options.signal aborts before the frames arrive.
   */
  async readFrames(indices: number[], options: ReadFramesOptions = {}): Promise<Tensor> {
    const callSite = new Error();
    const signal = checkSignal(checkOptions(options).signal);
    expectType(Array.isArray(indices), 'indices', 'an array of frame indices', indices);
    indices.forEach((index, i) => checkInteger(index, `indices[${i}]`, undefined, { min: 0, max: Math.max(0, this.info.frameCount - 1) }));
    expectRange(indices.length > 0, 'indices', 'a non-empty array', indices);
    const handle = this.#handle();
    const frames = abortable(
      signal,
      (cancel) => handle.readFrames(indices, cancel ? { cancel } : undefined),
      (dropped) => dropped.dispose(),
    );
    return new Tensor(await withCallSite(withPath(frames, this.path), callSite));
  }

  static {
    nativeReaderOf = (reader) => reader.#handle();
  }

  /** Closes the file. Reads already running finish first. Idempotent. */
  close(): void {
    this.#native?.close();
    this.#native = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * @internal Decodes and preprocesses several clips of one video in one native job:
 * float32 (K, 3, T, crop, crop).
 */
export async function readClipBatch(
  reader: VideoReader,
  clips: number[][],
  options: NativePreprocessOptions,
  output: NativeClipBatchOutput = {},
  signal?: AbortSignal,
): Promise<Tensor> {
  const handle = nativeReaderOf(reader);
  const batch = abortable(
    signal,
    (cancel) => handle.readClips(clips, options, cancel ? { ...output, cancel } : output),
    (dropped) => dropped.dispose(),
  );
  return new Tensor(await withPath(batch, reader.path));
}

/** @internal What demuxing the reader's file found, for the metadata index to cache. */
export function frameIndexOf(reader: VideoReader): NativeFrameIndex {
  return nativeReaderOf(reader).frameIndex;
}

/**
 * @internal openVideo with the evaluation pipeline's knobs: FFmpeg threads per file, and a cached
 * frame index so the file's packets are not demuxed again.
 */
export async function openVideoWith(path: string, options: NativeOpenOptions, signal?: AbortSignal): Promise<VideoReader> {
  const callSite = new Error();
  checkString(path, 'path');
  const opened = abortable(
    signal,
    (cancel) => native.VideoReader.open(path, cancel ? { ...options, cancel } : options),
    (dropped) => dropped.close(),
  );
  const handle = await withCallSite(withPath(opened, path), callSite);
  return new VideoReader(handle, path);
}

/**
 * Opens a video file (the container is found from its content, not its extension) and reads its
 * metadata, off the JS thread.
 * @throws TypeError / RangeError (rejects) for a bad path argument.
 * @throws TorchVideoError (rejects) with `path` set: ERR_FILE_NOT_FOUND, ERR_NOT_A_FILE, ERR_VIDEO_OPEN
 *   (not a video, empty, truncated), ERR_NO_VIDEO_STREAM (audio only), ERR_VIDEO_DECODE (no decoder).
 * @throws TypeError (rejects) when options.signal is not an AbortSignal.
 * @throws AbortError (rejects; the signal's reason) when options.signal aborts before the reader is ready.
 */
export async function openVideo(path: string, options: OpenVideoOptions = {}): Promise<VideoReader> {
  const signal = checkSignal(checkOptions(options).signal);
  return openVideoWith(path, {}, signal);
}

export interface PreprocessOptions {
  /**
   * torchvision's training preset (VideoClassificationPresetTrain, what fineTune trains with) instead of
   * the evaluation transform: float resize (not rounded to uint8), a horizontal flip with p 0.5 and a
   * random crop (default false).
   */
  train?: boolean;
  /** Seed of the training crop/flip, drawn as fineTune's sampler draws them (default: a random seed). */
  seed?: number;
  /** Override torchvision's defaults (a model's `info.preprocessing` fits here). */
  preprocessing?: Partial<Preprocessing>;
}

/** @internal The native form of the preprocessing options; with `train`, one clip's training draws. */
export function nativePreprocessOptions(options: PreprocessOptions = {}): NativePreprocessOptions {
  const opts = checkOptions(options);
  const train = checkBoolean(opts.train, 'options.train', false);
  const seed = opts.seed === undefined ? undefined : checkInteger(opts.seed, 'options.seed', undefined, { min: 0, max: MAX_SEED });
  const config = { ...DEFAULT_PREPROCESSING, ...(checkOptions(opts.preprocessing, 'options.preprocessing') as Partial<Preprocessing>) };
  const [cropHeight, cropWidth] = config.cropSize;
  expectRange(cropHeight === cropWidth, 'options.preprocessing.cropSize', 'a square crop', config.cropSize);
  const [resizeHeight, resizeWidth] = config.resizeSize;
  const native: NativePreprocessOptions = { resizeHeight, resizeWidth, cropSize: cropHeight, mean: [...config.mean], std: [...config.std] };
  if (!train) return native;
  expectRange(
    cropHeight <= resizeHeight && cropHeight <= resizeWidth,
    'options.preprocessing.cropSize',
    `a crop that fits the resized ${resizeHeight}x${resizeWidth} frame for training`,
    config.cropSize,
  );
  // The training sampler's generator and order of draws (flip, top, left), so a seed here augments a
  // clip the way fineTune would.
  const random = new EpochRandom(seed ?? Math.floor(Math.random() * (MAX_SEED + 1)), 0);
  return { ...native, trainDraws: [drawTrainCrop(random, [resizeHeight, resizeWidth], cropHeight)] };
}

// The training generator keeps 32 bits of its seed.
const MAX_SEED = 0xffffffff;

/**
 * torchvision 0.14's VideoClassification(crop_size=(112, 112), resize_size=(128, 171)) on uint8
 * (T, H, W, 3) RGB frames: resize to exactly 128x171 (bilinear, no antialias, rounded back to uint8),
 * center crop 112, /255, normalize; returns float32 (3, T, 112, 112). With `train`, torchvision's
 * training preset (VideoClassificationPresetTrain) instead: /255, resize in float, a horizontal flip
 * with p 0.5, normalize, a random 112 crop, drawn from `seed` as fineTune draws its clips' crops.
 * @throws TypeError (rejects) when frames is not a uint8 Tensor or an option has the wrong type; RangeError
 *   for a bad shape, a seed outside [0, 2^32), a non-square crop or, with `train`, a crop larger than the
 *   resized frame.
 */
export async function preprocess(frames: Tensor, options: PreprocessOptions = {}): Promise<Tensor> {
  const callSite = new Error();
  const handle = nativeTensorOf(frames, 'frames');
  const nativeOptions = nativePreprocessOptions(options);
  return new Tensor(await withCallSite(native.preprocess(handle, nativeOptions), callSite));
}
