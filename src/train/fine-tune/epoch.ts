// One training epoch of a fine-tuning run: the batches of the epoch's clips from the run's position on,
// one step each at the schedule's learning rate, the running loss and accuracy (summed over the ranks of a
// job), progress reports, periodic checkpoints, and the stop checks: a stop request checkpoints and ends the
// run with an AbortError, within one step (in a job, every rank after the same step).
import { abortError } from '../../abort';
import type { ProcessGroup } from '../../distributed/process-group';
import type { NativePreprocessOptions } from '../../native';
import type { TrainingClip } from '../clip-sampler';
import { learningRateAt, type LearningRateScheduleOptions } from '../schedule';
import { trainBatches, type TrainingSetVideo } from '../train-batches';
import type { Trainer } from '../trainer';
import type { ResolvedOptions } from './options';
import type { RunState } from './run-state';

export interface EpochRun {
  opts: Pick<ResolvedOptions, 'epochs' | 'batchSize' | 'prefetch' | 'checkpointEvery' | 'signal' | 'onProgress'>;
  trainer: Trainer;
  group: ProcessGroup | undefined;
  worldSize: number;
  /** Updated step by step: the position, the iteration and the running numbers. */
  state: RunState;
  /** Commits the state (see run-state.ts). */
  checkpoint: () => Promise<void>;
  videos: TrainingSetVideo[];
  /** This rank's clips of the epoch. */
  clips: TrainingClip[];
  preprocess: NativePreprocessOptions;
  schedule: LearningRateScheduleOptions;
  itersPerEpoch: number;
}

/** Checkpoints, then fails with the AbortError of a stopped run. */
async function stop(run: EpochRun): Promise<never> {
  await run.checkpoint();
  throw abortError('the fine-tuning was aborted');
}

/**
 * Trains the rest of the epoch `run.state` stands in.
 * @throws AbortError after a checkpoint when the signal aborts (on any rank of a job); the errors of the
 *   steps, the batches and the collectives.
 */
export async function trainEpoch(run: EpochRun): Promise<void> {
  const { opts, trainer, group, state, schedule, itersPerEpoch } = run;
  const { signal, batchSize } = opts;
  const started = performance.now();
  let clipsThisRun = 0;
  const batches = trainBatches(run.videos, run.clips, {
    batchSize,
    preprocess: run.preprocess,
    prefetch: opts.prefetch,
    threadsPerVideo: 1,
    startBatch: state.batch,
  });
  for await (const batch of batches) {
    try {
      if (!group && signal?.aborted) await stop(run);
      const rate = learningRateAt(state.iteration, schedule);
      trainer.setLearningRate(rate);
      const result = await trainer.step(batch.clips, batch.labels);
      let [lossSum, correct, size, stopping] = [result.loss * batch.labels.shape[0], result.correct, batch.labels.shape[0], 0];
      // The job's numbers, and whether any rank was asked to stop: all ranks stop after the same step.
      if (group) {
        [lossSum, correct, size, stopping] = await group.allreduceSum(
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
        epochs: opts.epochs,
        batch: state.batch,
        batches: itersPerEpoch,
        loss: state.running.lossSum / state.running.clips,
        lr: rate,
        clipsPerSec,
        etaSec: ((itersPerEpoch - state.batch) * batchSize * run.worldSize) / Math.max(clipsPerSec, 1e-9),
      });
      if (stopping > 0) await stop(run);
      if (opts.checkpointEvery !== undefined && state.iteration % opts.checkpointEvery === 0) await run.checkpoint();
    } finally {
      batch.clips.dispose();
      batch.labels.dispose();
    }
  }
  const stopping = group
    ? (await group.allreduceSum([signal?.aborted ? 1 : 0], 'the stop flag at the end of the epoch'))[0] > 0
    : signal?.aborted;
  if (stopping) await stop(run);
}
