/**
 * @internal The one entry for the repository's own tests, benchmarks and scripts into the package's
 * internals, so they do not reach into dist/ by file path (a move inside src/ changes this file only).
 * It is not in package.json's "exports": a consumer cannot require it, and nothing here is public API.
 */
export { native } from './native';
export { writeFileAtomic, copyFileAtomic } from './common/atomic-file';
export { toRuns, fromRuns, packFrameIndex, unpackFrameIndex } from './common/packed-frame-index';
export { readSidecar, DEFAULT_PREPROCESSING } from './sidecar';
export { readClipBatch, nativePreprocessOptions, openVideoWith } from './video';
export { seededRandom } from './sampling';
export { ProcessGroup, rankDevice, rankThreads, rankCores } from './distributed/process-group';
export { freePort } from './distributed/free-port';
export { torchrunEnvironment } from './distributed/torchrun-env';
export { resolveRendezvous, firstSlurmHost, DEFAULT_MASTER_PORT } from './distributed/rendezvous';
export { makeMovingShapes, shapesStartingExport, DIRECTIONS } from './train/moving-shapes';
export { rankShare, windowCount, trainingEpoch, EpochRandom } from './train/clip-sampler';
export { trainBatches } from './train/train-batches';
export {
  STATE_FILE,
  readRunState,
  newRunState,
  commitCheckpoint,
  checkpointer,
  checkpointName,
  checkRankSeesCheckpoint,
} from './train/fine-tune/run-state';
export { decidedByRankZero } from './distributed/root-decides';
export { loadDataset } from './eval/dataset';
export { PredictionsLog } from './eval/predictions-log';
export { videoRecord, metricsOf, softmaxRow, mergeRecords } from './eval/metrics';
export { renderReportHtml } from './eval/report-html';
export { resolveShard } from './eval/shard';
export { intraOpThreadsFor, pipelineSizes } from './eval/pipeline-sizes';
export { createServer } from './serve/server';
export { EventFeed, MAX_PENDING_BYTES } from './serve/sse';
export {
  ProtocolError,
  parseInferRequest,
  headerLengthOf,
  encodeInferResponse,
  classificationStrings,
  formatFloat32,
  outputsOf,
} from './serve/protocol';
export { cliMain } from './cli/main';
export { watchLauncher } from './cli/launcher-watch';
export { runServe, modelSource, SERVE_USAGE } from './cli/serve';
export { StatusBoard, resultLine, stateLine, truncate } from './cli/watch-board';
