// The public data types that several modules (and the native surface, src/native.ts) describe values
// with: plain shapes with no behaviour, in a module that imports nothing, so that declaring them never
// creates an import cycle. Their modules (dtypes.ts, sidecar.ts, video.ts) re-export them.

/** The TypedArrays a Tensor can be made from and read into. */
export type TypedArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Int16Array;

/** The element types a Tensor can hold (cpp/dtypes.h's table; a test checks the two agree). */
export type Dtype = 'float32' | 'float64' | 'int32' | 'int64' | 'uint8' | 'int8' | 'int16';

/** How clips are made for a network: torchvision's VideoClassification preset and VideoClips' sampling. */
export interface Preprocessing {
  clipLength: number;
  frameRate: number;
  resizeSize: [number, number];
  cropSize: [number, number];
  mean: [number, number, number];
  std: [number, number, number];
}

/** What openVideo reads of a video's stream. */
export interface VideoInfo {
  durationSec: number;
  /** The stream's average frame rate (what torchvision's VideoClips resamples from). */
  fps: number;
  /** Frames in the stream; frame i is the i-th in presentation order. */
  frameCount: number;
  width: number;
  height: number;
  /** FFmpeg's codec name: 'h264', 'mpeg4', 'mjpeg', 'vp9', ... */
  codec: string;
}

/** Percentiles of a latency, in ms. */
export interface LatencyPercentiles {
  p50: number;
  p90: number;
  p99: number;
}

export interface BatcherStats {
  /** Requests and clips accepted into the queue. */
  requests: number;
  clips: number;
  /** Forward passes run. */
  batches: number;
  /** Clips in a forward pass -> forward passes of that size. */
  batchSizes: Record<number, number>;
  /** Time in the queue and forward time per request, in ms, over the last 8192 requests that ran. */
  queueMs: LatencyPercentiles;
  computeMs: LatencyPercentiles;
  /** Calls refused with ERR_QUEUE_FULL. */
  rejected: number;
  /** Requests that timed out while queued (ERR_TIMEOUT). */
  timedOut: number;
  /** Requests whose signal aborted while queued or running. */
  aborted: number;
  /** Requests whose forward failed (their own NaN input, or their batch failing). */
  failed: number;
  /** Clips and requests waiting now. */
  queuedClips: number;
  queuedRequests: number;
}

/**
 * A training clip's random draws: a horizontal flip, then a crop at (top, left) of the resized frames
 * (passed to the native preprocessing as they are).
 */
export interface TrainDraw {
  top: number;
  left: number;
  flip: boolean;
}

/** What a Trainer is: its network, optimizer settings and preprocessing. */
export interface TrainerInfo {
  /** 'r3d_18', 'mc3_18', 'r2plus1d_18', or 'unknown'. */
  arch: string;
  numClasses: number;
  labels: string[];
  device: string;
  momentum: number;
  weightDecay: number;
  freezeBackbone: boolean;
  amp: boolean;
  seed: number;
  /** Parameters of the network, and those the optimizer updates (fewer with freezeBackbone). */
  parameters: number;
  trainedParameters: number;
  /** The preprocessing the network expects, written to exported sidecars. */
  preprocessing: Preprocessing;
}
