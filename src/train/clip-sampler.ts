// The clips of a training epoch as torchvision's references/video_classification/train.py draws them:
// VideoClips(frames_per_clip=clipLength, step_between_clips=1, frame_rate=frameRate) makes every window of
// clipLength frames (step 1) of each video resampled to frameRate a candidate; RandomClipSampler takes
// min(n, clipsPerVideo) random windows per video and shuffles all the clips; the training preset then
// draws a flip (p 0.5) and a crop for each clip. Every random number comes from (seed, epoch), so an epoch
// can be replayed exactly, e.g. to resume one mid-way.
import { resampleFrameIndices } from '../sampling';
import type { TrainDraw } from '../types';

export interface TrainingVideo {
  frameCount: number;
  fps: number;
}

export type { TrainDraw } from '../types';

export interface TrainingClip {
  /** Position of the clip's video in the list given. */
  video: number;
  /** Frame indices into the video. */
  frames: number[];
  draw: TrainDraw;
}

export interface TrainingEpochOptions {
  clipLength: number;
  frameRate: number;
  clipsPerVideo: number;
  /** The resized frame (height, width) and the square crop taken from it. */
  resizeSize: [number, number];
  cropSize: number;
  seed: number;
  epoch: number;
  /** Probability of the horizontal flip (default 0.5, the preset's hflip_prob). */
  hflipProb?: number;
}

/** mulberry32: a small, fast 32-bit generator; enough for shuffles and crop offsets. */
export class EpochRandom {
  #state: number;

  constructor(seed: number, epoch: number) {
    // Mix both into one 32-bit state (murmur3's finaliser), so nearby seeds and epochs diverge at once.
    let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul((epoch + 1) >>> 0, 0x85ebca6b)) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
    this.#state = (h ^ (h >>> 16)) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [low, high]. */
  integer(low: number, high: number): number {
    return low + Math.floor(this.next() * (high - low + 1));
  }

  /** A random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): number[] {
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.integer(0, i);
      [order[i], order[j]] = [order[j], order[i]];
    }
    return order;
  }
}

/**
 * One clip's draws for the training preset (VideoClassificationPresetTrain), in its order: the flip
 * (RandomHorizontalFlip, p hflipProb), then RandomCrop.get_params' top and left, each uniform over every
 * offset that keeps the crop inside the resized frame. Used by the training sampler and by the public
 * preprocess({ train: true }), so both augment alike.
 */
export function drawTrainCrop(random: EpochRandom, resizeSize: [number, number], cropSize: number, hflipProb = 0.5): TrainDraw {
  return {
    flip: random.next() < hflipProb,
    top: random.integer(0, resizeSize[0] - cropSize),
    left: random.integer(0, resizeSize[1] - cropSize),
  };
}

/** How many training windows a video has: its frames resampled to frameRate, windows of clipLength, step 1. */
export function windowCount(video: TrainingVideo, clipLength: number, frameRate: number): number {
  return Math.max(0, resampleFrameIndices(video.frameCount, video.fps, frameRate).length - clipLength + 1);
}

/** The clips of one epoch, in the order they are trained on. Videos shorter than one clip give none (torchvision drops them). */
export function trainingEpoch(videos: TrainingVideo[], options: TrainingEpochOptions): TrainingClip[] {
  const { clipLength, frameRate, clipsPerVideo, resizeSize, cropSize } = options;
  const random = new EpochRandom(options.seed, options.epoch);
  const chosen: { video: number; frames: number[] }[] = [];
  videos.forEach((video, v) => {
    const resampled = resampleFrameIndices(video.frameCount, video.fps, frameRate);
    const windows = Math.max(0, resampled.length - clipLength + 1);
    for (const start of random.permutation(windows).slice(0, Math.min(windows, clipsPerVideo))) {
      chosen.push({ video: v, frames: resampled.slice(start, start + clipLength) });
    }
  });
  return random.permutation(chosen.length).map((i) => ({
    ...chosen[i],
    draw: drawTrainCrop(random, resizeSize, cropSize, options.hflipProb),
  }));
}

/**
 * A rank's share of an epoch's clips, as torchvision's DistributedSampler takes it from the sampler's
 * list: the list (the same on every rank) is padded with its own first items to a multiple of the world
 * size, and rank r takes items r, r + W, r + 2W, ... So the ranks' shares are disjoint (but for the
 * padding), equally long, and batch b of every rank together is the single-process batch b at W times
 * the batch size.
 */
export function rankShare<T>(items: T[], rank: number, worldSize: number): T[] {
  if (worldSize === 1 || items.length === 0) return items;
  const total = Math.ceil(items.length / worldSize) * worldSize;
  const share: T[] = [];
  for (let i = rank; i < total; i += worldSize) share.push(items[i % items.length]);
  return share;
}
