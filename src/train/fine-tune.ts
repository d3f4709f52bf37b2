// Fine-tuning with torchvision's recipe (references/video_classification/train.py): each epoch trains on
// RandomClipSampler's clips with the training preset, steps the learning rate per iteration (warm-up, then
// milestones), validates with evaluate(), and checkpoints; a run killed at any instant resumes from its
// newest complete checkpoint and ends bit-identical (on the CPU, with a seed) to one never interrupted.
//
// outDir holds: checkpoint.json (the run's position, history and options: the commit point of a
// checkpoint) naming checkpoint-<iteration>.pt (the trainer's state), model.pt + model.json (the newest
// export), best.pt + best.json (the highest validation video acc@1), history.jsonl and curves.svg.
import { randomInt } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { optionWithAlias } from '../deprecated';
import { TorchVideoError } from '../errors';
import { DEFAULT_DISTRIBUTED_TIMEOUT_MS, ProcessGroup, rankThreads, type DistributedSpec } from '../distributed/process-group';
import type { RendezvousOptions } from '../distributed/rendezvous';
import { evaluate } from '../eval/evaluate';
import { copyFileAtomic, readFileNoFollow, writeFileAtomic } from '../common/atomic-file';
import { loadDataset, type Dataset, type DatasetVideo } from '../eval/dataset';
import { lockJobFolder } from '../eval/job-lock';
import { nativePreprocessOptions } from '../video';
import { checkBoolean, checkInteger, checkOptions, checkRate, checkString, expectRange, expectType } from '../validate';
import { abortError } from '../abort';
import { rankShare, trainingEpoch, type TrainingVideo } from './clip-sampler';
import { writeCurves } from './curves';
import { learningRateAt } from './schedule';
import { batchCount, trainBatches, type TrainingSetVideo } from './train-batches';
import { Trainer } from './trainer';

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

// What defines a run: a resume must agree on all of it.
interface JobOptions {
  model: string;
  numClasses: number;
  labels: string[];
  epochs: number;
  batchSize: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  warmupEpochs: number;
  warmupDecay: number;
  milestones: number[];
  gamma: number;
  clipLength: number;
  frameRate: number;
  clipsPerVideo: number;
  freezeBackbone: boolean;
  hflipProb: number;
  amp: boolean;
  seed: number;
  /** Ranks of the job (1 alone): each rank's share of an epoch, and so a position in it, depends on it. */
  worldSize: number;
}

// checkpoint.json: where the run stands after the checkpoint it names.
interface RunState {
  format: 'torchvideo-finetune';
  version: 1;
  checkpoint: string;
  /** The epoch in progress and the next batch of it (batch 0 of the next epoch after an epoch ends). */
  epoch: number;
  batch: number;
  iteration: number;
  running: { lossSum: number; correct: number; clips: number };
  history: FineTuneEpoch[];
  best: { epoch: number; valVideoAcc1: number } | null;
  job: JobOptions;
}

const STATE_FILE = 'checkpoint.json';

function checkpointError(message: string, file: string): TorchVideoError {
  const error = new TorchVideoError(message, 'ERR_CHECKPOINT');
  error.path = file;
  return error;
}

function readState(outDir: string): RunState | undefined {
  const file = path.join(outDir, STATE_FILE);
  let state: RunState;
  try {
    const text = readFileNoFollow(file);
    if (text === undefined) return undefined;
    state = JSON.parse(text) as RunState;
  } catch (error) {
    throw checkpointError(`cannot resume from '${file}': it is not a readable fine-tuning state (${(error as Error).message})`, file);
  }
  if (state?.format !== 'torchvideo-finetune' || state.version !== 1 || typeof state.checkpoint !== 'string') {
    throw checkpointError(`cannot resume from '${file}': it is not a torchvideo fine-tuning state`, file);
  }
  // The checkpoint is read, and later deleted, by that name: it must be a file of outDir itself, not
  // '../another-run/x.pt' or an absolute path.
  if (!isPlainFileName(state.checkpoint)) {
    throw checkpointError(
      `cannot resume from '${file}': it names the checkpoint ${JSON.stringify(state.checkpoint)}, which is not a file name inside outDir '${outDir}'`,
      file,
    );
  }
  return state;
}

/** A name of a file directly inside a folder: no separator, not empty, '.' or '..'. */
function isPlainFileName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !/[/\\\0]/.test(name) && path.basename(name) === name;
}

function differingOption(a: JobOptions, b: JobOptions): keyof JobOptions | undefined {
  for (const key of Object.keys(a) as (keyof JobOptions)[]) {
    if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) return key;
  }
  return undefined;
}

/** The dataset's class index of a video: by name among the classes, or the integer label itself. */
function classOf(video: DatasetVideo, classes: string[], numClasses: number): number {
  const index = typeof video.label === 'number' ? video.label : classes.indexOf(video.label);
  if (index < 0 || index >= numClasses) {
    throw new TorchVideoError(`${video.source}: label '${video.label}' is not one of the ${numClasses} classes trained`, 'ERR_DATASET');
  }
  return index;
}

/**
 * Fine-tunes a network on a labelled video set with torchvision's recipe (see the README, "Fine-tuning").
 * @throws TypeError / RangeError (rejects) for bad options, and a resume whose options differ from the run's.
 * @throws TorchVideoError (rejects) ERR_DATASET (a label outside the classes), ERR_CHECKPOINT (a torn or
 *   foreign checkpoint in outDir, one naming a file outside outDir, an outDir that cannot be written or
 *   that another job holds, naming it), the errors of Trainer.create / Trainer.restore / loadDataset / evaluate.
 * @throws AbortError (rejects) when `signal` aborts, after writing a checkpoint.
 */
export async function fineTune(options: FineTuneOptions): Promise<FineTuneResult> {
  const opts = checkOptions(options) as Partial<FineTuneOptions>;
  const model = checkString(opts.model, 'options.model');
  const outDir = path.resolve(checkString(opts.outDir, 'options.outDir'));
  const epochs = checkInteger(opts.epochs, 'options.epochs', 45, { min: 1, max: 100000 });
  const batchSize = checkInteger(opts.batchSize, 'options.batchSize', 16, { min: 1, max: 4096 });
  const lr = checkRate(opts.lr, 'options.lr', 0.01);
  const momentum = checkRate(opts.momentum, 'options.momentum', 0.9);
  const weightDecay = checkRate(opts.weightDecay, 'options.weightDecay', 1e-4);
  const warmupEpochs = checkInteger(opts.warmupEpochs, 'options.warmupEpochs', 10, { min: 0, max: 100000 });
  const warmupDecay = checkRate(opts.warmupDecay, 'options.warmupDecay', 0.001);
  const gamma = checkRate(opts.gamma, 'options.gamma', 0.1);
  const milestones = opts.milestones ?? [20, 30, 40];
  expectType(Array.isArray(milestones), 'options.milestones', 'an array of epochs', milestones);
  milestones.forEach((m, i) => checkInteger(m, `options.milestones[${i}]`, undefined, { min: 0, max: 100000 }));
  const clipLength = checkInteger(opts.clipLength, 'options.clipLength', 16, { min: 1, max: 10000 });
  const frameRate = opts.frameRate ?? 15;
  expectRange(
    typeof frameRate === 'number' && frameRate > 0 && Number.isFinite(frameRate),
    'options.frameRate',
    'a positive number',
    frameRate,
  );
  const clipsPerVideo = checkInteger(opts.clipsPerVideo, 'options.clipsPerVideo', 5, { min: 1, max: 10000 });
  const freezeBackbone = checkBoolean(opts.freezeBackbone, 'options.freezeBackbone', false);
  const amp = checkBoolean(opts.amp, 'options.amp', false);
  const hflipProb = checkRate(opts.hflipProb, 'options.hflipProb', 0.5);
  expectRange(hflipProb <= 1, 'options.hflipProb', 'a probability in [0, 1]', hflipProb);
  const device = opts.device ?? 'cpu';
  const resume = checkBoolean(opts.resume, 'options.resume', false);
  const checkpointEvery =
    opts.checkpointEvery === undefined ? undefined : checkInteger(opts.checkpointEvery, 'options.checkpointEvery', undefined, { min: 1 });
  const prefetch = checkInteger(opts.prefetch, 'options.prefetch', 2, { min: 0, max: 64 });
  expectType(opts.onProgress === undefined || typeof opts.onProgress === 'function', 'options.onProgress', 'a function', opts.onProgress);
  expectType(opts.onEpoch === undefined || typeof opts.onEpoch === 'function', 'options.onEpoch', 'a function', opts.onEpoch);
  expectType(opts.signal === undefined || opts.signal instanceof AbortSignal, 'options.signal', 'an AbortSignal', opts.signal);
  const indexDir = opts.indexDir === undefined ? undefined : checkString(opts.indexDir, 'options.indexDir');
  expectType(
    typeof opts.train === 'string' || (typeof opts.train === 'object' && opts.train !== null),
    'options.train',
    'a dataset path or a Dataset',
    opts.train,
  );
  expectType(
    typeof opts.val === 'string' || (typeof opts.val === 'object' && opts.val !== null),
    'options.val',
    'a dataset path or a Dataset',
    opts.val,
  );
  const timeoutMs = checkInteger(
    optionWithAlias(opts, 'timeoutMs', 'distributedTimeoutMs', 'TORCHVIDEO_DEP_DISTRIBUTED_TIMEOUT', 'options'),
    'options.timeoutMs',
    DEFAULT_DISTRIBUTED_TIMEOUT_MS,
    { min: 1 },
  );
  const signal = opts.signal;
  if (signal?.aborted) throw abortError('the fine-tuning was aborted');
  const group =
    opts.distributed === undefined ? undefined : await ProcessGroup.join(opts.distributed, { ...opts.rendezvous, device, timeoutMs });
  // Files other ranks export for their share of validation (rank 0 exports into outDir).
  const rankFolder = group && group.rank > 0 ? fs.mkdtempSync(path.join(os.tmpdir(), `torchvideo-rank-${group.rank}-`)) : undefined;
  // One job per outDir: rank 0 holds it for the whole job (the other ranks write nothing there).
  let unlock: (() => void) | undefined;
  try {
    const rank = group?.rank ?? 0;
    const worldSize = group?.worldSize ?? 1;
    // Through fromRankZero: a refusal fails every rank at once, naming the holder.
    await fromRankZero(group, 'the output folder', () => {
      unlock = lockJobFolder(outDir, `fineTune of '${path.resolve(model)}'`);
      return true;
    });

    const train = typeof opts.train === 'string' ? await loadDataset(opts.train, { indexDir }) : (opts.train as Dataset);
    const val = typeof opts.val === 'string' ? await loadDataset(opts.val, { indexDir }) : (opts.val as Dataset);
    const numClasses = checkInteger(opts.numClasses, 'options.numClasses', train.classes.length, { min: 1, max: 1e9 });
    const labels = train.classes.length === numClasses ? [...train.classes] : Array.from({ length: numClasses }, (_, i) => `class_${i}`);
    // A torchrun restart continues the run it restarts.
    const resuming = resume || (group?.rendezvous.restartCount ?? 0) > 0;
    // Rank 0 decides where the run stands; every rank follows it.
    const previous = await fromRankZero(group, 'the run state', () => (resuming ? readState(outDir) : undefined));
    const seed = await fromRankZero(group, 'the seed', () =>
      checkInteger(opts.seed, 'options.seed', previous?.job.seed ?? randomInt(0, 2 ** 47), { min: 0 }),
    );
    const job: JobOptions = {
      model: path.resolve(model),
      numClasses,
      labels,
      epochs,
      batchSize,
      lr,
      momentum,
      weightDecay,
      warmupEpochs,
      warmupDecay,
      milestones: [...milestones],
      gamma,
      clipLength,
      frameRate,
      clipsPerVideo,
      freezeBackbone,
      hflipProb,
      amp,
      seed,
      worldSize,
    };
    if (group) {
      const jobs = await group.allgather(job, "every rank's options");
      jobs.forEach((other, r) => {
        const key = differingOption({ ...jobs[0], model: '' }, { ...other, model: '' });
        if (key !== undefined) {
          throw new RangeError(
            `rank ${r}'s options differ from rank 0's: ${key} is ${JSON.stringify(other[key])} there, ${JSON.stringify(jobs[0][key])} on rank 0`,
          );
        }
      });
    }
    if (previous) {
      // Runs from before the distributed release did not record it: they ran alone.
      previous.job.worldSize ??= 1;
      const key = differingOption(previous.job, job);
      if (key !== undefined) {
        throw new RangeError(
          `cannot resume the run in '${outDir}' with other options: ${key} was ${JSON.stringify(previous.job[key])}, now ${JSON.stringify(job[key])}`,
        );
      }
    }

    const videos: TrainingSetVideo[] = train.videos.map((video) => ({
      path: video.path,
      label: classOf(video, train.classes, numClasses),
      frameIndex: video.info.frameIndex,
    }));
    const timing: TrainingVideo[] = train.videos.map((video) => ({
      frameCount: video.info.frameCount as number,
      fps: video.info.fps as number,
    }));

    const rankDevice = group?.device ?? device;
    // CPU ranks on one machine split its cores (the launcher's OMP_NUM_THREADS, else cores / local ranks).
    const threads = opts.threads ?? (group ? rankThreads() : undefined);
    if (previous && rank > 0 && !fs.existsSync(path.join(outDir, previous.checkpoint))) {
      throw checkpointError(
        `rank ${rank} cannot read rank 0's checkpoint '${path.join(outDir, previous.checkpoint)}': every rank must see outDir (a shared file system) to resume`,
        path.join(outDir, previous.checkpoint),
      );
    }
    const trainer = previous
      ? await Trainer.restore(path.join(outDir, previous.checkpoint), { device: rankDevice, threads })
      : await Trainer.create({
          model,
          numClasses,
          labels,
          device: rankDevice,
          lr,
          momentum,
          weightDecay,
          freezeBackbone,
          amp,
          seed,
          threads,
        });
    try {
      if (group) await trainer.setDistributed(group);
      const { preprocessing } = trainer.info;
      const preprocess = nativePreprocessOptions({ preprocessing });
      const epochOptions = {
        clipLength,
        frameRate,
        clipsPerVideo,
        resizeSize: preprocessing.resizeSize,
        cropSize: preprocessing.cropSize[0],
        seed,
        hflipProb,
      };
      const epochClips = (epoch: number) => rankShare(trainingEpoch(timing, { ...epochOptions, epoch }), rank, worldSize);
      const itersPerEpoch = batchCount(epochClips(0).length, batchSize);
      if (itersPerEpoch === 0) {
        throw new RangeError(`the training set has no clip of ${clipLength} frames at ${frameRate} fps: every video is shorter`);
      }
      const schedule = { lr, itersPerEpoch, warmupEpochs, warmupDecay, milestones, gamma };

      const state: RunState = previous ?? {
        format: 'torchvideo-finetune',
        version: 1,
        checkpoint: '',
        epoch: 0,
        batch: 0,
        iteration: 0,
        running: { lossSum: 0, correct: 0, clips: 0 },
        history: [],
        best: null,
        job,
      };
      const position = () => `${state.epoch}/${state.batch}/${state.iteration}`;
      let saved = previous ? position() : '';
      const checkpoint = async () => {
        if (saved === position()) return;
        // Rank 0 writes the run's files; the other ranks hold the same weights.
        if (rank > 0) {
          saved = position();
          return;
        }
        const name = `checkpoint-${String(state.iteration).padStart(8, '0')}.pt`;
        await trainer.saveCheckpoint(path.join(outDir, name));
        const old = state.checkpoint;
        state.checkpoint = name;
        writeFileAtomic(path.join(outDir, STATE_FILE), JSON.stringify(state, null, 1));
        // The old checkpoint goes only once the new one is named in checkpoint.json.
        if (old && old !== name) fs.rmSync(path.join(outDir, old), { force: true });
        saved = position();
      };
      if (!previous) await checkpoint();

      const modelFile = path.join(outDir, 'model.pt');
      while (state.epoch < epochs) {
        const clips = epochClips(state.epoch);
        const started = performance.now();
        let clipsThisRun = 0;
        const batches = trainBatches(videos, clips, {
          batchSize,
          preprocess,
          prefetch,
          threadsPerVideo: 1,
          startBatch: state.batch,
        });
        for await (const batch of batches) {
          try {
            if (!group && signal?.aborted) {
              await checkpoint();
              throw abortError('the fine-tuning was aborted');
            }
            const rate = learningRateAt(state.iteration, schedule);
            trainer.setLearningRate(rate);
            const result = await trainer.step(batch.clips, batch.labels);
            let [lossSum, correct, size, stop] = [result.loss * batch.labels.shape[0], result.correct, batch.labels.shape[0], 0];
            // The job's numbers, and whether any rank was asked to stop: all ranks stop after the same step.
            if (group) {
              [lossSum, correct, size, stop] = await group.allreduceSum(
                [lossSum, correct, size, signal?.aborted ? 1 : 0],
                "the step's loss, accuracy and stop flag",
              );
            }
            state.running.lossSum += lossSum;
            state.running.correct += correct;
            state.running.clips += size;
            state.iteration++;
            state.batch++;
            clipsThisRun += size;
            const seconds = (performance.now() - started) / 1000;
            const clipsPerSec = clipsThisRun / Math.max(seconds, 1e-9);
            opts.onProgress?.({
              epoch: state.epoch,
              epochs,
              batch: state.batch,
              batches: itersPerEpoch,
              loss: state.running.lossSum / state.running.clips,
              lr: rate,
              clipsPerSec,
              etaSec: ((itersPerEpoch - state.batch) * batchSize * worldSize) / Math.max(clipsPerSec, 1e-9),
            });
            if (stop > 0) {
              await checkpoint();
              throw abortError('the fine-tuning was aborted');
            }
            if (checkpointEvery !== undefined && state.iteration % checkpointEvery === 0) await checkpoint();
          } finally {
            batch.clips.dispose();
            batch.labels.dispose();
          }
        }
        const stopping = group
          ? (await group.allreduceSum([signal?.aborted ? 1 : 0], 'the stop flag at the end of the epoch'))[0] > 0
          : signal?.aborted;
        if (stopping) {
          await checkpoint();
          throw abortError('the fine-tuning was aborted');
        }

        // Validation: the export as loadModel loads it, scored by evaluate(). In a job each rank scores its
        // share with the same weights (rank 0's statistics copied first) and every rank gets the whole report;
        // a stop request then waits for the validation to end, so the ranks stay in step.
        if (group) await trainer.syncBuffers();
        const exported = rankFolder ? path.join(rankFolder, 'model.pt') : modelFile;
        await trainer.exportModel(exported, { labels });
        let report;
        try {
          report = await evaluate({
            model: exported,
            device: rankDevice,
            // The validation network runs with the training's intra-op threads.
            threads,
            data: val,
            clipsPerVideo,
            clipLength,
            frameRate,
            batchSize,
            signal: group ? undefined : signal,
            distributed: group,
          });
        } catch (error) {
          // Stopped while validating: keep the epoch's training (a resume validates it again).
          if ((error as Error).name === 'AbortError') await checkpoint();
          throw error;
        }
        const entry: FineTuneEpoch = {
          epoch: state.epoch,
          trainLoss: state.running.lossSum / Math.max(state.running.clips, 1),
          trainAcc1: state.running.correct / Math.max(state.running.clips, 1),
          valClipAcc1: report.clipAcc1,
          valVideoAcc1: report.videoAcc1,
          lr: trainer.learningRate,
        };
        state.history.push(entry);
        if (state.best === null || entry.valVideoAcc1 > state.best.valVideoAcc1) {
          if (rank === 0) {
            copyFileAtomic(modelFile, path.join(outDir, 'best.pt'));
            copyFileAtomic(path.join(outDir, 'model.json'), path.join(outDir, 'best.json'));
          }
          state.best = { epoch: state.epoch, valVideoAcc1: entry.valVideoAcc1 };
        }
        if (rank === 0) {
          writeFileAtomic(path.join(outDir, 'history.jsonl'), state.history.map((h) => JSON.stringify(h)).join('\n') + '\n');
          await writeCurves(path.join(outDir, 'curves.svg'), state.history);
        }
        // The position after this epoch: the next epoch's first batch.
        state.epoch++;
        state.batch = 0;
        state.running = { lossSum: 0, correct: 0, clips: 0 };
        await checkpoint();
        opts.onEpoch?.({ ...entry });
      }
      if (rank === 0 && !fs.existsSync(modelFile)) await trainer.exportModel(modelFile, { labels });
      // Nobody leaves before rank 0's files are complete.
      if (group) await group.barrier('the end of fine-tuning');
      return {
        history: state.history,
        best: state.best && { ...state.best, path: path.join(outDir, 'best.pt') },
        final: { path: modelFile },
      };
    } finally {
      trainer.dispose();
    }
  } finally {
    unlock?.();
    group?.dispose();
    if (rankFolder) fs.rmSync(rankFolder, { recursive: true, force: true });
  }
}

/**
 * What rank 0 computes, on every rank (without a group: computed here). A failure on rank 0 fails every
 * rank, naming it, instead of leaving them waiting.
 */
async function fromRankZero<T>(group: ProcessGroup | undefined, what: string, compute: () => T | Promise<T>): Promise<T> {
  if (!group) return compute();
  let mine: { value?: T; error?: string; code?: string } = {};
  let thrown: unknown;
  if (group.rank === 0) {
    try {
      mine = { value: await compute() };
    } catch (error) {
      thrown = error;
      mine = { error: (error as Error).message, code: (error as { code?: string }).code };
    }
  }
  const shared = await group.broadcastFromRoot(mine, what);
  if (thrown !== undefined) throw thrown;
  if (shared.error !== undefined) {
    throw new TorchVideoError(
      `rank 0 could not establish ${what}: ${shared.error}${shared.code ? ` (${shared.code})` : ''}`,
      'ERR_DISTRIBUTED',
    );
  }
  return shared.value as T;
}
