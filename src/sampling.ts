// Which frames make up each clip, with torchvision 0.14's arithmetic (VideoClips +
// UniformClipSampler / RandomClipSampler), so a clip here holds the same frames as torchvision's.
import { DEFAULT_CLIPS_PER_VIDEO, DEFAULT_PREPROCESSING } from './sidecar';
import { checkInteger, checkOptions, expectRange, expectType } from './validate';

export interface ClipSamplingInfo {
  fps: number;
  frameCount: number;
}

export interface SampleClipsOptions {
  /** Frames per clip (default 16). */
  clipLength?: number;
  /** Frame rate the video is resampled to before clips are cut (default 15; 0 keeps the original). */
  frameRate?: number;
  /** Clips to take (default 5). */
  clipsPerVideo?: number;
  /** 'uniform' (default): evenly spaced, for evaluation; 'random': random distinct clips, for training. */
  mode?: 'uniform' | 'random';
  /** Seed of the 'random' mode; without one, Math.random is used. */
  seed?: number;
}

const f32 = Math.fround;

/**
 * Frame indices kept when a video of `frameCount` frames at `fps` is resampled to `frameRate`:
 * torchvision VideoClips' `_resample_video_idx`, including its float32 arithmetic.
 */
export function resampleFrameIndices(frameCount: number, fps: number, frameRate: number): number[] {
  if (!(frameRate > 0)) return Array.from({ length: frameCount }, (_, i) => i);
  const total = Math.floor(frameCount * (frameRate / fps));
  const step = fps / frameRate;
  if (Number.isInteger(step)) {
    // A Python slice [::step] over the whole video: ceil(frameCount / step) frames.
    const kept = [];
    for (let i = 0; i < frameCount; i += step) kept.push(i);
    return kept;
  }
  // torch.arange(total, float32) * step, floored: the product of two float32 values is exact in a
  // double, so rounding it once with Math.fround gives float32 multiplication exactly.
  const step32 = f32(step);
  return Array.from({ length: total }, (_, i) => Math.floor(f32(f32(i) * step32)));
}

/** torch.linspace(start, end, steps) in float32, as LibTorch's CPU kernel computes it. */
function linspaceFloat32(start: number, end: number, steps: number): number[] {
  if (steps === 1) return [f32(start)];
  const start32 = f32(start);
  const end32 = f32(end);
  const step = f32(f32(end32 - start32) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  return Array.from({ length: steps }, (_, i) => (i < halfway ? f32(start32 + f32(step * i)) : f32(end32 - f32(step * (steps - i - 1)))));
}

/** A small seeded generator (mulberry32): the same seed gives the same clips on every platform. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The clips to decode from a video, as frame indices into the original video, one array per clip.
 *
 * The video is resampled to `frameRate`; every window of `clipLength` consecutive resampled frames
 * is a candidate clip. 'uniform' takes `clipsPerVideo` of them at floor(linspace(0, n - 1, k))
 * (torchvision's UniformClipSampler; clips repeat when n < k). 'random' takes min(k, n) distinct
 * random candidates (RandomClipSampler). Unlike torchvision, which drops a video shorter than one
 * clip, such a video gives a clip padded by repeating its last frame.
 * @throws TypeError / RangeError for bad info or options.
 */
export function sampleClips(info: ClipSamplingInfo, options: SampleClipsOptions = {}): number[][] {
  expectType(typeof info === 'object' && info !== null, 'info', 'an object with fps and frameCount', info);
  const frameCount = checkInteger(info.frameCount, 'info.frameCount', undefined, { min: 0 });
  expectType(typeof info.fps === 'number', 'info.fps', 'a number', info.fps);
  expectRange(info.fps > 0 && Number.isFinite(info.fps), 'info.fps', 'a positive number', info.fps);
  const opts = checkOptions(options);
  const clipLength = checkInteger(opts.clipLength, 'options.clipLength', DEFAULT_PREPROCESSING.clipLength, { min: 1, max: 100000 });
  expectType(opts.frameRate === undefined || typeof opts.frameRate === 'number', 'options.frameRate', 'a number', opts.frameRate);
  const frameRate = (opts.frameRate as number | undefined) ?? DEFAULT_PREPROCESSING.frameRate;
  expectRange(frameRate >= 0 && Number.isFinite(frameRate), 'options.frameRate', 'a non-negative number', frameRate);
  const clipsPerVideo = checkInteger(opts.clipsPerVideo, 'options.clipsPerVideo', DEFAULT_CLIPS_PER_VIDEO, { min: 1, max: 100000 });
  const mode = opts.mode ?? 'uniform';
  expectRange(mode === 'uniform' || mode === 'random', 'options.mode', "'uniform' or 'random'", mode);
  const seed = opts.seed === undefined ? undefined : checkInteger(opts.seed, 'options.seed', undefined, { min: 0 });
  expectRange(frameCount > 0, 'info.frameCount', 'at least 1 (the video has no frames)', frameCount);

  const frames = resampleFrameIndices(frameCount, info.fps, frameRate);
  if (frames.length === 0) frames.push(0); // fewer frames than one resampling step: keep the first
  const clipAt = (start: number) => frames.slice(start, start + clipLength);
  const candidates = frames.length - clipLength + 1;
  if (candidates <= 0) {
    const padded = [...frames];
    while (padded.length < clipLength) padded.push(frames[frames.length - 1]);
    return mode === 'uniform' ? Array.from({ length: clipsPerVideo }, () => [...padded]) : [padded];
  }
  if (mode === 'uniform') {
    return linspaceFloat32(0, candidates - 1, clipsPerVideo).map((x) => clipAt(Math.floor(x)));
  }
  const random = seed === undefined ? Math.random : seededRandom(seed);
  // A partial Fisher-Yates shuffle: the first k of a random permutation of the candidates.
  const order = Array.from({ length: candidates }, (_, i) => i);
  const count = Math.min(clipsPerVideo, candidates);
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (candidates - i));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order.slice(0, count).map(clipAt);
}
