// One report from the reports of a job's shards: exactly the report a single run would have given,
// because every metric is recomputed from the per-video records the shards kept.
import { mergeRecords, type VideoRecord } from './metrics';
import { reportFromRecords } from './report';
import type { EvaluationReport } from './types';

function sameJob(a: EvaluationReport, b: EvaluationReport): boolean {
  return (
    JSON.stringify([a.options, a.model.arch, a.model.labels, a.shard.count]) ===
    JSON.stringify([b.options, b.model.arch, b.model.labels, b.shard.count])
  );
}

/**
 * Merges the reports of one job's shards into the report of the whole job.
 * @throws TypeError for something other than an array of reports.
 * @throws RangeError for no reports, reports of different jobs (options, network, shard count), a
 *   shard given twice, or a video in two reports.
 */
export function mergeEvaluations(parts: EvaluationReport[]): EvaluationReport {
  if (!Array.isArray(parts)) throw new TypeError('expected parts to be an array of evaluation reports');
  if (parts.length === 0) throw new RangeError('expected parts to hold at least one evaluation report');
  parts.forEach((part, i) => {
    if (typeof part !== 'object' || part === null || !Array.isArray(part.predictions) || !part.options || !part.shard) {
      throw new TypeError(`expected parts[${i}] to be an evaluation report`);
    }
    if (!sameJob(parts[0], part)) throw new RangeError(`parts[${i}] is a report of another job (options, network or shard count differ)`);
  });
  const indices = parts.map((p) => p.shard.index);
  const repeated = indices.find((index, i) => indices.indexOf(index) !== i);
  if (repeated !== undefined) throw new RangeError(`shard ${repeated}/${parts[0].shard.count} is given twice`);
  const labels = parts[0].model.labels;
  const records: VideoRecord[][] = parts.map((part) =>
    part.predictions.map((p) => ({
      path: p.path,
      label: labels.indexOf(p.label),
      clips: p.clips,
      clipHits1: p.clipHits1,
      clipHits5: p.clipHits5,
      probs: p.probs instanceof Float32Array ? p.probs : Float32Array.from(p.probs as ArrayLike<number>),
    })),
  );
  const merged = mergeRecords(records);
  const clips = merged.reduce((sum, r) => sum + r.clips, 0);
  // The job's rate: all clips over the shards' summed working time.
  const seconds = parts.reduce((sum, p) => sum + p.predictions.reduce((n, r) => n + r.clips, 0) / Math.max(p.clipsPerSec, 1e-9), 0);
  const complete = parts.length === parts[0].shard.count;
  return reportFromRecords(
    merged,
    { failed: parts.flatMap((p) => p.failed), skipped: parts.flatMap((p) => p.skipped) },
    {
      shard: complete ? { index: 0, count: 1 } : { index: Math.min(...indices), count: parts[0].shard.count },
      model: parts[0].model,
      options: parts[0].options,
      clipsPerSec: clips / Math.max(seconds, 1e-9),
    },
  );
}
