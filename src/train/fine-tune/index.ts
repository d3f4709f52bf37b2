// Fine-tuning with torchvision's recipe (references/video_classification/train.py): each epoch trains on
// RandomClipSampler's clips with the training preset, steps the learning rate per iteration (warm-up, then
// milestones), validates with evaluate(), and checkpoints; a run killed at any instant resumes from its
// newest complete checkpoint and ends bit-identical (on the CPU, with a seed) to one never interrupted.
//
// outDir holds: checkpoint.json (the run's position, history and options: the commit point of a
// checkpoint) naming checkpoint-<iteration>.pt (the trainer's state), model.pt + model.json (the newest
// export), best.pt + best.json (the highest validation video acc@1), history.jsonl and curves.svg.
//
// This file is the outline of a job; its parts: options.ts (the options and the job they define),
// data.ts (the sets and the clips), run-state.ts (checkpoint.json and the commit protocol), epoch.ts (the
// steps of an epoch), validation.ts (validation and the best epoch), types.ts (the public types).
import { randomInt } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { abortError } from '../../abort';
import { ProcessGroup, rankThreads } from '../../distributed/process-group';
import { decidedByRankZero } from '../../distributed/root-decides';
import { lockJobFolder } from '../../eval/job-lock';
import { nativePreprocessOptions } from '../../video';
import { checkInteger } from '../../validate';
import { batchCount } from '../train-batches';
import { Trainer } from '../trainer';
import { loadFineTuneData, rankEpochClips, trainingSet } from './data';
import { trainEpoch } from './epoch';
import { checkRanksAgree, checkResumeAgrees, jobOptionsOf, resolveOptions } from './options';
import { checkpointer, checkRankSeesCheckpoint, newRunState, readRunState } from './run-state';
import type { FineTuneOptions, FineTuneResult } from './types';
import { validateEpoch } from './validation';

/**
 * Fine-tunes a network on a labelled video set with torchvision's recipe (see the README, "Fine-tuning").
 * @throws TypeError / RangeError (rejects) for bad options, and a resume whose options differ from the run's.
 * @throws TorchVideoError (rejects) ERR_DATASET (a label outside the classes), ERR_CHECKPOINT (a torn or
 *   foreign checkpoint in outDir, one naming a file outside outDir, an outDir that cannot be written or
 *   that another job holds, naming it), the errors of Trainer.create / Trainer.restore / loadDataset / evaluate.
 * @throws AbortError (rejects) when `signal` aborts, after writing a checkpoint.
 */
export async function fineTune(options: FineTuneOptions): Promise<FineTuneResult> {
  const opts = resolveOptions(options);
  const { outDir, model, device, signal } = opts;
  if (signal?.aborted) throw abortError('the fine-tuning was aborted');
  const group =
    opts.distributed === undefined
      ? undefined
      : await ProcessGroup.join(opts.distributed, { ...opts.rendezvous, device, timeoutMs: opts.timeoutMs });
  // Files other ranks export for their share of validation (rank 0 exports into outDir).
  const rankFolder = group && group.rank > 0 ? fs.mkdtempSync(path.join(os.tmpdir(), `torchvideo-rank-${group.rank}-`)) : undefined;
  // One job per outDir: rank 0 holds it for the whole job (the other ranks write nothing there).
  let unlock: (() => void) | undefined;
  try {
    const rank = group?.rank ?? 0;
    const worldSize = group?.worldSize ?? 1;
    // Decided by rank 0: a refusal fails every rank at once, naming the holder.
    await decidedByRankZero(group, 'the output folder', () => {
      unlock = lockJobFolder(outDir, `fineTune of '${path.resolve(model)}'`);
      return true;
    });
    const { train, val, numClasses, labels } = await loadFineTuneData(opts);

    // Rank 0 decides where the run stands (a torchrun restart continues the run it restarts); every rank follows it.
    const resuming = opts.resume || (group?.rendezvous.restartCount ?? 0) > 0;
    const previous = await decidedByRankZero(group, 'the run state', () => (resuming ? readRunState(outDir) : undefined));
    const seed = await decidedByRankZero(group, 'the seed', () =>
      checkInteger(opts.seed, 'options.seed', previous?.job.seed ?? randomInt(0, 2 ** 47), { min: 0 }),
    );
    const job = jobOptionsOf(opts, { numClasses, labels, seed, worldSize });
    if (group) checkRanksAgree(await group.allgather(job, "every rank's options"));
    if (previous) checkResumeAgrees(outDir, previous.job, job);
    const { videos, timing } = trainingSet(train, numClasses);

    const rankDevice = group?.device ?? device;
    // CPU ranks on one machine split its cores (the launcher's OMP_NUM_THREADS, else cores / local ranks).
    const threads = opts.threads ?? (group ? rankThreads() : undefined);
    if (previous) checkRankSeesCheckpoint(outDir, previous, rank);
    const trainer = previous
      ? await Trainer.restore(path.join(outDir, previous.checkpoint), { device: rankDevice, threads })
      : await Trainer.create({
          model,
          numClasses,
          labels,
          device: rankDevice,
          lr: opts.lr,
          momentum: opts.momentum,
          weightDecay: opts.weightDecay,
          freezeBackbone: opts.freezeBackbone,
          amp: opts.amp,
          seed,
          threads,
        });
    try {
      if (group) await trainer.setDistributed(group);
      const { preprocessing } = trainer.info;
      const preprocess = nativePreprocessOptions({ preprocessing });
      const epochClips = rankEpochClips(timing, opts, { preprocessing, seed, rank, worldSize });
      const itersPerEpoch = batchCount(epochClips(0).length, opts.batchSize);
      if (itersPerEpoch === 0) {
        throw new RangeError(`the training set has no clip of ${opts.clipLength} frames at ${opts.frameRate} fps: every video is shorter`);
      }
      const { lr, warmupEpochs, warmupDecay, milestones, gamma } = opts;
      const schedule = { lr, itersPerEpoch, warmupEpochs, warmupDecay, milestones, gamma };

      const state = previous ?? newRunState(job);
      const save = (file: string) => trainer.saveCheckpoint(file);
      const checkpoint = checkpointer(outDir, state, { rank, resumed: previous !== undefined, save });
      if (!previous) await checkpoint();

      const modelFile = path.join(outDir, 'model.pt');
      const exported = rankFolder ? path.join(rankFolder, 'model.pt') : modelFile;
      while (state.epoch < opts.epochs) {
        const clips = epochClips(state.epoch);
        await trainEpoch({ opts, trainer, group, worldSize, state, checkpoint, videos, clips, preprocess, schedule, itersPerEpoch });
        const entry = await validateEpoch({
          opts,
          trainer,
          group,
          rank,
          exported,
          labels,
          val,
          device: rankDevice,
          threads,
          state,
          checkpoint,
        });
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
