// The public types of fineTune(): its options, its progress and epoch reports and its result. They live
// apart from the implementation so that what only needs the types (curves.svg, the CLI) does not import
// the fine-tuning itself.
import type { DistributedSpec } from '../../distributed/process-group';
import type { RendezvousOptions } from '../../distributed/rendezvous';
import type { Dataset } from '../../eval/dataset';

export interface FineTuneProgress {
  epoch: number;
  epochs: number;
  /** Batches done in this epoch, and how many it has. */
  batch: number;
  batches: number;
  /** Mean training loss of the epoch so far. */
  loss: number;
  lr: number;
  clipsPerSec: number;
  /** Seconds left in this epoch at the current rate. */
  etaSec: number;
}

export interface FineTuneOptions {
  /** The TorchScript export to start from. */
  model: string;
  /** Training and validation sets: a folder, CSV or list file (see loadDataset), or a Dataset. */
  train: string | Dataset;
  val: string | Dataset;
  /** Classes to train (default: the training set's). */
  numClasses?: number;
  epochs?: number;
  /** Clips per step (default 16; scale lr with it: torchvision used 0.64 for 64 GPUs x 24). */
  batchSize?: number;
  lr?: number;
  momentum?: number;
  weightDecay?: number;
  warmupEpochs?: number;
  warmupDecay?: number;
  milestones?: number[];
  gamma?: number;
  clipLength?: number;
  frameRate?: number;
  /** Training windows drawn per video each epoch, and validation clips per video (default 5). */
  clipsPerVideo?: number;
  freezeBackbone?: boolean;
  /**
   * Probability of the training preset's horizontal flip (default 0.5, torchvision's hflip_prob). Set 0
   * when a flip changes the class, e.g. motion to the left or right.
   */
  hflipProb?: number;
  amp?: boolean;
  device?: string;
  /** Where checkpoints, exports, history and curves go. */
  outDir: string;
  /** Continue from outDir's newest complete checkpoint (a fresh run when there is none). */
  resume?: boolean;
  /** Also checkpoint every this many iterations (default: only after each epoch and on abort). */
  checkpointEvery?: number;
  /** Seeds the new fc, the clips and the augmentation (default: a random seed, kept in the checkpoint). */
  seed?: number;
  /** LibTorch intra-op threads for the steps (default: the machine's cores). */
  threads?: number;
  /** Training batches decoded ahead of the step (default 2). */
  prefetch?: number;
  /**
   * Data-parallel training over N processes (see docs/scaling.md): 'env' reads torchrun's, Slurm's or a
   * Kubernetes Indexed Job's environment; or { rank, worldSize, masterAddr, masterPort }. Every rank
   * starts from rank 0's weights, trains on its share of each epoch's clips at `batchSize` clips per step
   * (the global batch is batchSize x world size) and averages gradients with the others; rank 0 writes
   * outDir, which every rank must be able to read (a shared file system) to resume.
   */
  distributed?: DistributedSpec;
  /** With distributed 'env' in a Kubernetes Indexed Job: the world size and master (the index comes from the environment). */
  rendezvous?: RendezvousOptions;
  /** A rank that does not answer within this long fails the job, named (default 5 min; as ProcessGroup.join's). */
  timeoutMs?: number;
  /** @deprecated The old name of `timeoutMs`. */
  distributedTimeoutMs?: number;
  /** Where the datasets' metadata indexes go (see loadDataset's `indexDir`; default the user's cache folder). */
  indexDir?: string;
  onProgress?: (progress: FineTuneProgress) => void;
  /**
   * Called on every rank after each epoch's validation, once the epoch is checkpointed, with the epoch's
   * entry of the history (as history.jsonl has it). An exception it throws ends the run.
   */
  onEpoch?: (epoch: FineTuneEpoch) => void;
  /** Stops within one step: a checkpoint is written, then the promise rejects with an AbortError. */
  signal?: AbortSignal;
}

export interface FineTuneEpoch {
  epoch: number;
  trainLoss: number;
  trainAcc1: number;
  valClipAcc1: number;
  valVideoAcc1: number;
  /** The learning rate of the epoch's last step. */
  lr: number;
}

export interface FineTuneResult {
  history: FineTuneEpoch[];
  /** The epoch with the highest validation video acc@1, exported to best.pt. */
  best: { epoch: number; valVideoAcc1: number; path: string } | null;
  /** The export after the last epoch. */
  final: { path: string };
}
