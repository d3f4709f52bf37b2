// The per-video results of an evaluation job, appended to `<out>/predictions.jsonl` as videos finish
// and made durable (fsync) after every batch, so a job killed at any instant loses at most the batch
// in flight. The first line describes the job; a resumed job must be the same job.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { APPEND_NO_FOLLOW, readFileNoFollow, writeFileAtomic } from '../common/atomic-file';
import type { VideoRecord } from './metrics';

export type LoggedVideo =
  { kind: 'record'; record: VideoRecord } | { kind: 'failed'; path: string; error: string } | { kind: 'skipped'; path: string };

export const PREDICTIONS_FILE = 'predictions.jsonl';

function lineOf(entry: LoggedVideo): string {
  if (entry.kind === 'failed') return JSON.stringify({ path: entry.path, error: entry.error });
  if (entry.kind === 'skipped') return JSON.stringify({ path: entry.path, skipped: true });
  const { path: file, label, clips, clipHits1, clipHits5, probs } = entry.record;
  // float32 -> double -> shortest JSON text -> double -> float32 is exact: a resumed job reads back
  // the very numbers it wrote.
  return JSON.stringify({ path: file, label, clips, clipHits1, clipHits5, probs: Array.from(probs) });
}

function entryOf(value: Record<string, unknown>): LoggedVideo {
  if (typeof value.error === 'string') return { kind: 'failed', path: value.path as string, error: value.error };
  if (value.skipped === true) return { kind: 'skipped', path: value.path as string };
  return {
    kind: 'record',
    record: {
      path: value.path as string,
      label: value.label as number,
      clips: value.clips as number,
      clipHits1: value.clipHits1 as number,
      clipHits5: value.clipHits5 as number,
      probs: Float32Array.from(value.probs as number[]),
    },
  };
}

export class PredictionsLog {
  readonly #fd: number;
  #pending: string[] = [];

  private constructor(fd: number) {
    this.#fd = fd;
  }

  /**
   * Opens `<out>/predictions.jsonl`. With `resume`, the entries already there are returned (a line cut
   * short by a kill is dropped, and the file truncated after the last whole line); the job description
   * must equal `header`. Without it the file starts over.
   * @throws RangeError when resuming a job whose description differs.
   */
  static open(out: string, header: Record<string, unknown>, resume: boolean): { log: PredictionsLog; done: LoggedVideo[] } {
    fs.mkdirSync(out, { recursive: true });
    const file = path.join(out, PREDICTIONS_FILE);
    const done: LoggedVideo[] = [];
    const headerLine = JSON.stringify({ job: header });
    // Read and appended without following a symlink planted at the journal's name (ELOOP).
    const text = resume ? readFileNoFollow(file) : undefined;
    if (text !== undefined) {
      const complete = text.slice(0, text.lastIndexOf('\n') + 1);
      const lines = complete.split('\n').filter((line) => line !== '');
      if (lines.length > 0) {
        if (lines[0] !== headerLine) {
          throw new RangeError(
            `cannot resume into '${file}': it holds another job (${lines[0].slice(0, 300)}); this job is ${headerLine.slice(0, 300)}`,
          );
        }
        for (const line of lines.slice(1)) done.push(entryOf(JSON.parse(line) as Record<string, unknown>));
        const fd = fs.openSync(file, APPEND_NO_FOLLOW);
        fs.ftruncateSync(fd, Buffer.byteLength(complete));
        return { log: new PredictionsLog(fd), done };
      }
    }
    // A new journal: its header line written atomically (a new file, whatever was at the name), then appended to.
    writeFileAtomic(file, `${headerLine}\n`);
    const fd = fs.openSync(file, APPEND_NO_FOLLOW);
    return { log: new PredictionsLog(fd), done };
  }

  add(entry: LoggedVideo): void {
    this.#pending.push(lineOf(entry));
  }

  /** Writes what was added and makes it durable. */
  flush(): void {
    if (this.#pending.length === 0) return;
    fs.writeSync(this.#fd, `${this.#pending.join('\n')}\n`);
    this.#pending = [];
    fs.fsyncSync(this.#fd);
  }

  close(): void {
    this.flush();
    fs.closeSync(this.#fd);
  }
}
