// One job per output folder. fineTune and evaluate write their folder's files on the assumption that nobody
// else does (checkpoint.json names a checkpoint the other job may delete, model.pt is replaced under its
// sidecar, predictions.jsonl is appended to): two jobs that are not one (a second run started by mistake, N
// copies from a launcher without --distributed) would corrupt each other without a word. So a job holds
// `<folder>/.torchvideo.lock` while it runs, a file naming it (pid, host, start time), created exclusively
// (link(2) of a complete file: no reader ever sees it half written) and removed at the end. A lock whose
// process is gone (same host, pid not alive: the job was killed) is taken over; any other is refused.
// In a distributed evaluation rank 0 holds the lock for the job, and every rank learns whether it got it
// (lockOnRankZero).
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ProcessGroup } from '../distributed/process-group';
import { TorchVideoError } from '../errors';
import { EXCLUSIVE_CREATE, readFileNoFollow, syncFolder, temporaryNameFor } from '../common/atomic-file';

export const LOCK_FILE = '.torchvideo.lock';

export interface LockHolder {
  pid: number;
  host: string;
  /** When the job started, ISO 8601. */
  started: string;
  /** The job's own argument (what `fineTune`/`evaluate` call holds it), for the refusal message. */
  job: string;
  /** Tells this lock from another with the same pid (a pid reused, a lock taken over). */
  token: string;
}

function folderError(message: string, file: string, cause?: unknown): TorchVideoError {
  const error = new TorchVideoError(message, 'ERR_CHECKPOINT');
  error.path = file;
  if (cause !== undefined) (error as Error & { cause?: unknown }).cause = cause;
  return error;
}

function readHolder(file: string): LockHolder | 'unreadable' | undefined {
  let text: string | undefined;
  try {
    text = readFileNoFollow(file);
  } catch {
    return 'unreadable';
  }
  if (text === undefined) return fs.existsSync(file) ? 'unreadable' : undefined;
  try {
    const holder = JSON.parse(text) as LockHolder;
    return Number.isInteger(holder?.pid) && typeof holder.host === 'string' && typeof holder.token === 'string' ? holder : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, as another user's process.
    return (error as { code?: string }).code !== 'ESRCH';
  }
}

function describeHolder(holder: LockHolder): string {
  return `${holder.job} (pid ${holder.pid} on host '${holder.host}', started ${holder.started})`;
}

/**
 * Takes `folder` (created when missing) for one job, or refuses. Resolves to the function that gives it back.
 * @throws TorchVideoError ERR_CHECKPOINT (with `path`) when another live job holds the folder (naming it:
 *   pid, host, start time), when its lock file cannot be read, and when the folder cannot be created or
 *   written (the file system's reason in the message, its code in `cause`).
 */
export function lockJobFolder(folder: string, job: string): () => void {
  const file = path.join(folder, LOCK_FILE);
  const mine: LockHolder = {
    pid: process.pid,
    host: os.hostname(),
    started: new Date().toISOString(),
    job,
    token: randomBytes(8).toString('hex'),
  };
  // The complete lock is written under a temporary name, then linked to the lock's name: link fails
  // with EEXIST when a lock is there, whatever it is (a symlink included), and never follows it.
  let temporary: string;
  try {
    fs.mkdirSync(folder, { recursive: true });
    temporary = temporaryNameFor(file);
    const fd = fs.openSync(temporary, EXCLUSIVE_CREATE, 0o644);
    try {
      fs.writeSync(fd, `${JSON.stringify(mine)}\n`);
    } finally {
      fs.closeSync(fd);
    }
  } catch (error) {
    throw folderError(`cannot write to outDir '${folder}': ${(error as Error).message}`, folder, error);
  }
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        fs.linkSync(temporary, file);
        syncFolder(folder);
        break;
      } catch (error) {
        if ((error as { code?: string }).code !== 'EEXIST' || attempt >= 8) {
          throw folderError(`cannot lock outDir '${folder}': ${(error as Error).message}`, file, error);
        }
      }
      const holder = readHolder(file);
      if (holder === undefined) continue; // released meanwhile: try again
      if (holder === 'unreadable') {
        throw folderError(
          `outDir '${folder}' is locked by '${file}', which does not name a torchvideo job: remove it if no job uses the folder`,
          file,
        );
      }
      if (holder.host !== mine.host || alive(holder.pid)) {
        throw folderError(
          `outDir '${folder}' is in use by another job: ${describeHolder(holder)}. Two jobs must not share a folder: ` +
            `wait for that one to end or use another folder (if it is gone, e.g. on another host, remove '${file}')`,
          file,
        );
      }
      // The holder died without giving the folder back (killed). Move its lock aside under a name of our
      // own and check that what moved is that stale lock: a rival that took it over first has its live lock
      // put back, and we look again.
      const aside = temporaryNameFor(file);
      try {
        fs.renameSync(file, aside);
      } catch {
        continue;
      }
      const moved = readHolder(aside);
      if (moved !== 'unreadable' && moved?.token !== holder.token) {
        try {
          fs.linkSync(aside, file);
        } catch {
          // Another lock is in place already: the loop reads it.
        }
      }
      fs.rmSync(aside, { force: true });
    }
  } finally {
    fs.rmSync(temporary, { force: true });
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    // Only our own lock is removed (not one a later job took over after ours was judged stale).
    const holder = readHolder(file);
    if (holder !== 'unreadable' && holder?.token === mine.token) fs.rmSync(file, { force: true });
  };
}

/**
 * Takes `outDir` for the job on rank 0 (alone: here). In a group every rank learns at once whether rank 0
 * got it, so a refusal fails the whole job now rather than at the final gather.
 */
export async function lockOnRankZero(group: ProcessGroup | undefined, outDir: string, job: string): Promise<(() => void) | undefined> {
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
