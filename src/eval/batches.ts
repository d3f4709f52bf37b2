// The clips of an evaluation job: each video's (its label mapped to the model's class, its clips sampled),
// cut into batches of exactly `batchSize` clips (the last one may be short) that span video boundaries:
// a video's clips are split into segments, one per batch it falls in.
import { TorchVideoError } from '../errors';
import { resampleFrameIndices, sampleClips } from '../sampling';
import type { VideoReader } from '../video';
import type { DatasetVideo } from './dataset';

/** One video of the job: its clips, and what the run has gathered of it so far. */
export interface VideoJob {
  video: DatasetVideo;
  label: number;
  clips: number[][];
  probs: Float32Array[];
  /** Opened by its first segment's decode, closed after its last. */
  reader?: Promise<VideoReader>;
  /** Segments not yet decoded. */
  segmentsLeft: number;
  failed?: string;
}

// Maps a dataset label to the model's class: by name when the label is a name, by index when an integer.
function classIndexOf(video: DatasetVideo, labels: string[]): number {
  if (typeof video.label === 'number') {
    if (video.label < labels.length) return video.label;
    throw new TorchVideoError(
      `${video.source}: label ${video.label} is not a class of the model (it has ${labels.length}: 0..${labels.length - 1})`,
      'ERR_DATASET',
    );
  }
  const index = labels.indexOf(video.label);
  if (index >= 0) return index;
  throw new TorchVideoError(
    `${video.source}: label '${video.label}' is not a class of the model (its classes are ${labels.slice(0, 5).join(', ')}` +
      `${labels.length > 5 ? ', ...' : ''})`,
    'ERR_DATASET',
  );
}

/**
 * A video's job: its class and its clips; undefined for a video shorter than one clip with shortVideos 'skip'.
 * @throws TorchVideoError ERR_DATASET for a label the model doesn't have.
 */
export function videoJobOf(
  video: DatasetVideo,
  labels: string[],
  sampling: { clipLength: number; frameRate: number; clipsPerVideo: number; shortVideos: 'pad' | 'skip' },
): VideoJob | undefined {
  const { clipLength, frameRate, clipsPerVideo, shortVideos } = sampling;
  const label = classIndexOf(video, labels);
  const info = { fps: video.info.fps as number, frameCount: video.info.frameCount as number };
  if (shortVideos === 'skip' && resampleFrameIndices(info.frameCount, info.fps, frameRate).length < clipLength) return undefined;
  const clips = sampleClips(info, { clipLength, frameRate, clipsPerVideo });
  return { video, label, clips, probs: [], segmentsLeft: 0 };
}

export interface Segment {
  job: VideoJob;
  clips: number[][];
}

export function planBatches(jobs: VideoJob[], batchSize: number): Segment[][] {
  const batches: Segment[][] = [];
  let current: Segment[] = [];
  let filled = 0;
  for (const job of jobs) {
    let next = 0;
    while (next < job.clips.length) {
      const take = Math.min(batchSize - filled, job.clips.length - next);
      current.push({ job, clips: job.clips.slice(next, next + take) });
      job.segmentsLeft++;
      next += take;
      filled += take;
      if (filled === batchSize) {
        batches.push(current);
        current = [];
        filled = 0;
      }
    }
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
