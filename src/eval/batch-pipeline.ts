// The batch pipeline of an evaluation job: the job's clips, in video order, cut into batches of
// `batchSize` clips that span video boundaries. The decode pool decodes and preprocesses the next
// `prefetch` batches while the model's executor runs the current one, so memory stays bounded whatever
// the set's size. The next batch's forward is queued before the current one's logits are read, so a GPU
// always has the next batch (copied on a side stream from pinned memory) behind the one it runs. A batch
// settles once the next is queued: its logits become each clip's softmax, on its video's VideoJob.
// What becomes of a settled video (the journal, onVideo) is the caller's, through `onSettled`.
import { abortError } from '../abort';
import { forwardPieces, type Batcher } from '../batcher';
import { unpackFrameIndex } from '../common/packed-frame-index';
import { forwardFrames, type Model } from '../model';
import type { NativeClipBatchOutput, NativePreprocessOptions } from '../native';
import type { Preprocessing } from '../sidecar';
import type { Tensor } from '../tensor';
import { nativePreprocessOptions, openVideoWith, readClipBatch, type VideoReader } from '../video';
import { planBatches, type Segment, type VideoJob } from './batches';
import type { DatasetVideo } from './dataset';
import { softmaxRow } from './metrics';
import type { EvaluationProgress } from './types';
import { failureText, isVideoFailure } from './video-failure';

// Opens a job's video with the frame index its metadata index cached (no demuxing of every packet);
// an index the decoder finds inconsistent is dropped and the file indexed again.
async function openJobVideo(video: DatasetVideo, threads: number): Promise<VideoReader> {
  const packed = video.info.frameIndex;
  if (packed !== undefined) {
    try {
      return await openVideoWith(video.path, { threads, frameIndex: unpackFrameIndex(packed) });
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
    }
  }
  return openVideoWith(video.path, { threads });
}

/** A clip's score: the mean of its views' softmax (rows row .. row + views - 1 of the logits). */
function meanSoftmax(values: Float32Array, row: number, views: number, classes: number): Float32Array {
  const probs = softmaxRow(values.subarray(row * classes, (row + 1) * classes));
  for (let v = 1; v < views; v++) {
    const view = softmaxRow(values.subarray((row + v) * classes, (row + v + 1) * classes));
    for (let c = 0; c < classes; c++) probs[c] += view[c];
  }
  if (views > 1) for (let c = 0; c < classes; c++) probs[c] /= views;
  return probs;
}

export interface BatchPipelineOptions {
  /** The network: a Model, or a Batcher whose batches the job's forwards share. */
  model: Model;
  batcher?: Batcher;
  /** The model's preprocessing (resize, crop, normalization). */
  preprocessing: Preprocessing;
  preprocessOn: 'host' | 'device';
  crops: number;
  batchSize: number;
  /** Batches decoded ahead of the one running. */
  prefetch: number;
  /** FFmpeg threads per video. */
  threadsPerVideo: number;
  signal?: AbortSignal;
  /** Called once per settled batch with its segments, after their clips' softmax is on their VideoJobs. */
  onSettled: (segments: Segment[]) => void;
  /** Called after onSettled. */
  onProgress?: (progress: EvaluationProgress) => void;
}

/** A batch whose forward is queued on the executor; its logits are read once the next one is queued. */
interface RunningBatch {
  segments: Segment[];
  tensors: (Tensor | undefined)[];
  /** The segments decoded (and whose video has not failed): the rows of the logits, in order. */
  ready: Segment[];
  logits?: Promise<Tensor>;
}

export class BatchPipeline {
  readonly #jobs: VideoJob[];
  readonly #batches: Segment[][];
  readonly #options: BatchPipelineOptions;
  readonly #preprocess: NativePreprocessOptions;
  readonly #output: NativeClipBatchOutput;
  /** Batches being decoded (or decoded) ahead, by index; deleted once taken. */
  readonly #decoded: Promise<(Tensor | undefined)[]>[] = [];
  #running: RunningBatch | undefined;
  readonly #clipsTotal: number;
  #clipsDone = 0;
  readonly #started: number;

  constructor(jobs: VideoJob[], options: BatchPipelineOptions) {
    this.#jobs = jobs;
    this.#batches = planBatches(jobs, options.batchSize);
    this.#options = options;
    this.#preprocess = { ...nativePreprocessOptions({ preprocessing: options.preprocessing }), crops: options.crops };
    this.#output = { raw: options.preprocessOn === 'device', pinned: options.model.info.device.startsWith('cuda') };
    this.#clipsTotal = jobs.reduce((sum, job) => sum + job.clips.length, 0);
    this.#started = performance.now();
  }

  /** Clips settled so far. */
  get clipsDone(): number {
    return this.#clipsDone;
  }

  /** Seconds since the pipeline was made. */
  elapsedSeconds(): number {
    return (performance.now() - this.#started) / 1000;
  }

  /**
   * Runs every batch. Stopped early (abort, error) it frees what was decoded ahead and closes the readers.
   * @throws AbortError when `signal` aborts (checked before each batch), and any error but a video's own.
   */
  async run(): Promise<void> {
    try {
      for (let b = 0; b < this.#batches.length; b++) {
        for (let ahead = b; ahead <= b + this.#options.prefetch; ahead++) this.#startDecoding(ahead);
        if (this.#options.signal?.aborted) throw abortError('the evaluation was aborted');
        const tensors = await this.#decoded[b];
        delete this.#decoded[b];
        const previous = this.#running;
        this.#running = this.#queueForward(this.#batches[b], tensors);
        if (previous) await this.#settle(previous);
      }
      const last = this.#running;
      this.#running = undefined;
      if (last) await this.#settle(last);
    } finally {
      this.#release();
    }
  }

  // A segment's clips, decoded and preprocessed on the decode pool; the reader closes after its last segment.
  async #decode(segment: Segment): Promise<Tensor | undefined> {
    const { job } = segment;
    try {
      if (job.failed !== undefined) return undefined;
      job.reader ??= openJobVideo(job.video, this.#options.threadsPerVideo);
      const reader = await job.reader;
      return await readClipBatch(reader, segment.clips, this.#preprocess, this.#output);
    } catch (error) {
      // A video's own problem fails that video; anything else fails the job (see evaluate's doc).
      if (!isVideoFailure(error)) throw error;
      job.failed ??= failureText(error);
      return undefined;
    } finally {
      if (--job.segmentsLeft === 0)
        job.reader?.then(
          (r) => r.close(),
          () => {},
        );
    }
  }

  // Decoding runs ahead by `prefetch` batches; each batch's segments decode in parallel.
  #startDecoding(b: number): void {
    if (b < this.#batches.length && this.#decoded[b] === undefined) {
      this.#decoded[b] = Promise.all(this.#batches[b].map((segment) => this.#decode(segment)));
      // A batch decoded ahead that fails is read (and its error thrown) when its turn comes, or dropped
      // when the job stops first: its rejection is never unhandled.
      this.#decoded[b].catch(() => {});
    }
  }

  // Queues a decoded batch's forward on the executor (no forward when none of its segments decoded).
  #queueForward(segments: Segment[], tensors: (Tensor | undefined)[]): RunningBatch {
    const { model, batcher, preprocessOn } = this.#options;
    const ready = segments.filter((segment, i) => tensors[i] && !segment.job.failed);
    const inputs = segments.flatMap((segment, i) => (tensors[i] && !segment.job.failed ? [tensors[i] as Tensor] : []));
    const batch: RunningBatch = { segments, tensors, ready };
    if (inputs.length > 0) {
      batch.logits = batcher
        ? forwardPieces(batcher, inputs)
        : preprocessOn === 'device'
          ? forwardFrames(model, inputs, this.#preprocess)
          : model.forward(inputs);
      // Read after the previous batch settles; a rejection meanwhile is not unhandled.
      batch.logits.catch(() => {});
    }
    return batch;
  }

  // Reads a batch's logits into its clips' softmax, frees its tensors, and hands its segments on.
  async #settle({ segments, tensors, ready, logits: pending }: RunningBatch): Promise<void> {
    const { crops } = this.#options;
    try {
      if (pending) {
        const logits = await pending;
        const cpu = logits.device === 'cpu' ? logits : await logits.to('cpu');
        const values = cpu.data() as Float32Array;
        const classes = cpu.shape[1];
        let row = 0;
        for (const segment of ready) {
          for (let c = 0; c < segment.clips.length; c++, row += crops) {
            segment.job.probs.push(meanSoftmax(values, row, crops, classes));
          }
        }
        if (cpu !== logits) cpu.dispose();
        logits.dispose();
      }
    } finally {
      for (const t of tensors) t?.dispose();
    }
    for (const segment of segments) this.#clipsDone += segment.clips.length;
    this.#options.onSettled(segments);
    const clipsDone = this.#clipsDone;
    const clipsTotal = this.#clipsTotal;
    const clipsPerSec = clipsDone / Math.max(this.elapsedSeconds(), 1e-9);
    this.#options.onProgress?.({ clipsDone, clipsTotal, clipsPerSec, etaSec: (clipsTotal - clipsDone) / Math.max(clipsPerSec, 1e-9) });
  }

  // Frees the batch still running and those decoded ahead, and closes every reader.
  #release(): void {
    if (this.#running) {
      const { tensors, logits } = this.#running;
      tensors.forEach((t) => t?.dispose());
      logits?.then(
        (t) => t.dispose(),
        () => {},
      );
    }
    for (const pending of this.#decoded)
      pending?.then(
        (ts) => ts.forEach((t) => t?.dispose()),
        () => {},
      );
    for (const job of this.#jobs)
      job.reader?.then(
        (r) => r.close(),
        () => {},
      );
  }
}
