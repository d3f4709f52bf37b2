// The whole native surface, declared once. Only src/ files import this; users never see it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { inspect } from 'node:util';
import { isMainThread } from 'node:worker_threads';
import { TorchVideoError } from './errors';
import type { BatcherStats, Preprocessing, TrainDraw, TrainerInfo, TypedArray, VideoInfo } from './types';

export interface NativeTensor {
  readonly shape: number[];
  readonly dtype: string;
  readonly device: string;
  readonly disposed: boolean;
  data(): ArrayBuffer;
  to(device: string): Promise<NativeTensor>;
  dispose(): void;
}

export interface NativeModelInfo {
  arch: string;
  numClasses: number | null;
  parameters: number;
  device: string;
  optimized: boolean;
}

/** Every field is required: src/model.ts owns the defaults. */
export interface NativeModelOptions {
  device: string;
  optimize: boolean;
  warmup: boolean;
  half: boolean;
  bf16: boolean;
  quantized: boolean;
  threads: number;
  warmupShape: number[];
  cancel?: NativeCancelToken;
}

/** binding/cancel.h: a flag a queued job checks before it runs (src/abort.ts raises it). */
export type NativeCancelToken = { readonly __brand: 'NativeCancelToken' };

export interface NativeModel {
  readonly info: NativeModelInfo;
  readonly disposed: boolean;
  /** With `preprocess`, the inputs are uint8 (K, T, H, W, 3) frames, preprocessed on the model's device. */
  forward(
    input: NativeTensor | NativeTensor[],
    options?: { preprocess?: NativePreprocessOptions; cancel?: NativeCancelToken },
  ): Promise<NativeTensor>;
  dispose(): void;
  /** A dynamic batcher over this network (cpp/serving/batcher.h); `onBatch` is called after each forward pass. */
  batcher(
    options: { maxBatchSize: number; maxDelayMs: number; maxQueueClips: number },
    onBatch?: (clips: number, requests: number, computeMs: number, queueMs: Float64Array) => void,
  ): NativeBatcher;
}

/** binding/batcher.h */
export interface NativeBatcher {
  forward(clips: NativeTensor, id: number, high: boolean, timeoutMs: number | undefined): Promise<NativeTensor>;
  /** True when the request was still queued: it is rejected and never runs. */
  cancel(id: number): boolean;
  close(): void;
  stats(): BatcherStats;
  queuedClips(): number;
  dispose(): void;
}

/** cpp/video/frame_index.h: what demuxing a video's packets found (timestamps in the stream's time base). */
export interface NativeFrameIndex {
  byTimestamp: boolean;
  frameCount: number;
  pts: number[];
  keyframes: number[];
  keyframeSeekTs: number[];
  damagedFrames: number[];
  firstPacketPos: number;
  firstPacketDts: number | null;
  startSeekTs: number;
  spanTs: number;
}

export interface NativeOpenOptions {
  /** FFmpeg threads for this file (0: one per core). */
  threads?: number;
  /** The index an earlier open of the unchanged file gave: skips demuxing every packet. */
  frameIndex?: NativeFrameIndex;
  /** false: decode every frame between keyframes (the decode bench's baseline); default true. */
  skipUnwanted?: boolean;
  cancel?: NativeCancelToken;
}

/** cpp/video/clip_batch.h ClipBatchOutput. */
export interface NativeClipBatchOutput {
  /** The decoded frames, uint8 (K, T, H, W, 3), instead of preprocessed clips. */
  raw?: boolean;
  /** Not an output option: the call's cancel flag (src/abort.ts). */
  cancel?: NativeCancelToken;
  /** In page-locked memory (CUDA only) for an asynchronous copy to the GPU. */
  pinned?: boolean;
}

/** Every field is required: src/train/trainer.ts owns the defaults. */
export interface NativeTrainerOptions {
  device: string;
  numClasses: number;
  labels: string[];
  momentum: number;
  weightDecay: number;
  freezeBackbone: boolean;
  amp: boolean;
  seed: number;
  threads: number;
}

/** TrainerInfo (src/types.ts) as the addon reports it: without the preprocessing (read from the metadata). */
export type NativeTrainerInfo = Omit<TrainerInfo, 'preprocessing'> & {
  /** From the checkpoint a restored trainer was read from; null for a new trainer. */
  learningRate: number | null;
  metadata: string | null;
};

export interface NativeStepResult {
  loss: number;
  correct: number;
  /** False when AMP found non-finite gradients and skipped the update. */
  applied: boolean;
  buckets: number;
  bucketsDuringBackward: number;
  allreduceExposedMs: number;
}

export interface NativeTrainer {
  readonly info: NativeTrainerInfo;
  readonly disposed: boolean;
  step(
    clips: NativeTensor,
    labels: NativeTensor,
    learningRate: number,
    options?: { cancel?: NativeCancelToken },
  ): Promise<NativeStepResult>;
  predict(clips: NativeTensor): Promise<NativeTensor>;
  exportModel(path: string): Promise<void>;
  saveCheckpoint(path: string, learningRate: number, metadata: string): Promise<void>;
  setDistributed(group: NativeProcessGroup, options: { overlap?: boolean; bucketBytes?: number; firstBucketBytes?: number }): Promise<void>;
  syncBuffers(): Promise<void>;
  dispose(): void;
}

export interface NativeGroupOptions {
  rank: number;
  worldSize: number;
  masterAddr: string;
  masterPort: number;
  agentStore: boolean;
  storePrefix: string;
  timeoutMs: number;
  device: string;
  /** Empty or absent: NCCL on CUDA where built with it, else Gloo. */
  backend?: string;
  cancel?: NativeCancelToken;
}

export interface NativeProcessGroup {
  readonly rank: number;
  readonly worldSize: number;
  readonly backend: string;
  /** What this rank exposes on the network ('' when nothing listens beyond loopback). */
  readonly exposure: string;
  allreduceSum(values: Float64Array, what: string): Promise<Float64Array>;
  allgather(value: string, what: string): Promise<string[]>;
  barrier(what: string): Promise<void>;
  dispose(): void;
}

/** What the native reader reports: the public VideoInfo (src/types.ts). */
export type NativeVideoInfo = VideoInfo;

export interface NativeVideoReader {
  readonly info: NativeVideoInfo;
  readonly closed: boolean;
  readFrames(indices: number[], options?: { cancel?: NativeCancelToken }): Promise<NativeTensor>;
  readonly frameIndex: NativeFrameIndex;
  /** Frames the codec produced since opening, and whether unwanted non-reference frames are skipped. */
  readonly decodeStats: { framesDecoded: number; skipsUnwanted: boolean; planFallbacks: number };
  readClips(clips: number[][], options: NativePreprocessOptions, output?: NativeClipBatchOutput): Promise<NativeTensor>;
  close(): void;
}

export interface NativeStreamOptions {
  clipLength: number;
  frameRate: number;
  hopSec: number;
  realtime: boolean;
  stallTimeoutMs: number;
  preprocess: NativePreprocessOptions;
  /** Reopenings in a row before giving up; -1: without end. */
  reconnectRetries: number;
  reconnectInitialDelayMs: number;
  reconnectMaxDelayMs: number;
}

/** cpp/video/stream_reader.h's StreamEvent. */
export interface NativeStreamEvent {
  type: 'open' | 'reconnecting' | 'end';
  attempt?: number;
  delayMs?: number;
  reason?: string;
}

/** What StreamReader.take() reports: a window when one is pending, and where the source stands. */
export interface NativeStreamTake {
  clip?: NativeTensor;
  startSec?: number;
  endSec?: number;
  /** ms since the window's last frame was decoded. */
  ageMs?: number;
  /** The decode thread's CPU ms since the previous window (absent without a per-thread CPU clock). */
  decodeMs?: number;
  dropped?: number;
  reconnects?: number;
  /** What happened to the source since the previous take(), oldest first. */
  events?: NativeStreamEvent[];
  opened?: boolean;
  ended?: boolean;
  finished: boolean;
  error?: Error;
}

export interface NativeStreamReader {
  take(): NativeStreamTake;
  /** false once the byte queue is full: pause the producer until writable() (announced by a wake-up). */
  push(chunk: Uint8Array): boolean;
  end(): void;
  writable(): boolean;
  ref(waiting: boolean): void;
  close(): void;
}

export interface NativePreprocessOptions {
  resizeHeight: number;
  resizeWidth: number;
  cropSize: number;
  mean: number[];
  std: number[];
  /** Views per clip: 1 (centre crop) or 3 (ThreeCrop, evaluation only). */
  crops?: number;
  /** One per clip: the training preset (torchvision's VideoClassificationPresetTrain) with these draws. */
  trainDraws?: TrainDraw[];
}

/** A row of cpp/dtypes.h's table. */
export interface NativeDtypeRow {
  name: string;
  typedArray: string;
}

/** cpp/video/preprocessing_defaults.json (its generated header): the Preprocessing of src/types.ts plus clips per video. */
export type NativePreprocessingDefaults = Preprocessing & { clipsPerVideo: number };

export interface NativeBinding {
  Tensor: { fromTypedArray(data: TypedArray, shape: number[], options?: { transferred?: boolean }): NativeTensor; prototype: NativeTensor };
  Model: { load(path: string, options: NativeModelOptions): Promise<NativeModel>; prototype: NativeModel };
  VideoReader: { open(path: string, options?: NativeOpenOptions): Promise<NativeVideoReader>; prototype: NativeVideoReader };
  Trainer: {
    create(path: string, options: NativeTrainerOptions): Promise<NativeTrainer>;
    restore(path: string, options: { device: string; threads: number }): Promise<NativeTrainer>;
    prototype: NativeTrainer;
  };
  ProcessGroup: {
    create(options: NativeGroupOptions): Promise<NativeProcessGroup>;
    readonly available: boolean;
    readonly glooAvailable: boolean;
    readonly ncclAvailable: boolean;
    prototype: NativeProcessGroup;
  };
  StreamReader: new (source: string, push: boolean, options: NativeStreamOptions, onWake: () => void) => NativeStreamReader;
  preprocess(frames: NativeTensor, options: NativePreprocessOptions): Promise<NativeTensor>;
  /** torch.cat along dimension 0, on the decode pool. */
  concat(tensors: NativeTensor[]): Promise<NativeTensor>;
  setErrorClass(errorClass: typeof TorchVideoError): void;
  cudaIsAvailable(): boolean;
  cudaDeviceCount(): number;
  tensorBytes(): number;
  cachedCpuBytes(): number;
  /** Drops queued native work and waits for running work: called before the process exits. */
  /** Stops native work for exit, waiting `deadlineMs` at most; false when work was still running then. */
  quiesce(deadlineMs: number): boolean;
  /** Ends the process with `code` at once, without exit()'s static destructors. */
  exitNow(code: number): never;
  cancelToken(): NativeCancelToken;
  cancel(token: NativeCancelToken): void;
  /** Executors of CPU models and trainers not yet given back (each disposed one gives its own back). */
  objectExecutorCount(): number;
  /** The decode pool's size; with `threads`, grows it to that many first. */
  decodeThreads(threads?: number): number;
  dtypes: NativeDtypeRow[];
  errorCodes: string[];
  preprocessingDefaults: NativePreprocessingDefaults;
  libtorchVersion: string;
  ffmpegVersion: string;
}

/** How long process exit waits for running native work (a forward, a decode, a collective). */
const EXIT_DEADLINE_MS = 3000;

function loadBinding(): NativeBinding {
  const root = path.resolve(__dirname, '..');
  // TORCHVIDEO_ADDON=path/to/torchvideo.node loads another build of the addon (the AddressSanitizer
  // build of scripts/asan.sh, or a CUDA build kept beside the CPU one) without replacing build/.
  const override = process.env.TORCHVIDEO_ADDON;
  try {
    if (override && path.extname(override) !== '.node') {
      throw new Error('TORCHVIDEO_ADDON must name a compiled addon file ending in .node');
    }
    const binding = (
      override
        ? // eslint-disable-next-line @typescript-eslint/no-require-imports
          require(path.resolve(override))
        : // eslint-disable-next-line @typescript-eslint/no-require-imports
          require('node-gyp-build')(root)
    ) as NativeBinding;
    binding.setErrorClass(TorchVideoError);
    // exit() runs LibTorch's static destructors; a forward or decode still running on our threads
    // would crash in them. 'exit' is emitted for process.exit(), an uncaught exception and a normal
    // end alike, before exit(): stop native work there (process.exitCode is kept). Running work gets
    // EXIT_DEADLINE_MS to finish; past it (a collective stuck on a dead peer waits for its whole
    // timeout, and Gloo cannot be aborted) the main thread ends the process with its code at once,
    // skipping the destructors that would run under that work. A worker thread only stops its own.
    // Node emits 'exit' for an uncaught exception before it prints the error: ending the process in the
    // handler would swallow it. The error is kept when it is fatal (no 'uncaughtException' listener
    // handles it) and written before such an end.
    let fatal: { error: unknown } | undefined;
    process.on('uncaughtExceptionMonitor', (error) => {
      if (process.listenerCount('uncaughtException') === 0) fatal = { error };
    });
    process.once('exit', (code) => {
      if (binding.quiesce(EXIT_DEADLINE_MS) || !isMainThread) return;
      if (fatal) fs.writeSync(2, `${inspect(fatal.error)}\n\nNode.js ${process.version}\n`);
      binding.exitNow(code);
    });
    return binding;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const which = override ? ` from TORCHVIDEO_ADDON=${override}` : '';
    throw new Error(
      `torchvideo: could not load the native addon${which}: ${reason}\n` +
        'Possible solutions:\n' +
        '- Build it: npm run build (or bash scripts/setup.sh to install LibTorch and FFmpeg first)\n' +
        '- Install the runtime libraries: apt-get install libtorch1.13 libavformat59 libavcodec59 libswscale6\n' +
        '- If you built against another LibTorch (LIBTORCH=...), keep that directory where it was built from\n',
      { cause: error },
    );
  }
}

export const native: NativeBinding = loadBinding();
