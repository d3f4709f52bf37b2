// What one job (or one rank of a distributed job) has done of its share so far: the videos recorded,
// failed and skipped, journaled in `<folder>/predictions.jsonl` (see predictions-log.ts) as they settle.
// Resuming, the entries an interrupted run journaled for this share are taken as done (the resume merge),
// and a video is never recorded twice.
import type { VideoJob } from './batches';
import { videoRecord, type VideoRecord } from './metrics';
import { PredictionsLog } from './predictions-log';
import type { FailedVideo } from './report';
import type { ShareVideos } from './shard';

export class ShareJournal {
  /** The share's videos scored, resumed ones first. */
  readonly records: VideoRecord[] = [];
  readonly failed: FailedVideo[];
  readonly skipped: string[] = [];
  /** Paths of the share that are settled (recorded, failed or skipped) and journaled. */
  readonly #done = new Set<string>();
  readonly #log: PredictionsLog | undefined;

  /**
   * Journals into `folder` (none: nothing is written) for the job `header` describes. With `resume`, the
   * entries already there that belong to `share` are merged in, and the share's failures to open that
   * the journal lacks are journaled.
   * @throws RangeError when resuming a job whose description differs (see PredictionsLog.open).
   */
  constructor(share: ShareVideos, folder: string | undefined, header: Record<string, unknown>, resume: boolean) {
    this.failed = share.failed;
    const logged = folder === undefined ? undefined : PredictionsLog.open(folder, header, resume);
    this.#log = logged?.log;
    const shareVideos = new Set(share.videos.map((v) => v.path));
    const failed = this.failed;
    for (const entry of logged?.done ?? []) {
      const file = entry.kind === 'record' ? entry.record.path : entry.path;
      if (!shareVideos.has(file) && !failed.some((f) => f.path === file)) continue;
      this.#done.add(file);
      if (entry.kind === 'record') this.records.push(entry.record);
      else if (entry.kind === 'skipped') this.skipped.push(entry.path);
      else if (!failed.some((f) => f.path === entry.path)) failed.push({ path: entry.path, error: entry.error });
    }
    for (const f of failed) if (!this.#done.has(f.path)) this.#log?.add({ kind: 'failed', path: f.path, error: f.error });
  }

  /** Whether the video is settled already (by a resumed run, or this one). */
  isDone(path: string): boolean {
    return this.#done.has(path);
  }

  /** A video too short for one clip (shortVideos 'skip'). */
  skip(path: string): void {
    this.skipped.push(path);
    this.#log?.add({ kind: 'skipped', path });
  }

  /**
   * Settles a video once it failed or every clip of it is scored: journals the failure, or its record
   * (returned: the caller's onVideo gets it) and frees its clips' scores. Anything else is left as it is.
   */
  settle(job: VideoJob): VideoRecord | undefined {
    const file = job.video.path;
    if (this.#done.has(file)) return undefined;
    if (job.failed !== undefined) {
      this.#done.add(file);
      this.failed.push({ path: file, error: job.failed });
      this.#log?.add({ kind: 'failed', path: file, error: job.failed });
    } else if (job.probs.length === job.clips.length) {
      this.#done.add(file);
      const record = videoRecord(file, job.label, job.probs);
      this.records.push(record);
      this.#log?.add({ kind: 'record', record });
      job.probs = [];
      return record;
    }
    return undefined;
  }

  /** Writes what was journaled and makes it durable. */
  flush(): void {
    this.#log?.flush();
  }

  close(): void {
    this.#log?.close();
  }
}
