// Scores a network on a labelled video set the way torchvision's references/video_classification
// does (clip and video accuracy), in jobs that split into shards and survive being killed. This file is
// the outline of a job: its options checked (evaluate-options.ts), `outDir` held (job-lock.ts), the model
// and the set loaded, the job's share taken (shard.ts) and resumed from its journal (journal.ts), the
// rest scored by the batch pipeline (batch-pipeline.ts), and the report built (report.ts). The public
// types are in types.ts.
import * as path from 'node:path';
import { ProcessGroup, rankCores } from '../distributed/process-group';
import { Batcher } from '../batcher';
import { checkModel, defaultThreads, loadModel, type LoadModelOptions } from '../model';
import { native } from '../native';
import { expectType } from '../validate';
import { abortError } from '../abort';
import { writeFileAtomic } from '../common/atomic-file';
import { BatchPipeline } from './batch-pipeline';
import { videoJobOf, type VideoJob } from './batches';
import { loadDataset, type Dataset } from './dataset';
import { checkClipOptions, checkEvaluateOptions, type CheckedOptions } from './evaluate-options';
import { lockOnRankZero } from './job-lock';
import { ShareJournal } from './journal';
import { intraOpThreadsFor, pipelineSizes } from './pipeline-sizes';
import { gatherRankResults, predictionOf, reportFromRecords, reportToJson } from './report';
import { resolveShard, shareOf } from './shard';
import type { EvaluateOptions, EvaluationReport } from './types';

/**
 * Evaluates a network on a labelled video set: torchvision's clip accuracy (each clip's top-k) and video
 * accuracy (the clips' softmax summed, then top-k), MMAction2's mean class accuracy and confusion
 * matrix. Failed videos are reported and the job goes on.
 * Only a video's own problems (ERR_VIDEO_*, not found, not a file, no video stream) are failed videos;
 * any other error (out of memory, ERR_DISPOSED, ERR_NATIVE, ...) ends the job.
 * @throws TypeError / RangeError (rejects) for bad options, and when resuming into another job's `outDir`.
 * @throws TorchVideoError (rejects) ERR_DATASET for a label the model doesn't have (naming it and its
 *   line), ERR_CHECKPOINT for an `outDir` that cannot be written or that another job holds (naming it),
 *   the errors of loadModel / loadDataset, and any error other than a video's own.
 * @throws AbortError (rejects) when `signal` aborts.
 */
export async function evaluate(options: EvaluateOptions): Promise<EvaluationReport> {
  const { opts, checked } = checkEvaluateOptions(options);
  const { outDir, timeoutMs } = checked;
  const signal = opts.signal;
  if (signal?.aborted) throw abortError('the evaluation was aborted');
  const ownsGroup = opts.distributed !== undefined && !(opts.distributed instanceof ProcessGroup);
  const group =
    opts.distributed instanceof ProcessGroup
      ? opts.distributed
      : opts.distributed === undefined
        ? undefined
        : await ProcessGroup.join(opts.distributed, { ...opts.rendezvous, device: opts.device ?? 'cpu', timeoutMs });
  // One job per outDir: rank 0 holds it (the other ranks journal into their own subfolders of it).
  let unlock: (() => void) | undefined;
  try {
    if (outDir !== undefined) {
      unlock = await lockOnRankZero(group, outDir, `evaluate of '${typeof opts.model === 'string' ? opts.model : 'a loaded model'}'`);
    }
    return await runEvaluation({ ...opts, outDir }, group, checked);
  } finally {
    unlock?.();
    if (ownsGroup) group?.dispose();
  }
}

/**
 * The job, its options checked and `outDir` held: loads the model (when given by path) and the set, takes
 * the job's share (its shard; in a distributed job its rank's), resumes from the share's journal, scores
 * the rest, and reports. In a distributed job the ranks' results are gathered, so every rank gets the
 * whole job's report, and rank 0 writes it.
 */
async function runEvaluation(
  opts: Partial<EvaluateOptions>,
  group: ProcessGroup | undefined,
  checked: CheckedOptions,
): Promise<EvaluationReport> {
  const { crops, batchSize, preprocessOn, decodeThreadsAsked, threadsPerVideoAsked, prefetchAsked, clipsPerVideo, shortVideos } = checked;
  const shard = group ? { index: group.rank, count: group.worldSize } : resolveShard(opts.shard, opts.shardCount);
  const signal = opts.signal;

  const ownsModel = typeof opts.model === 'string';
  const loadOptions: LoadModelOptions = { device: group?.device ?? opts.device ?? 'cpu' };
  // Ranks sharing a machine share its cores.
  const cores = group ? rankCores() : defaultThreads();
  if (opts.threads !== undefined) loadOptions.threads = opts.threads;
  else if (ownsModel) {
    const { decodeThreads } = pipelineSizes({ device: loadOptions.device!, batchSize, clipsPerVideo, decodeThreadsAsked, cores });
    loadOptions.threads = intraOpThreadsFor(cores, decodeThreads);
  }
  if (opts.precision !== undefined) loadOptions.precision = opts.precision;
  if (opts.half !== undefined) loadOptions.half = opts.half;
  const batcher = opts.model instanceof Batcher ? opts.model : undefined;
  const model = ownsModel ? await loadModel(opts.model as string, loadOptions) : (batcher?.model ?? checkModel(opts.model));
  try {
    const { preprocessing, labels } = model.info;
    const { clipLength, frameRate } = checkClipOptions(opts, preprocessing);
    const dataset =
      typeof opts.data === 'string'
        ? await loadDataset(opts.data, { indexPath: opts.indexPath, indexDir: opts.indexDir, signal })
        : (opts.data as Dataset);
    expectType(Array.isArray(dataset.videos), 'options.data', 'a dataset path or a Dataset', dataset);
    const jobOptions = { clipsPerVideo, clipLength, frameRate, crops, batchSize, shortVideos };
    const sizes = pipelineSizes({
      device: model.info.device,
      batchSize,
      clipsPerVideo,
      decodeThreadsAsked,
      threadsPerVideoAsked,
      prefetchAsked,
      cores,
    });
    native.decodeThreads(sizes.decodeThreads);

    const share = shareOf(dataset, shard);
    const header = {
      model: { arch: model.info.arch, numClasses: model.info.numClasses, weights: model.info.weights },
      shard,
      options: jobOptions,
    };
    // In a distributed job each rank journals its own share; report.json is the whole job's.
    const journalFolder =
      opts.outDir === undefined || !group ? opts.outDir : path.join(opts.outDir, `rank-${group.rank}-of-${group.worldSize}`);
    const journal = new ShareJournal(share, journalFolder, header, opts.resume === true);
    // Closed however the job ends (onVideo throwing during the replay, a bad label, an abort): what it
    // buffered is written and its file is released.
    let pipeline: BatchPipeline;
    try {
      // onVideo's entry is the report's (reportFromRecords) for the same record.
      for (const record of journal.records) opts.onVideo?.(predictionOf(record, labels));

      const jobs: VideoJob[] = [];
      for (const video of share.videos) {
        if (journal.isDone(video.path)) continue;
        const job = videoJobOf(video, labels, { clipLength, frameRate, clipsPerVideo, shortVideos });
        if (job === undefined) journal.skip(video.path);
        else jobs.push(job);
      }

      pipeline = new BatchPipeline(jobs, {
        model,
        batcher,
        preprocessing,
        preprocessOn,
        crops,
        batchSize,
        prefetch: sizes.prefetch,
        threadsPerVideo: sizes.threadsPerVideo,
        signal,
        onSettled: (segments) => {
          // Videos whose last clip ran in this batch (or that failed) are settled now.
          for (const segment of segments) {
            const record = journal.settle(segment.job);
            if (record) opts.onVideo?.(predictionOf(record, labels));
          }
          journal.flush();
        },
        onProgress: (progress) => opts.onProgress?.(progress),
      });
      await pipeline.run();
    } finally {
      journal.close();
    }

    const seconds = pipeline.elapsedSeconds();
    const { records, failed, skipped } = journal;
    const clipsDone = pipeline.clipsDone;
    const allRanks = group ? await gatherRankResults(group, { records, failed, skipped, clipsDone, seconds }) : undefined;
    const { arch, numClasses, weights } = model.info;
    const report = reportFromRecords(allRanks?.records ?? records, allRanks ?? { failed, skipped }, {
      shard: group ? { index: 0, count: 1 } : shard,
      options: preprocessOn === 'device' ? { ...jobOptions, preprocessOn } : jobOptions,
      clipsPerSec: allRanks?.clipsPerSec ?? clipsDone / Math.max(seconds, 1e-9),
      model: {
        arch,
        numClasses,
        labels: [...labels],
        weights,
        path: typeof opts.model === 'string' ? opts.model : undefined,
        precision: model.info.precision,
      },
    });
    if (opts.outDir !== undefined && (group?.rank ?? 0) === 0) writeFileAtomic(path.join(opts.outDir, 'report.json'), reportToJson(report));
    return report;
  } finally {
    if (ownsModel) model.dispose();
  }
}
