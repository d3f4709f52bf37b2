// Which part of a video set one job evaluates: a deterministic 1/count of the videos (sorted by path,
// every count-th from `index`), so shards of a set never overlap and together cover it.
import { checkInteger, checkOptions, expectType } from '../validate';
import type { Dataset, DatasetVideo } from './dataset';

export interface Shard {
  index: number;
  count: number;
}

function fromEnvironment(shardCount: number | undefined): Shard {
  const env = process.env;
  // Slurm job arrays: independent jobs, one per array task (shards, not ranks).
  if (env.SLURM_ARRAY_TASK_ID !== undefined) {
    // An explicit shardCount (--shard-count) wins over the launcher's variable, as every flag does.
    const count = shardCount ?? Number(env.SLURM_ARRAY_TASK_COUNT);
    const min = Number(env.SLURM_ARRAY_TASK_MIN ?? 0);
    const index = Number(env.SLURM_ARRAY_TASK_ID) - min;
    return check(
      { index, count },
      shardCount === undefined ? 'SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT' : 'SLURM_ARRAY_TASK_ID/options.shardCount',
    );
  }
  // Kubernetes Indexed Jobs: the index comes from the pod, the count from the job's completions.
  if (env.JOB_COMPLETION_INDEX !== undefined) {
    if (shardCount === undefined) {
      throw new RangeError('expected options.shardCount (--shard-count) with JOB_COMPLETION_INDEX: Kubernetes gives the index only');
    }
    return check({ index: Number(env.JOB_COMPLETION_INDEX), count: shardCount }, 'JOB_COMPLETION_INDEX');
  }
  throw new RangeError("shard 'env' needs SLURM_ARRAY_TASK_ID (Slurm arrays) or JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs)");
}

function check(shard: Shard, name: string): Shard {
  const count = checkInteger(shard.count, `${name} count`, undefined, { min: 1, max: 1_000_000 });
  const index = checkInteger(shard.index, `${name} index`, undefined, { min: 0, max: count - 1 });
  return { index, count };
}

/** The shard an evaluation takes, from the `shard` option. */
export function resolveShard(shard: unknown, shardCount?: number): Shard {
  if (shard === undefined) return { index: 0, count: 1 };
  if (shard === 'env') {
    return fromEnvironment(shardCount === undefined ? undefined : checkInteger(shardCount, 'options.shardCount', undefined, { min: 1 }));
  }
  expectType(typeof shard === 'object' && shard !== null, 'options.shard', "{ index, count } or 'env'", shard);
  const value = checkOptions(shard, 'options.shard');
  return check({ index: value.index as number, count: value.count as number }, 'options.shard');
}

/** Parses '2/8' (index/count), as the CLI's --shard takes it. */
export function parseShard(text: string): Shard {
  const match = /^(\d+)\/(\d+)$/.exec(text);
  if (!match) throw new RangeError(`expected --shard to be INDEX/COUNT (e.g. 0/4) or 'env', got '${text}'`);
  return check({ index: Number(match[1]), count: Number(match[2]) }, '--shard');
}

/** A job's share of the set: the videos it evaluates, and those of its share that failed to open. */
export interface ShareVideos {
  videos: DatasetVideo[];
  failed: { path: string; error: string }[];
}

/**
 * The share of `dataset` that `shard` takes: every count-th video from `index`, in path order (videos
 * that failed to open included, so each shard reports its own failures).
 */
export function shareOf(dataset: Dataset, shard: Shard): ShareVideos {
  const sorted = [
    ...dataset.videos.map((video) => ({ path: video.path, video })),
    ...dataset.failed.map((failure) => ({ path: failure.path, failure })),
  ].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const share = sorted.filter((_, i) => i % shard.count === shard.index);
  return {
    videos: share.flatMap((entry) => ('video' in entry ? [entry.video] : [])),
    failed: share.flatMap((entry) => ('failure' in entry ? [{ ...entry.failure }] : [])),
  };
}
