// The public data types of an evaluation job: what evaluate takes (EvaluateOptions), what it reports as
// it goes (EvaluationProgress, EvaluationPrediction) and what it resolves to (EvaluationReport). They
// live apart from the code that runs the job so that the modules which only read or write reports
// (report.ts, merge.ts, the CLI) and src/index.ts need none of it.
import type { Batcher } from '../batcher';
import type { DistributedSpec, ProcessGroup } from '../distributed/process-group';
import type { RendezvousOptions } from '../distributed/rendezvous';
import type { LoadModelOptions, Model } from '../model';
import type { Dataset } from './dataset';
import type { Metrics } from './metrics';
import type { Shard } from './shard';

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
   * Decode pool threads (default: on CUDA all cores but one, on the CPU half the cores, at least 2 either
   * way; in a distributed job the cores are the rank's share of the machine's). A model evaluate loads by
   * path without `threads` gets the cores these leave as its intra-op threads (at least 1); a Model or
   * Batcher passed in keeps the threads it has. The pool is shared by the process and only ever grows.
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
