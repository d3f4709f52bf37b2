// How an evaluation job divides the cores: the decode pool's threads, FFmpeg's threads per video, how
// many batches are decoded ahead, and the intra-op threads of a model the job loads itself. Kept apart
// from the pipeline so the sizing rule reads in one place (and tests reach it through src/internal.ts).
import * as os from 'node:os';

/**
 * How many threads decode and how far ahead, from the cores (`cores`, default this machine's) and the
 * device. Decode threads: on CUDA all cores but one (the network needs no CPU to speak of), on the CPU
 * half of them, at least 2 either way. FFmpeg threads per video: the cores divided among the decode
 * threads, at least 1 (so 1 on CUDA, where every core already has a video and FFmpeg's own threads add
 * latency, not throughput; about 2 on the CPU). Batches ahead: enough to give every decode thread a
 * segment twice over, 2 to 16. Each value given (`...Asked`) is taken as it is; threadsPerVideo's
 * default is computed from the decode threads as given.
 */
export function pipelineSizes(job: {
  device: string;
  batchSize: number;
  clipsPerVideo: number;
  decodeThreadsAsked?: number;
  threadsPerVideoAsked?: number;
  prefetchAsked?: number;
  cores?: number;
}): { decodeThreads: number; threadsPerVideo: number; prefetch: number } {
  const cores = job.cores ?? (typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);
  const onGpu = job.device.startsWith('cuda');
  const decodeThreads = job.decodeThreadsAsked ?? (onGpu ? Math.max(2, cores - 1) : Math.max(2, Math.floor(cores / 2)));
  const threadsPerVideo = job.threadsPerVideoAsked ?? Math.max(1, Math.floor(cores / decodeThreads));
  const segmentsPerBatch = Math.ceil(job.batchSize / job.clipsPerVideo) + 1;
  const prefetch = job.prefetchAsked ?? Math.min(16, Math.max(2, Math.ceil((2 * decodeThreads) / segmentsPerBatch)));
  return { decodeThreads, threadsPerVideo, prefetch };
}

/**
 * @internal The intra-op threads of a model evaluate loads itself (by path, without `threads`): the cores
 * less the decode threads, at least 1. The decoders' FFmpeg threads (threadsPerVideo each) are not
 * counted, so with the defaults the decoding may still reach every core.
 */
export function intraOpThreadsFor(cores: number, decodeThreads: number): number {
  return Math.max(1, cores - decodeThreads);
}
