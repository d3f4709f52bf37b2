// The batches of a training epoch, decoded ahead on the decode pool: each batch's clips are grouped by
// video (one open and one decode per video, with the training preset's draws), and the groups joined into
// one (B, 3, T, crop, crop) tensor with its int64 labels in the same order. Decoding runs `prefetch`
// batches ahead of the step, so memory stays bounded whatever the epoch's size.
import type { NativePreprocessOptions } from '../native';
import { native } from '../native';
import { Tensor, nativeTensorOf } from '../tensor';
import { openVideoWith, readClipBatch } from '../video';
import { unpackFrameIndex, type PackedFrameIndex } from '../common/packed-frame-index';
import type { TrainingClip } from './clip-sampler';

export interface TrainingSetVideo {
  path: string;
  /** Class index. */
  label: number;
  frameIndex?: PackedFrameIndex;
}

export interface TrainBatch {
  clips: Tensor;
  labels: Tensor;
}

export interface TrainBatchesOptions {
  batchSize: number;
  preprocess: NativePreprocessOptions;
  /** Batches decoded ahead of the one being trained on. */
  prefetch: number;
  /** FFmpeg threads per video. */
  threadsPerVideo: number;
  /** The first batch to produce (a resumed epoch starts mid-way). */
  startBatch?: number;
}

/** How many batches an epoch of `clips` clips makes (the last may be short, as DataLoader's default keeps it). */
export function batchCount(clips: number, batchSize: number): number {
  return Math.ceil(clips / batchSize);
}

async function decodeBatch(videos: TrainingSetVideo[], clips: TrainingClip[], options: TrainBatchesOptions): Promise<TrainBatch> {
  const groups = new Map<number, TrainingClip[]>();
  for (const clip of clips) {
    const group = groups.get(clip.video);
    if (group) group.push(clip);
    else groups.set(clip.video, [clip]);
  }
  const parts = await Promise.all(
    [...groups.entries()].map(async ([v, group]) => {
      const video = videos[v];
      const frameIndex = video.frameIndex ? unpackFrameIndex(video.frameIndex) : undefined;
      const reader = await openVideoWith(video.path, { threads: options.threadsPerVideo, ...(frameIndex ? { frameIndex } : {}) });
      try {
        return await readClipBatch(
          reader,
          group.map((clip) => clip.frames),
          { ...options.preprocess, trainDraws: group.map((clip) => clip.draw) },
        );
      } finally {
        reader.close();
      }
    }),
  );
  const labels = [...groups.entries()].flatMap(([v, group]) => group.map(() => BigInt(videos[v].label)));
  try {
    const clipsTensor = parts.length === 1 ? parts[0] : new Tensor(await native.concat(parts.map((part) => nativeTensorOf(part, 'part'))));
    return { clips: clipsTensor, labels: Tensor.from(BigInt64Array.from(labels), [labels.length]) };
  } finally {
    if (parts.length > 1) parts.forEach((part) => part.dispose());
  }
}

/**
 * Yields the epoch's batches in order from `startBatch`. Decoding errors reject naming the file (a
 * training set is indexed before training, so a video that fails here changed or is damaged mid-file).
 * The caller disposes each batch's tensors; stopping early (return/throw) frees what was decoded ahead.
 */
export async function* trainBatches(
  videos: TrainingSetVideo[],
  epoch: TrainingClip[],
  options: TrainBatchesOptions,
): AsyncGenerator<TrainBatch> {
  const total = batchCount(epoch.length, options.batchSize);
  const pending = new Map<number, Promise<TrainBatch>>();
  const start = (b: number) => {
    if (b >= total || pending.has(b)) return;
    const promise = decodeBatch(videos, epoch.slice(b * options.batchSize, (b + 1) * options.batchSize), options);
    promise.catch(() => {}); // awaited in turn; a failure ahead of time is not unhandled
    pending.set(b, promise);
  };
  try {
    for (let b = options.startBatch ?? 0; b < total; b++) {
      for (let ahead = b; ahead <= b + options.prefetch; ahead++) start(ahead);
      const batch = await pending.get(b)!;
      pending.delete(b);
      yield batch;
    }
  } finally {
    for (const promise of pending.values()) {
      promise.then(
        (batch) => {
          batch.clips.dispose();
          batch.labels.dispose();
        },
        () => {},
      );
    }
  }
}
