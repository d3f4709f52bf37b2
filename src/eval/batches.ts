// The clips of an evaluation job cut into batches of exactly `batchSize` clips (the last one may be
// short) that span video boundaries: a video's clips are split into segments, one per batch it falls in.
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
