// An evaluation job's report: built from per-video records (every metric recomputed from them, so a
// report of shards merged or of ranks gathered equals a one-process run's), its report.json form, and
// the gathering of every rank's results in a distributed job. evaluate and mergeEvaluations both build
// their reports here; neither needs the other.
import type { ProcessGroup } from '../distributed/process-group';
import { metricsOf, type VideoRecord } from './metrics';
import type { EvaluationPrediction, EvaluationReport } from './types';

/** A video that failed, with why. */
export interface FailedVideo {
  path: string;
  error: string;
}

/** One video's entry in the report (and what onVideo receives). */
export function predictionOf(r: VideoRecord, labels: string[]): EvaluationPrediction {
  return { path: r.path, label: labels[r.label], probs: r.probs, clips: r.clips, clipHits1: r.clipHits1, clipHits5: r.clipHits5 };
}

/** The report of a set of video records: every metric recomputed from them, sorted by path. */
export function reportFromRecords(
  records: VideoRecord[],
  parts: { failed: FailedVideo[]; skipped: string[] },
  about: Pick<EvaluationReport, 'shard' | 'model' | 'options' | 'clipsPerSec'>,
): EvaluationReport {
  const { labels } = about.model;
  const sorted = [...records].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return {
    ...metricsOf(sorted, labels),
    clipsPerSec: about.clipsPerSec,
    failed: [...parts.failed].sort((a, b) => (a.path < b.path ? -1 : 1)),
    skipped: [...parts.skipped].sort(),
    predictions: sorted.map((r) => predictionOf(r, labels)),
    shard: about.shard,
    model: about.model,
    options: about.options,
  };
}

/** report.json's form: probabilities as plain arrays. */
export function reportToJson(report: EvaluationReport): string {
  return JSON.stringify(report, (key, value: unknown) => (value instanceof Float32Array ? Array.from(value) : value), 1);
}

/** One rank's share of a job, evaluated: its records, failures and skips, and how many clips in how long. */
export interface RankResults {
  records: VideoRecord[];
  failed: FailedVideo[];
  skipped: string[];
  clipsDone: number;
  seconds: number;
}

/** Every rank's results joined: the job's records, failures and skips, and its rate. */
export interface JobResults {
  records: VideoRecord[];
  failed: FailedVideo[];
  skipped: string[];
  clipsPerSec: number;
}

// What a rank sends the others: probabilities as plain numbers (JSON round-trips float32 values exactly).
type SentResults = Omit<RankResults, 'records'> & { records: (Omit<VideoRecord, 'probs'> & { probs: number[] })[] };

/** Every rank's results, joined: the job's records, failures and skips, and its rate (all clips / the slowest rank). */
export async function gatherRankResults(group: ProcessGroup, thisRank: RankResults): Promise<JobResults> {
  const sent: SentResults = { ...thisRank, records: thisRank.records.map((r) => ({ ...r, probs: Array.from(r.probs) })) };
  const ranks = await group.allgather(sent, "the gathering of every rank's predictions");
  const clips = ranks.reduce((sum, rank) => sum + rank.clipsDone, 0);
  const slowest = Math.max(...ranks.map((rank) => rank.seconds), 1e-9);
  return {
    records: ranks.flatMap((rank) => rank.records.map((r) => ({ ...r, probs: Float32Array.from(r.probs) }))),
    failed: ranks.flatMap((rank) => rank.failed),
    skipped: ranks.flatMap((rank) => rank.skipped),
    clipsPerSec: clips / slowest,
  };
}
