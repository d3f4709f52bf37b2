// Trains a torchvision video ResNet export: each step is forward, cross-entropy, backward and one
// SGD update, run in C++ on the device's executor (cpp/train/trainer.h). This file owns the public
// names, the defaults and the argument checks (the tensor and label checks, and the reading of a
// checkpoint's metadata, are in trainer-inputs.ts); the export's sidecar and the checkpoint's metadata
// (the preprocessing an exported network expects) are written here.
import { randomInt } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { abortable, checkSignal } from '../abort';
import { checkSha256, sha256Of, verifyPinnedSha256 } from '../checksum';
import { TorchVideoError, withCallSite, withPath } from '../errors';
import { writeFileAtomic } from '../common/atomic-file';
import { defaultThreads } from '../model';
import { ProcessGroup } from '../distributed/process-group';
import { native, type NativeTrainer } from '../native';
import { DEFAULT_PREPROCESSING, readSidecar, sidecarPathOf, type Preprocessing } from '../sidecar';
import { Tensor } from '../tensor';
import { checkClips, checkLabels, checkLabelTensor, checkpointMetadataOf, type CheckpointMetadata } from './trainer-inputs';
import { checkBoolean, checkDevice, checkInteger, checkOptions, checkRate, checkString, expectRange, expectType } from '../validate';

export interface TrainerOptions {
  /** Path of the TorchScript export to start from (scripts/export_models.py, or a trainer's exportModel). */
  model: string;
  /** Classes to train; when the export's final `fc` has another size it is replaced by a new Linear layer. */
  numClasses: number;
  /** 'cpu' (default), 'cuda' or 'cuda:N'. */
  device?: string;
  /** Initial learning rate (default 0.01); change it between steps with setLearningRate. */
  lr?: number;
  /** SGD momentum (default 0.9). */
  momentum?: number;
  /** SGD weight decay, applied to every parameter as torchvision's reference does (default 1e-4). */
  weightDecay?: number;
  /** Train `fc` alone, the backbone's weights and batch-norm statistics frozen (default false). */
  freezeBackbone?: boolean;
  /** CUDA only: float16 autocast with a dynamic loss scaler (default false). */
  amp?: boolean;
  /** Seeds the new `fc` layer's initialisation (default: a random seed, reported in `info.seed`). */
  seed?: number;
  /** One name per class, written to exported sidecars (default: the export's labels when its `fc` is kept, else `class_<i>`). */
  labels?: string[];
  /** LibTorch intra-op threads for the steps (default: the machine's cores). */
  threads?: number;
  /**
   * The sha256 (64 hex digits) of the export that the caller trusts, checked before the file is loaded: it
   * is code (TorchScript), and nothing inside it proves where it came from.
   */
  expectSha256?: string;
}

export interface RestoreTrainerOptions {
  /** 'cpu' (default), 'cuda' or 'cuda:N': where the restored trainer runs. */
  device?: string;
  /** LibTorch intra-op threads for the steps (default: the machine's cores). */
  threads?: number;
  /**
   * The sha256 (64 hex digits) of the checkpoint that the caller trusts, checked before the file is loaded: it
   * is code (TorchScript), and nothing inside it proves where it came from.
   */
  expectSha256?: string;
}

export interface ExportModelOptions {
  /** Class names for the sidecar (default: the trainer's labels). */
  labels?: string[];
}

export interface TrainStepOptions {
  /**
   * Aborts this step: rejects at once with the signal's reason (an AbortError by default). A step still
   * queued behind others never runs (the weights stay as they were); one already running finishes (its
   * update is applied) and its result is dropped. On a distributed trainer a queued step still runs,
   * since every rank must take part in its collectives.
   */
  signal?: AbortSignal;
}

export interface TrainStepResult {
  /** The batch's mean cross-entropy loss, computed before this step's update. */
  loss: number;
  /** Clips of the batch whose highest logit is their label (before this step's update). */
  correct: number;
  /**
   * In a data-parallel job (setDistributed): the gradient buckets, how many were allreduced while
   * backward still ran, and the milliseconds spent after backward waiting for the rest.
   */
  allreduce?: { buckets: number; duringBackward: number; exposedMs: number };
}

export interface SetDistributedOptions {
  /** Allreduce each bucket as soon as backward fills it (default true); false waits for the end of backward. */
  overlap?: boolean;
  /** Bucket size in bytes (default 25 MiB, DDP's), and the first bucket's (default 1 MiB). */
  bucketBytes?: number;
  firstBucketBytes?: number;
}

import type { TrainerInfo } from '../types';

export type { TrainerInfo } from '../types';

/**
 * Trains a video classifier in place: `step()` runs forward, cross-entropy, backward and an SGD
 * update (torch.optim.SGD's, momentum and weight decay on every parameter) off the JS thread; steps
 * queue and run in call order.
 */
export class Trainer {
  #native: NativeTrainer | undefined;
  #learningRate: number;
  // Set by setDistributed: its steps run collectives, so an aborted one is not skipped.
  #distributed = false;
  readonly info: Readonly<TrainerInfo>;
  readonly #source: string;

  /** @internal Use Trainer.create() or Trainer.restore(). */
  constructor(handle: NativeTrainer, learningRate: number, preprocessing: Preprocessing, source: string) {
    this.#native = handle;
    this.#learningRate = learningRate;
    this.#source = source;
    const nativeInfo = handle.info;
    this.info = Object.freeze({
      arch: nativeInfo.arch,
      numClasses: nativeInfo.numClasses,
      labels: Object.freeze(nativeInfo.labels) as string[],
      device: nativeInfo.device,
      momentum: nativeInfo.momentum,
      weightDecay: nativeInfo.weightDecay,
      freezeBackbone: nativeInfo.freezeBackbone,
      amp: nativeInfo.amp,
      seed: nativeInfo.seed,
      parameters: nativeInfo.parameters,
      trainedParameters: nativeInfo.trainedParameters,
      preprocessing,
    });
  }

  /**
   * Loads an export for training (unfrozen, train mode, autograd) on `device`.
   * @throws TypeError / RangeError (rejects) for bad options: numClasses not an integer >= 1, lr,
   *   momentum or weightDecay negative or non-finite, labels not numClasses strings, amp off CUDA.
   * @throws TorchVideoError (rejects) ERR_FILE_NOT_FOUND, ERR_NOT_A_FILE, ERR_MODEL_LOAD (not a
   *   TorchScript file, no final `fc` layer, a sha256 other than `expectSha256`, both named),
   *   ERR_DEVICE_UNAVAILABLE (CUDA asked for and absent).
   */
  static async create(options: TrainerOptions): Promise<Trainer> {
    const callSite = new Error();
    expectType(typeof options === 'object' && options !== null, 'options', 'an object', options);
    const opts = checkOptions(options);
    const model = checkString(opts.model, 'options.model');
    const numClasses = checkInteger(opts.numClasses, 'options.numClasses', undefined, { min: 1, max: 1e9 });
    const device = opts.device === undefined ? 'cpu' : checkDevice(opts.device, 'options.device');
    const lr = checkRate(opts.lr, 'options.lr', 0.01);
    const momentum = checkRate(opts.momentum, 'options.momentum', 0.9);
    const weightDecay = checkRate(opts.weightDecay, 'options.weightDecay', 1e-4);
    const freezeBackbone = checkBoolean(opts.freezeBackbone, 'options.freezeBackbone', false);
    const amp = checkBoolean(opts.amp, 'options.amp', false);
    const seed = checkInteger(opts.seed, 'options.seed', randomInt(0, 2 ** 47), { min: 0 });
    const threads = checkInteger(opts.threads, 'options.threads', defaultThreads(), { min: 1, max: 1024 });
    const expectSha256 = checkSha256(opts.expectSha256, 'options.expectSha256');
    // The device's own error (ERR_DEVICE_UNAVAILABLE) comes first; amp on a CPU is a bad value.
    if (amp && device === 'cpu') {
      throw new RangeError(
        "expected options.amp to be used with a CUDA device, got device 'cpu' (automatic mixed precision is float16 autocast on CUDA)",
      );
    }
    if (expectSha256 !== undefined) await withCallSite(verifyPinnedSha256(model, expectSha256, 'ERR_MODEL_LOAD'), callSite);
    const sidecar = readSidecar(model);
    if (sidecar && sidecar.precision !== 'fp32') {
      const error = new TorchVideoError(
        `cannot train '${model}': it is an inference export in ${sidecar.precision} (frozen); train its float32 export, then export the result with --precision`,
        'ERR_MODEL_LOAD',
      );
      error.path = model;
      throw error;
    }
    const keepsLabels = sidecar?.labels !== undefined && sidecar.labels.length === numClasses && sidecar.numClasses === numClasses;
    const labels =
      opts.labels !== undefined
        ? checkLabels(opts.labels, 'options.labels', numClasses)
        : keepsLabels
          ? [...(sidecar.labels as string[])]
          : Array.from({ length: numClasses }, (_, i) => `class_${i}`);
    const handle = await withCallSite(
      withPath(
        native.Trainer.create(model, { device, numClasses, labels, momentum, weightDecay, freezeBackbone, amp, seed, threads }),
        model,
      ),
      callSite,
    );
    return new Trainer(handle, lr, sidecar?.preprocessing ?? { ...DEFAULT_PREPROCESSING }, path.resolve(model));
  }

  /**
   * Continues from a checkpoint written by saveCheckpoint: the steps that follow are bit for bit the
   * ones the saved trainer would have taken.
   * @throws TypeError / RangeError (rejects) for bad arguments, amp checkpoints restored off CUDA.
   * @throws TorchVideoError (rejects, with `path`) ERR_FILE_NOT_FOUND, ERR_NOT_A_FILE, ERR_CHECKPOINT
   *   (a torn file, not a torchvideo trainer checkpoint, a stored count out of range (named), a sha256
   *   other than `expectSha256` (both named)), ERR_DEVICE_UNAVAILABLE.
   */
  static async restore(file: string, options: RestoreTrainerOptions = {}): Promise<Trainer> {
    const callSite = new Error();
    checkString(file, 'path');
    const opts = checkOptions(options);
    const device = opts.device === undefined ? 'cpu' : checkDevice(opts.device, 'options.device');
    const threads = checkInteger(opts.threads, 'options.threads', defaultThreads(), { min: 1, max: 1024 });
    const expectSha256 = checkSha256(opts.expectSha256, 'options.expectSha256');
    if (expectSha256 !== undefined) await withCallSite(verifyPinnedSha256(file, expectSha256, 'ERR_CHECKPOINT'), callSite);
    const handle = await withCallSite(withPath(native.Trainer.restore(file, { device, threads }), file), callSite);
    let metadata: CheckpointMetadata;
    try {
      metadata = checkpointMetadataOf(handle.info.metadata, file);
    } catch (error) {
      handle.dispose();
      throw error;
    }
    return new Trainer(handle, handle.info.learningRate as number, metadata.preprocessing, metadata.source);
  }

  #handle(): NativeTrainer {
    if (!this.#native) throw new TorchVideoError('trainer is disposed', 'ERR_DISPOSED');
    return this.#native;
  }

  get disposed(): boolean {
    return this.#native === undefined;
  }

  /** The learning rate the next step() call will use. */
  get learningRate(): number {
    return this.#learningRate;
  }

  /**
   * Sets the learning rate for the steps called from now on (a step already called keeps its rate).
   * @throws TypeError / RangeError for a rate that is not a finite number >= 0.
   */
  setLearningRate(lr: number): void {
    expectType(typeof lr === 'number', 'lr', 'a number', lr);
    expectRange(Number.isFinite(lr) && lr >= 0, 'lr', 'a finite number >= 0', lr);
    this.#learningRate = lr;
  }

  /**
   * One training step on a batch: forward in train mode, mean cross-entropy against `labels`,
   * backward, and an SGD update at the current learning rate.
   * @throws TypeError (rejects) when clips is not a float32 Tensor or labels not an int64 Tensor.
   * @throws RangeError (rejects) for clips not (B, 3, T, H, W), labels not (B) or of another batch
   *   size, a label outside [0, numClasses) (named with its index).
   * @throws TorchVideoError (rejects) ERR_DISPOSED after dispose(), ERR_TORCH when LibTorch fails.
   * @throws TypeError (rejects) when options.signal is not an AbortSignal.
   * @throws AbortError (rejects; the signal's reason) when options.signal aborts before the step's result arrives.
   */
  async step(clips: Tensor, labels: Tensor, options: TrainStepOptions = {}): Promise<TrainStepResult> {
    const callSite = new Error();
    const signal = checkSignal(checkOptions(options).signal);
    const handle = this.#handle();
    const nativeClips = checkClips(clips);
    const nativeLabels = checkLabelTensor(labels, clips.shape[0]);
    const learningRate = this.#learningRate;
    // A distributed step is never skipped: the other ranks would wait in its collectives.
    const skippable = !this.#distributed;
    const result = await withCallSite(
      abortable(signal, (cancel) => handle.step(nativeClips, nativeLabels, learningRate, cancel && skippable ? { cancel } : undefined)),
      callSite,
    );
    return {
      loss: result.loss,
      correct: result.correct,
      ...(result.buckets > 0 && {
        allreduce: { buckets: result.buckets, duringBackward: result.bucketsDuringBackward, exposedMs: result.allreduceExposedMs },
      }),
    };
  }

  /**
   * Makes this trainer one rank of a data-parallel job (every rank calls it, with the same export and
   * options): rank 0's weights and batch-norm statistics are copied to every rank, and from then on
   * each step copies rank 0's statistics first and averages the gradients across the ranks, bucket by
   * bucket as backward produces them (like DistributedDataParallel). Batch norm uses each rank's batch.
   * @throws TypeError (rejects) when `group` is not a ProcessGroup.
   * @throws TorchVideoError (rejects) ERR_DISTRIBUTED when a rank fails.
   */
  async setDistributed(group: ProcessGroup, options: SetDistributedOptions = {}): Promise<void> {
    const callSite = new Error();
    expectType(group instanceof ProcessGroup, 'group', 'a ProcessGroup', group);
    const opts = checkOptions(options) as SetDistributedOptions;
    const overlap = checkBoolean(opts.overlap, 'options.overlap', true);
    const bucketBytes = checkInteger(opts.bucketBytes, 'options.bucketBytes', 25 * 1024 * 1024, { min: 1, max: 2 ** 31 - 1 });
    const firstBucketBytes = checkInteger(opts.firstBucketBytes, 'options.firstBucketBytes', 1024 * 1024, { min: 1, max: 2 ** 31 - 1 });
    this.#distributed = true;
    await withCallSite(this.#handle().setDistributed(group.nativeHandle, { overlap, bucketBytes, firstBucketBytes }), callSite);
  }

  /** In a data-parallel job: copies rank 0's batch-norm statistics to every rank (a collective). */
  async syncBuffers(): Promise<void> {
    const callSite = new Error();
    await withCallSite(this.#handle().syncBuffers(), callSite);
  }

  /**
   * Eval-mode logits (B, numClasses), float32, with the current weights (batch norm uses its
   * running statistics; nothing is updated).
   * @throws TypeError / RangeError (rejects) for clips that are not a float32 (B, 3, T, H, W) Tensor.
   * @throws TorchVideoError (rejects) ERR_DISPOSED, ERR_FORWARD.
   */
  async predict(clips: Tensor): Promise<Tensor> {
    const callSite = new Error();
    const handle = this.#handle();
    return new Tensor(await withCallSite(handle.predict(checkClips(clips)), callSite));
  }

  /**
   * Writes the network as a TorchScript export (eval mode) to `file`, and its sidecar `<name>.json`
   * beside it (arch, classes, labels, preprocessing, sha256), so loadModel(file) loads it. Both are
   * written atomically; a step called before this one is in the export.
   * @throws TypeError / RangeError (rejects) for bad arguments.
   * @throws TorchVideoError (rejects, with `path`) ERR_DISPOSED, ERR_TORCH when the file cannot be written.
   */
  async exportModel(file: string, options: ExportModelOptions = {}): Promise<void> {
    const callSite = new Error();
    checkString(file, 'path');
    const opts = checkOptions(options);
    const labels = opts.labels === undefined ? [...this.info.labels] : checkLabels(opts.labels, 'options.labels', this.info.numClasses);
    const handle = this.#handle();
    const sidecarFile = sidecarPathOf(file);
    // An old sidecar must not vouch for the new file, even for a moment.
    fs.rmSync(sidecarFile, { force: true });
    await withCallSite(withPath(handle.exportModel(file), file), callSite);
    const preprocessing = this.info.preprocessing;
    const sidecar = {
      arch: this.info.arch,
      num_classes: this.info.numClasses,
      labels,
      clip_length: preprocessing.clipLength,
      frame_rate: preprocessing.frameRate,
      resize_size: preprocessing.resizeSize,
      crop_size: preprocessing.cropSize,
      mean: preprocessing.mean,
      std: preprocessing.std,
      parameters: this.info.parameters,
      weights: `trained by torchvideo from ${path.basename(this.#source)}`,
      sha256: await sha256Of(file),
    };
    writeFileAtomic(sidecarFile, `${JSON.stringify(sidecar, null, 2)}\n`);
  }

  /**
   * Writes everything needed to continue later (weights and batch-norm statistics, momentum buffers,
   * loss scaler, learning rate, step count, options, the trainer's RNG state) to `file`, atomically:
   * the file is the old one or the new one, never half of either.
   * @throws TypeError / RangeError (rejects) for a bad path.
   * @throws TorchVideoError (rejects, with `path`) ERR_DISPOSED, ERR_CHECKPOINT when it cannot be written.
   */
  async saveCheckpoint(file: string): Promise<void> {
    const callSite = new Error();
    checkString(file, 'path');
    const handle = this.#handle();
    const metadata: CheckpointMetadata = { preprocessing: this.info.preprocessing, source: this.#source };
    await withCallSite(withPath(handle.saveCheckpoint(file, this.#learningRate, JSON.stringify(metadata)), file), callSite);
  }

  /** Releases the network. Steps already called finish first; calls after this reject with ERR_DISPOSED. Idempotent. */
  dispose(): void {
    this.#native?.dispose();
    this.#native = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
