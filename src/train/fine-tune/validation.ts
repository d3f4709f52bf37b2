// The end of a fine-tuning epoch: the network is exported as loadModel loads it and scored by evaluate()
// on the validation set; the epoch's entry joins the history, an epoch better than the best so far (video
// acc@1) becomes best.pt + best.json, and history.jsonl and curves.svg are rewritten. Rank 0 writes outDir;
// in a job each rank scores its share with the same weights and every rank gets the whole report.
import * as path from 'node:path';
import { copyFileAtomic, writeFileAtomic } from '../../common/atomic-file';
import type { ProcessGroup } from '../../distributed/process-group';
import type { Dataset } from '../../eval/dataset';
import { evaluate } from '../../eval/evaluate';
import { writeCurves } from '../curves';
import type { Trainer } from '../trainer';
import type { ResolvedOptions } from './options';
import type { RunState } from './run-state';
import type { FineTuneEpoch } from './types';

export interface ValidationRun {
  opts: Pick<ResolvedOptions, 'outDir' | 'clipsPerVideo' | 'clipLength' | 'frameRate' | 'batchSize' | 'signal'>;
  trainer: Trainer;
  group: ProcessGroup | undefined;
  rank: number;
  /** Where the export goes: outDir's model.pt on rank 0, a folder of the rank's own on the others. */
  exported: string;
  labels: string[];
  val: Dataset;
  device: string;
  threads: number | undefined;
  /** Its history and best are updated. */
  state: RunState;
  /** Commits the state (see run-state.ts). */
  checkpoint: () => Promise<void>;
}

/**
 * Validates the epoch `run.state` stands in, records it and returns its entry of the history.
 * @throws AbortError (after a checkpoint that keeps the epoch's training: a resume validates it again)
 *   when the signal aborts during validation; the errors of exportModel and evaluate.
 */
export async function validateEpoch(run: ValidationRun): Promise<FineTuneEpoch> {
  const { opts, trainer, group, rank, state } = run;
  // In a job: rank 0's statistics first, so every rank scores the same weights; a stop request waits for
  // the validation to end (its signal is not passed on), so the ranks stay in step.
  if (group) await trainer.syncBuffers();
  await trainer.exportModel(run.exported, { labels: run.labels });
  let report;
  try {
    report = await evaluate({
      model: run.exported,
      device: run.device,
      // The validation network runs with the training's intra-op threads.
      threads: run.threads,
      data: run.val,
      clipsPerVideo: opts.clipsPerVideo,
      clipLength: opts.clipLength,
      frameRate: opts.frameRate,
      batchSize: opts.batchSize,
      signal: group ? undefined : opts.signal,
      distributed: group,
    });
  } catch (error) {
    // Stopped while validating: keep the epoch's training (a resume validates it again).
    if ((error as Error).name === 'AbortError') await run.checkpoint();
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
  const { outDir } = opts;
  if (state.best === null || entry.valVideoAcc1 > state.best.valVideoAcc1) {
    if (rank === 0) {
      copyFileAtomic(path.join(outDir, 'model.pt'), path.join(outDir, 'best.pt'));
      copyFileAtomic(path.join(outDir, 'model.json'), path.join(outDir, 'best.json'));
    }
    state.best = { epoch: state.epoch, valVideoAcc1: entry.valVideoAcc1 };
  }
  if (rank === 0) {
    writeFileAtomic(path.join(outDir, 'history.jsonl'), state.history.map((h) => JSON.stringify(h)).join('\n') + '\n');
    await writeCurves(path.join(outDir, 'curves.svg'), state.history);
  }
  return entry;
}
