// Where a fine-tuning run stands, and how a checkpoint is committed so that a run killed at any instant
// resumes from its newest complete checkpoint.
//
// checkpoint.json (STATE_FILE) is the commit point: it holds the run's position, history, best epoch and
// job options, and names the trainer checkpoint (checkpoint-<iteration>.pt) that goes with them. A commit
// (1) writes the new trainer checkpoint under a new name (atomically: Trainer.saveCheckpoint), (2) replaces
// checkpoint.json atomically with the state naming it, (3) only then deletes the checkpoint it replaced.
// Killed before (2) completes, the folder resumes from the previous commit (its checkpoint is still there);
// after it, from the new one (a leftover old checkpoint is never read); never a mix of the two.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TorchVideoError } from '../../errors';
import { readFileNoFollow, writeFileAtomic } from '../../common/atomic-file';
import type { JobOptions } from './options';
import type { FineTuneEpoch } from './types';

// checkpoint.json: where the run stands after the checkpoint it names.
export interface RunState {
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

export const STATE_FILE = 'checkpoint.json';

export function checkpointError(message: string, file: string): TorchVideoError {
  const error = new TorchVideoError(message, 'ERR_CHECKPOINT');
  error.path = file;
  return error;
}

/** The state of a run that has not taken a step yet (no checkpoint committed). */
export function newRunState(job: JobOptions): RunState {
  return {
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
}

/**
 * The newest committed state of the run in `outDir`, or undefined when there is none (no checkpoint.json,
 * or a symlink in its place: it is not read through).
 * @throws TorchVideoError ERR_CHECKPOINT (with `path`) for a torn or foreign checkpoint.json, or one naming
 *   a checkpoint outside outDir.
 */
export function readRunState(outDir: string): RunState | undefined {
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

/**
 * Checks that a rank other than 0 sees the checkpoint rank 0 resumes from (outDir on a shared file system).
 * @throws TorchVideoError ERR_CHECKPOINT naming the rank and the checkpoint.
 */
export function checkRankSeesCheckpoint(outDir: string, state: RunState, rank: number): void {
  const file = path.join(outDir, state.checkpoint);
  if (rank > 0 && !fs.existsSync(file)) {
    throw checkpointError(
      `rank ${rank} cannot read rank 0's checkpoint '${file}': every rank must see outDir (a shared file system) to resume`,
      file,
    );
  }
}

/** The trainer checkpoint's name at `iteration`. */
export function checkpointName(iteration: number): string {
  return `checkpoint-${String(iteration).padStart(8, '0')}.pt`;
}

/**
 * Commits `state` in `outDir` (see the top of this file): `save` writes the trainer's checkpoint to the file
 * it is given, checkpoint.json then names it (`state.checkpoint` is updated) and the previous one is deleted.
 * A failure leaves the previous commit in place, and `state.checkpoint` as it was when `save` fails.
 */
export async function commitCheckpoint(outDir: string, state: RunState, save: (file: string) => Promise<void>): Promise<void> {
  const name = checkpointName(state.iteration);
  await save(path.join(outDir, name));
  const old = state.checkpoint;
  state.checkpoint = name;
  writeFileAtomic(path.join(outDir, STATE_FILE), JSON.stringify(state, null, 1));
  // The old checkpoint goes only once the new one is named in checkpoint.json.
  if (old && old !== name) fs.rmSync(path.join(outDir, old), { force: true });
}

/**
 * The run's checkpoint function: commits `state` unless its position is the one committed last (`resumed`:
 * the state was read from outDir, so it is committed already). Rank 0 writes the run's files; on the other
 * ranks (which hold the same weights) it only notes the position.
 */
export function checkpointer(
  outDir: string,
  state: RunState,
  { rank, resumed, save }: { rank: number; resumed: boolean; save: (file: string) => Promise<void> },
): () => Promise<void> {
  const position = () => `${state.epoch}/${state.batch}/${state.iteration}`;
  let saved = resumed ? position() : '';
  return async () => {
    if (saved === position()) return;
    if (rank > 0) {
      saved = position();
      return;
    }
    await commitCheckpoint(outDir, state, save);
    saved = position();
  };
}
