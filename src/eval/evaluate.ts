// Scores a network on a labelled video set the way torchvision's references/video_classification
// does (clip and video accuracy), in jobs that split into shards and survive being killed.
//
// The pipeline: the job's clips, in video order, are cut into batches of `batchSize` clips that span
// video boundaries. The decode pool decodes and preprocesses the next `prefetch` batches while the
// model's executor runs the current one, so memory stays bounded whatever the set's size. The next
// batch's forward is queued before the current one's logits are read, so a GPU always has the next
// batch (copied on a side stream from pinned memory) behind the one it runs.
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_DISTRIBUTED_TIMEOUT_MS, ProcessGroup, rankCores, type DistributedSpec } from '../distributed/process-group';
import type { RendezvousOptions } from '../distributed/rendezvous';
import { optionWithAlias } from '../deprecated';
import { TorchVideoError } from '../errors';
import { Batcher, forwardPieces } from '../batcher';
import { checkModel, defaultThreads, forwardFrames, loadModel, Model, type LoadModelOptions } from '../model';
import { native } from '../native';
import { resampleFrameIndices, sampleClips } from '../sampling';
import { DEFAULT_CLIPS_PER_VIDEO } from '../sidecar';
import type { Tensor } from '../tensor';
import { nativePreprocessOptions, openVideoWith, readClipBatch, type VideoReader } from '../video';
import { checkInteger, checkOptions, expectRange, expectType } from '../validate';
import { abortError } from '../abort';
import { writeFileAtomic } from '../common/atomic-file';
import { planBatches, type Segment, type VideoJob } from './batches';
import { loadDataset, type Dataset, type DatasetVideo } from './dataset';
import { lockJobFolder } from './job-lock';
import { metricsOf, softmaxRow, videoRecord, type Metrics, type VideoRecord } from './metrics';
import { unpackFrameIndex } from '../common/packed-frame-index';
import { PredictionsLog, type LoggedVideo } from './predictions-log';
import { resolveShard, type Shard } from './shard';
import { failureText, isVideoFailure } from './video-failure';

export interface EvaluationProgress {
  clipsDone: number;
  clipsTotal: number;
  clipsPerSec: number;
  /** Seconds left at the current rate. */
  etaSec: number;
}

export interface EvaluateOptions {
  /**
   * A loaded Model, a Batcher (the job's forward passes share its batches with other callers; preprocessOn
   * 'host', batchSize * crops <= its maxBatchSize), or the path of an export (loaded with `device`,
   * `threads`, `precision` and `half`, as loadModel takes them, and disposed at the end).
   */
  model: Model | Batcher | string;
  /** A dataset folder or list file (see loadDataset), or a Dataset already loaded. */
  data: string | Dataset;
  /** Evenly spaced clips per video (default 5, torchvision's UniformClipSampler). */
  clipsPerVideo?: number;
  /** Frames per clip (default: the model's, 16). */
  clipLength?: number;
  /** Frame rate clips are sampled at (default: the model's, 15). */
  frameRate?: number;
  /**
   * Views per clip: 1 (the centre crop, default) or 3 (MMAction2's ThreeCrop: left, centre and right
   * crops along the long side of the resized frame; a clip's score is its views' softmax averaged).
   */
  crops?: 1 | 3;
  /**
   * Where frames are resized, cropped and normalized: 'host' (default, on the decode pool) or 'device'
   * (the decoded uint8 frames are copied to the model's device and preprocessed there: less work for
   * the CPU cores, within one grey level of the host path on a GPU).
   */
  preprocessOn?: 'host' | 'device';
  /**
   * Decode pool threads (default: on CUDA all cores but one; on the CPU half the cores, the network's
   * intra-op threads get the rest). The pool is shared by the process and only ever grows.
   */
  decodeThreads?: number;
  /** FFmpeg threads per video (default: the cores divided among the decode threads, at least 1; 0: one per core). */
  threadsPerVideo?: number;
  /** Clips per forward pass, across video boundaries (default 8). */
  batchSize?: number;
  /** Device for a model given by path (default 'cpu'). */
  device?: string;
  /**
   * For a model given by path: loadModel's `threads` (default: the cores the decode pool leaves, at
   * least 1; see intraOpThreadsFor).
   */
  threads?: LoadModelOptions['threads'];
  /** For a model given by path: loadModel's `precision`. */
  precision?: LoadModelOptions['precision'];
  /** @deprecated Use `precision: 'fp16'`. For a model given by path: loadModel's `half`. */
  half?: LoadModelOptions['half'];
  /** Which part of the set to evaluate (default: all of it). 'env': Slurm array or Kubernetes Indexed Job. */
  shard?: Shard | 'env';
  /** With shard 'env' under Kubernetes: how many shards there are (Slurm says it itself). */
  shardCount?: number;
  /** Videos shorter than one clip: 'pad' (default: repeat the last frame, as classify does) or 'skip' (torchvision). */
  shortVideos?: 'pad' | 'skip';
  /** Batches decoded ahead of the one running (default: enough to keep every decode thread busy, 2 to 16). */
  prefetch?: number;
  /**
   * One job over N processes, one report: 'env' (torchrun, Slurm, a Kubernetes Indexed Job),
   * { rank, worldSize, masterAddr, masterPort }, or a ProcessGroup already joined. Each rank evaluates its
   * shard (every worldSize-th video, as `shard` would give it); the ranks then gather every video's
   * probabilities over the group and each gets the whole report, equal to a one-process run's. Rank 0
   * writes `outDir/report.json`; each rank journals its videos in `outDir/rank-<r>-of-<N>/`.
   */
  distributed?: DistributedSpec | ProcessGroup;
  /** With distributed 'env' in a Kubernetes Indexed Job: the world size and master address. */
  rendezvous?: RendezvousOptions;
  /** A rank that does not answer within this long fails the job, named (default 5 min; as ProcessGroup.join's). */
  timeoutMs?: number;
  /** @deprecated The old name of `timeoutMs`. */
  distributedTimeoutMs?: number;
  /**
   * A folder for predictions.jsonl (appended as videos finish, fsynced per batch) and report.json. The job
   * holds it while it runs (`.torchvideo.lock`): another job on the same folder is refused.
   */
  outDir?: string;
  /** @deprecated The old name of `outDir`. */
  out?: string;
  /** Continue the job in `outDir`: videos already there are not evaluated again. */
  resume?: boolean;
  /** Where the dataset's metadata index lives (default: loadDataset's, in the user's cache folder). */
  indexPath?: string;
  /** The folder of metadata indexes (see loadDataset). */
  indexDir?: string;
  onProgress?: (progress: EvaluationProgress) => void;
  /**
   * Called once per evaluated video as soon as its clips are scored (in completion order; videos a
   * resumed job had done first), with the entry report.predictions will hold for it. In a distributed
   * job each rank gets its own share's. An exception it throws ends the job.
   */
  onVideo?: (prediction: EvaluationPrediction) => void;
  /** Stops the job within one batch; the promise rejects with an AbortError. */
  signal?: AbortSignal;
}

export interface EvaluationPrediction {
  path: string;
  /** The video's true class name. */
  label: string;
  /** Mean of the clips' softmax. */
  probs: Float32Array;
  clips: number;
  /** Clips whose top-1 / top-5 held the true class (for exact merging of shards). */
  clipHits1: number;
  clipHits5: number;
}

export interface EvaluationReport extends Metrics {
  clipsPerSec: number;
  failed: { path: string; error: string }[];
  skipped: string[];
  predictions: EvaluationPrediction[];
  shard: Shard;
  model: { arch: string; numClasses: number; labels: string[]; weights?: string; path?: string; precision?: string };
  options: {
    clipsPerVideo: number;
    clipLength: number;
    frameRate: number;
    crops: number;
    batchSize: number;
    shortVideos: string;
    preprocessOn?: string;
  };
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

/**
 * How many threads decode and how far ahead, from the cores and the device. On CUDA the network needs
 * no CPU to speak of, so nearly every core decodes, one video per thread (FFmpeg's own threads add
 * latency, not throughput, when every core already has a video); on the CPU the network's intra-op
 * threads get half the cores. Enough batches are decoded ahead to give every decode thread a segment
 * twice over.
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
 * @internal The intra-op threads of a model evaluate loads itself: the cores the decode threads leave
 * (at least 1), so the network and the decoders do not fight over the same cores.
 */
export function intraOpThreadsFor(cores: number, decodeThreads: number): number {
  return Math.max(1, cores - decodeThreads);
}

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

/** One video's entry in the report (and what onVideo receives). */
function predictionOf(r: VideoRecord, labels: string[]): EvaluationPrediction {
  return { path: r.path, label: labels[r.label], probs: r.probs, clips: r.clips, clipHits1: r.clipHits1, clipHits5: r.clipHits5 };
}

/** The report of a set of video records: every metric recomputed from them, sorted by path. */
export function reportFromRecords(
  records: VideoRecord[],
  parts: { failed: { path: string; error: string }[]; skipped: string[] },
  about: Pick<EvaluationReport, 'shard' | 'model' | 'options' | 'clipsPerSec'>,
): EvaluationReport {
  const { labels } = about.model;
  const sorted = [...records].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return {
    ...metricsOf(sorted, labels),
    clipsPerSec: about.clipsPerSec,
    failed: [...parts.failed].sort((a, b) => (a.path < b.path ? -1 : 1)),
    skipped: [...parts.skipped].sort(),
    predictions: sorted.map((r) => predictionOf(r, labels)),
    shard: about.shard,
    model: about.model,
    options: about.options,
  };
}

/** report.json's form: probabilities as plain arrays. */
export function reportToJson(report: EvaluationReport): string {
  return JSON.stringify(report, (key, value: unknown) => (value instanceof Float32Array ? Array.from(value) : value), 1);
}

/**
 * Evaluates a network on a labelled video set: torchvision's clip accuracy (each clip's top-k) and video
 * accuracy (the clips' softmax summed, then top-k), MMAction2's mean class accuracy and confusion
 * matrix. Failed videos are reported and the job goes on.
 * Only a video's own problems (ERR_VIDEO_*, not found, not a file, no video stream) are failed videos;
 * any other error (out of memory, ERR_DISPOSED, ERR_NATIVE, ...) ends the job.
 * @throws TypeError / RangeError (rejects) for bad options, and when resuming into another job's `outDir`.
 * @throws TorchVideoError (rejects) ERR_DATASET for a label the model doesn't have (naming it and its
 *   line), ERR_CHECKPOINT for an `outDir` that cannot be written or that another job holds (naming it),
 *   the errors of loadModel / loadDataset, and any error other than a video's own.
 * @throws AbortError (rejects) when `signal` aborts.
 */
export async function evaluate(options: EvaluateOptions): Promise<EvaluationReport> {
  const opts = checkOptions(options) as Partial<EvaluateOptions>;
  expectType(
    opts.model instanceof Model || opts.model instanceof Batcher || typeof opts.model === 'string',
    'options.model',
    'a Model, a Batcher or the path of an export',
    opts.model,
  );
  expectType(
    typeof opts.data === 'string' || (typeof opts.data === 'object' && opts.data !== null),
    'options.data',
    'a dataset path or a Dataset',
    opts.data,
  );
  const crops = checkInteger(opts.crops, 'options.crops', 1, { min: 1, max: 3 });
  expectRange(crops !== 2, 'options.crops', '1 or 3', crops);
  const batchSize = checkInteger(opts.batchSize, 'options.batchSize', 8, { min: 1, max: 4096 });
  const preprocessOn = opts.preprocessOn ?? 'host';
  expectRange(preprocessOn === 'host' || preprocessOn === 'device', 'options.preprocessOn', "'host' or 'device'", preprocessOn);
  const decodeThreadsAsked =
    opts.decodeThreads === undefined ? undefined : checkInteger(opts.decodeThreads, 'options.decodeThreads', 1, { min: 1, max: 256 });
  const threadsPerVideoAsked =
    opts.threadsPerVideo === undefined ? undefined : checkInteger(opts.threadsPerVideo, 'options.threadsPerVideo', 1, { min: 0, max: 64 });
  const prefetchAsked = opts.prefetch === undefined ? undefined : checkInteger(opts.prefetch, 'options.prefetch', 2, { min: 0, max: 64 });
  const clipsPerVideo = checkInteger(opts.clipsPerVideo, 'options.clipsPerVideo', DEFAULT_CLIPS_PER_VIDEO, { min: 1, max: 10000 });
  const shortVideos = opts.shortVideos ?? 'pad';
  expectRange(shortVideos === 'pad' || shortVideos === 'skip', 'options.shortVideos', "'pad' or 'skip'", shortVideos);
  expectType(opts.onProgress === undefined || typeof opts.onProgress === 'function', 'options.onProgress', 'a function', opts.onProgress);
  expectType(opts.onVideo === undefined || typeof opts.onVideo === 'function', 'options.onVideo', 'a function', opts.onVideo);
  expectType(opts.signal === undefined || opts.signal instanceof AbortSignal, 'options.signal', 'an AbortSignal', opts.signal);
  expectType(opts.out === undefined || typeof opts.out === 'string', 'options.out', 'a folder path', opts.out);
  expectType(opts.outDir === undefined || typeof opts.outDir === 'string', 'options.outDir', 'a folder path', opts.outDir);
  const outDir = optionWithAlias<string>(opts, 'outDir', 'out', 'TORCHVIDEO_DEP_EVALUATE_OUT', 'options');
  if (opts.resume && outDir === undefined)
    throw new RangeError('expected options.outDir with options.resume: resume continues the job in outDir');
  expectType(opts.indexDir === undefined || typeof opts.indexDir === 'string', 'options.indexDir', 'a folder path', opts.indexDir);
  // Load options mean nothing for a Model already loaded: refused rather than ignored.
  if (opts.model instanceof Batcher) {
    // A batcher takes preprocessed clips, and each forward it runs holds at most maxBatchSize of them.
    expectRange(preprocessOn === 'host', 'options.preprocessOn', "'host' with a Batcher (it takes preprocessed clips)", preprocessOn);
    const { maxBatchSize } = opts.model.options;
    if (batchSize * crops > maxBatchSize) {
      throw new RangeError(
        `expected options.batchSize * options.crops to be at most the batcher's maxBatchSize ${maxBatchSize}, got ${batchSize} * ${crops}`,
      );
    }
  }
  if (opts.model instanceof Model || opts.model instanceof Batcher) {
    const given = (['threads', 'precision', 'half'] as const).find((key) => opts[key] !== undefined);
    if (given !== undefined) {
      throw new RangeError(
        `expected options.${given} only with a model given by path: a loaded Model keeps the options it was loaded with`,
      );
    }
  }
  if (opts.distributed !== undefined && opts.shard !== undefined) {
    throw new RangeError('expected options.shard or options.distributed, not both: a distributed job shards the set by rank');
  }
  const timeoutMs = checkInteger(
    optionWithAlias(opts, 'timeoutMs', 'distributedTimeoutMs', 'TORCHVIDEO_DEP_DISTRIBUTED_TIMEOUT', 'options'),
    'options.timeoutMs',
    DEFAULT_DISTRIBUTED_TIMEOUT_MS,
    { min: 1 },
  );
  const signal = opts.signal;
  if (signal?.aborted) throw abortError('the evaluation was aborted');
  const ownsGroup = opts.distributed !== undefined && !(opts.distributed instanceof ProcessGroup);
  const group =
    opts.distributed instanceof ProcessGroup
      ? opts.distributed
      : opts.distributed === undefined
        ? undefined
        : await ProcessGroup.join(opts.distributed, { ...opts.rendezvous, device: opts.device ?? 'cpu', timeoutMs });
  // One job per outDir: rank 0 holds it (the other ranks journal into their own subfolders of it).
  let unlock: (() => void) | undefined;
  try {
    if (outDir !== undefined) {
      unlock = await lockOnRankZero(group, outDir, `evaluate of '${typeof opts.model === 'string' ? opts.model : 'a loaded model'}'`);
    }
    return await evaluateShard({ ...opts, outDir }, group, {
      crops,
      batchSize,
      preprocessOn,
      decodeThreadsAsked,
      threadsPerVideoAsked,
      prefetchAsked,
      clipsPerVideo,
      shortVideos,
    });
  } finally {
    unlock?.();
    if (ownsGroup) group?.dispose();
  }
}

/**
 * Takes `outDir` for the job on rank 0 (alone: here). In a group every rank learns at once whether rank 0
 * got it, so a refusal fails the whole job now rather than at the final gather.
 */
async function lockOnRankZero(group: ProcessGroup | undefined, outDir: string, job: string): Promise<(() => void) | undefined> {
  if (!group) return lockJobFolder(path.resolve(outDir), job);
  let unlock: (() => void) | undefined;
  let refusal: unknown;
  if (group.rank === 0) {
    try {
      unlock = lockJobFolder(path.resolve(outDir), job);
    } catch (error) {
      refusal = error;
    }
  }
  let outcome: { error?: string; code?: string };
  try {
    outcome = await group.broadcastFromRoot(
      refusal === undefined ? {} : { error: (refusal as Error).message, code: (refusal as { code?: string }).code },
      'the output folder',
    );
  } catch (error) {
    unlock?.();
    throw error;
  }
  if (refusal !== undefined) throw refusal;
  if (outcome.error !== undefined) {
    throw new TorchVideoError(
      `rank 0 could not take the output folder: ${outcome.error} (${outcome.code ?? 'no code'})`,
      'ERR_DISTRIBUTED',
    );
  }
  return unlock;
}

interface CheckedOptions {
  crops: number;
  batchSize: number;
  preprocessOn: 'host' | 'device';
  decodeThreadsAsked?: number;
  threadsPerVideoAsked?: number;
  prefetchAsked?: number;
  clipsPerVideo: number;
  shortVideos: 'pad' | 'skip';
}

// What a rank sends the others: its share's results (probabilities as plain numbers: JSON round-trips
// float32 values exactly).
interface RankResults {
  records: (Omit<VideoRecord, 'probs'> & { probs: number[] })[];
  failed: { path: string; error: string }[];
  skipped: string[];
  clipsDone: number;
  seconds: number;
}

async function evaluateShard(
  opts: Partial<EvaluateOptions>,
  group: ProcessGroup | undefined,
  checked: CheckedOptions,
): Promise<EvaluationReport> {
  const { crops, batchSize, preprocessOn, decodeThreadsAsked, threadsPerVideoAsked, prefetchAsked, clipsPerVideo, shortVideos } = checked;
  const shard = group ? { index: group.rank, count: group.worldSize } : resolveShard(opts.shard, opts.shardCount);
  const signal = opts.signal;

  const ownsModel = typeof opts.model === 'string';
  const loadOptions: LoadModelOptions = { device: group?.device ?? opts.device ?? 'cpu' };
  // Ranks sharing a machine share its cores.
  const cores = group ? rankCores() : defaultThreads();
  if (opts.threads !== undefined) loadOptions.threads = opts.threads;
  else if (ownsModel) {
    const { decodeThreads } = pipelineSizes({ device: loadOptions.device!, batchSize, clipsPerVideo, decodeThreadsAsked, cores });
    loadOptions.threads = intraOpThreadsFor(cores, decodeThreads);
  }
  if (opts.precision !== undefined) loadOptions.precision = opts.precision;
  if (opts.half !== undefined) loadOptions.half = opts.half;
  const batcher = opts.model instanceof Batcher ? opts.model : undefined;
  const model = ownsModel ? await loadModel(opts.model as string, loadOptions) : (batcher?.model ?? checkModel(opts.model));
  try {
    const { preprocessing, labels } = model.info;
    const clipLength = checkInteger(opts.clipLength, 'options.clipLength', preprocessing.clipLength, { min: 1, max: 10000 });
    const frameRate = opts.frameRate ?? preprocessing.frameRate;
    expectRange(
      typeof frameRate === 'number' && frameRate > 0 && Number.isFinite(frameRate),
      'options.frameRate',
      'a positive number',
      frameRate,
    );
    const dataset =
      typeof opts.data === 'string'
        ? await loadDataset(opts.data, { indexPath: opts.indexPath, indexDir: opts.indexDir, signal })
        : (opts.data as Dataset);
    expectType(Array.isArray(dataset.videos), 'options.data', 'a dataset path or a Dataset', dataset);
    const jobOptions = { clipsPerVideo, clipLength, frameRate, crops, batchSize, shortVideos };
    const pipeline = pipelineSizes({
      device: model.info.device,
      batchSize,
      clipsPerVideo,
      decodeThreadsAsked,
      threadsPerVideoAsked,
      prefetchAsked,
      cores,
    });
    native.decodeThreads(pipeline.decodeThreads);

    // A deterministic share: every count-th video from `index`, in path order (videos that failed to
    // open included, so each shard reports its own failures).
    const all = [
      ...dataset.videos.map((video) => ({ path: video.path, video })),
      ...dataset.failed.map((failure) => ({ path: failure.path, failure })),
    ].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const share = all.filter((_, i) => i % shard.count === shard.index);
    const mine = share.flatMap((entry) => ('video' in entry ? [entry.video] : []));
    const mineSet = new Set(mine.map((v) => v.path));
    const failed = share.flatMap((entry) => ('failure' in entry ? [{ ...entry.failure }] : []));
    const skipped: string[] = [];
    const records: VideoRecord[] = [];

    const header = {
      model: { arch: model.info.arch, numClasses: model.info.numClasses, weights: model.info.weights },
      shard,
      options: jobOptions,
    };
    // In a distributed job each rank journals its own share; report.json is the whole job's.
    const journal = opts.outDir === undefined || !group ? opts.outDir : path.join(opts.outDir, `rank-${group.rank}-of-${group.worldSize}`);
    const logged = journal === undefined ? undefined : PredictionsLog.open(journal, header, opts.resume === true);
    const done = new Set<string>();
    for (const entry of logged?.done ?? []) {
      const file = entry.kind === 'record' ? entry.record.path : entry.path;
      if (!mineSet.has(file) && !failed.some((f) => f.path === file)) continue;
      done.add(file);
      if (entry.kind === 'record') records.push(entry.record);
      else if (entry.kind === 'skipped') skipped.push(entry.path);
      else if (!failed.some((f) => f.path === entry.path)) failed.push({ path: entry.path, error: entry.error });
    }
    const log = (entry: LoggedVideo) => logged?.log.add(entry);
    // onVideo's entry is the report's (reportFromRecords) for the same record.
    for (const record of records) opts.onVideo?.(predictionOf(record, labels));
    for (const f of failed) if (!done.has(f.path)) log({ kind: 'failed', path: f.path, error: f.error });

    const jobs: VideoJob[] = [];
    for (const video of mine) {
      if (done.has(video.path)) continue;
      const label = classIndexOf(video, labels);
      const info = { fps: video.info.fps as number, frameCount: video.info.frameCount as number };
      if (shortVideos === 'skip' && resampleFrameIndices(info.frameCount, info.fps, frameRate).length < clipLength) {
        skipped.push(video.path);
        log({ kind: 'skipped', path: video.path });
        continue;
      }
      const clips = sampleClips(info, { clipLength, frameRate, clipsPerVideo });
      jobs.push({ video, label, clips, probs: [], segmentsLeft: 0 });
    }

    const batches = planBatches(jobs, batchSize);

    const preprocess = { ...nativePreprocessOptions({ preprocessing }), crops };
    const onGpu = model.info.device.startsWith('cuda');
    const output = { raw: preprocessOn === 'device', pinned: onGpu };
    const clipsTotal = jobs.reduce((sum, job) => sum + job.clips.length, 0);
    let clipsDone = 0;
    const started = performance.now();

    // A segment's clips, decoded and preprocessed on the decode pool; the reader closes after its last segment.
    const decode = async (segment: Segment): Promise<Tensor | undefined> => {
      const { job } = segment;
      try {
        if (job.failed !== undefined) return undefined;
        job.reader ??= openJobVideo(job.video, pipeline.threadsPerVideo);
        const reader = await job.reader;
        return await readClipBatch(reader, segment.clips, preprocess, output);
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
    };
    // Decoding runs ahead by `prefetch` batches; each batch's segments decode in parallel.
    const decoded: Promise<(Tensor | undefined)[]>[] = [];
    const startDecoding = (b: number) => {
      if (b < batches.length && decoded[b] === undefined) {
        decoded[b] = Promise.all(batches[b].map(decode));
        // A batch decoded ahead that fails is read (and its error thrown) when its turn comes, or dropped
        // when the job stops first: its rejection is never unhandled.
        decoded[b].catch(() => {});
      }
    };

    // A batch whose forward is queued on the executor; its logits are read once the next one is queued.
    interface Running {
      segments: Segment[];
      tensors: (Tensor | undefined)[];
      ready: Segment[];
      logits?: Promise<Tensor>;
    }
    let running: Running | undefined;
    const settle = async ({ segments, tensors, ready, logits: pending }: Running) => {
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
      // Videos whose last clip ran in this batch (or that failed) are settled now.
      for (const segment of segments) {
        const { job } = segment;
        if (job.failed !== undefined && !done.has(job.video.path)) {
          done.add(job.video.path);
          failed.push({ path: job.video.path, error: job.failed });
          log({ kind: 'failed', path: job.video.path, error: job.failed });
        } else if (job.failed === undefined && job.probs.length === job.clips.length && !done.has(job.video.path)) {
          done.add(job.video.path);
          const record = videoRecord(job.video.path, job.label, job.probs);
          records.push(record);
          log({ kind: 'record', record });
          opts.onVideo?.(predictionOf(record, labels));
          job.probs = [];
        }
        clipsDone += segment.clips.length;
      }
      logged?.log.flush();
      const seconds = (performance.now() - started) / 1000;
      const clipsPerSec = clipsDone / Math.max(seconds, 1e-9);
      opts.onProgress?.({ clipsDone, clipsTotal, clipsPerSec, etaSec: (clipsTotal - clipsDone) / Math.max(clipsPerSec, 1e-9) });
    };

    try {
      for (let b = 0; b < batches.length; b++) {
        for (let ahead = b; ahead <= b + pipeline.prefetch; ahead++) startDecoding(ahead);
        if (signal?.aborted) throw abortError('the evaluation was aborted');
        const tensors = await decoded[b];
        delete decoded[b];
        const segments = batches[b];
        const ready = segments.filter((segment, i) => tensors[i] && !segment.job.failed);
        const inputs = segments.flatMap((segment, i) => (tensors[i] && !segment.job.failed ? [tensors[i] as Tensor] : []));
        const next: Running = { segments, tensors, ready };
        if (inputs.length > 0) {
          next.logits = batcher
            ? forwardPieces(batcher, inputs)
            : preprocessOn === 'device'
              ? forwardFrames(model, inputs, preprocess)
              : model.forward(inputs);
          // Read after the previous batch settles; a rejection meanwhile is not unhandled.
          next.logits.catch(() => {});
        }
        const previous = running;
        running = next;
        if (previous) await settle(previous);
      }
      const last = running;
      running = undefined;
      if (last) await settle(last);
    } finally {
      // Stopped early (abort, error): free what was decoded ahead and close the readers.
      if (running) {
        const { tensors, logits } = running;
        tensors.forEach((t) => t?.dispose());
        logits?.then(
          (t) => t.dispose(),
          () => {},
        );
      }
      for (const pending of decoded)
        pending?.then(
          (ts) => ts.forEach((t) => t?.dispose()),
          () => {},
        );
      for (const job of jobs)
        job.reader?.then(
          (r) => r.close(),
          () => {},
        );
      logged?.log.close();
    }

    const seconds = (performance.now() - started) / 1000;
    const whole = group ? await gatherResults(group, { records, failed, skipped, clipsDone, seconds }) : undefined;
    const { arch, numClasses, weights } = model.info;
    const report = reportFromRecords(whole?.records ?? records, whole ?? { failed, skipped }, {
      shard: group ? { index: 0, count: 1 } : shard,
      options: preprocessOn === 'device' ? { ...jobOptions, preprocessOn } : jobOptions,
      clipsPerSec: whole?.clipsPerSec ?? clipsDone / Math.max(seconds, 1e-9),
      model: {
        arch,
        numClasses,
        labels: [...labels],
        weights,
        path: typeof opts.model === 'string' ? opts.model : undefined,
        precision: model.info.precision,
      },
    });
    if (opts.outDir !== undefined && (group?.rank ?? 0) === 0) writeFileAtomic(path.join(opts.outDir, 'report.json'), reportToJson(report));
    return report;
  } finally {
    if (ownsModel) model.dispose();
  }
}

/** Every rank's results, joined: the job's records, failures and skips, and its rate (all clips / the slowest rank). */
async function gatherResults(
  group: ProcessGroup,
  mine: { records: VideoRecord[]; failed: { path: string; error: string }[]; skipped: string[]; clipsDone: number; seconds: number },
): Promise<{ records: VideoRecord[]; failed: { path: string; error: string }[]; skipped: string[]; clipsPerSec: number }> {
  const sent: RankResults = { ...mine, records: mine.records.map((r) => ({ ...r, probs: Array.from(r.probs) })) };
  const parts = await group.allgather(sent, "the gathering of every rank's predictions");
  const clips = parts.reduce((sum, part) => sum + part.clipsDone, 0);
  const slowest = Math.max(...parts.map((part) => part.seconds), 1e-9);
  return {
    records: parts.flatMap((part) => part.records.map((r) => ({ ...r, probs: Float32Array.from(r.probs) }))),
    failed: parts.flatMap((part) => part.failed),
    skipped: parts.flatMap((part) => part.skipped),
    clipsPerSec: clips / slowest,
  };
}
