export { Tensor, type TensorFromOptions } from './tensor';
export type { TypedArray, Dtype } from './dtypes';
export {
  Batcher,
  type BatcherOptions,
  type BatcherForwardOptions,
  type BatcherStats,
  type BatchInfo,
  type LatencyPercentiles,
} from './batcher';
export { Model, loadModel, type LoadModelOptions, type ModelInfo, type ModelPrecision, type ForwardOptions } from './model';
export type { Preprocessing } from './sidecar';
export { TorchVideoError } from './errors';
export { errorCodes } from './error-codes';
export { memory } from './memory';
export { cuda } from './cuda';
export { versions } from './versions';
export {
  openVideo,
  preprocess,
  VideoReader,
  type VideoInfo,
  type PreprocessOptions,
  type OpenVideoOptions,
  type ReadFramesOptions,
} from './video';
export { sampleClips, resampleFrameIndices, type SampleClipsOptions, type ClipSamplingInfo } from './sampling';
export {
  classifyVideo,
  classifyVideos,
  type ClassifyOptions,
  type ClassifyVideosOptions,
  type Classification,
  type VideoResult,
} from './classify';
export { classifyStream, type ClassifyStreamOptions, type ReconnectOptions, type StreamResult, type StreamEvent } from './stream';
export { softmax, topK, type Prediction } from './topk';
export { evaluate } from './eval/evaluate';
export type { EvaluateOptions, EvaluationReport, EvaluationPrediction, EvaluationProgress } from './eval/types';
export { mergeEvaluations } from './eval/merge';
export { loadDataset, type Dataset, type DatasetVideo, type LoadDatasetOptions } from './eval/dataset';
export type { Shard } from './eval/shard';
export {
  Trainer,
  type TrainerOptions,
  type RestoreTrainerOptions,
  type ExportModelOptions,
  type TrainStepResult,
  type TrainStepOptions,
  type TrainerInfo,
  type SetDistributedOptions,
} from './train/trainer';
export { learningRateAt, type LearningRateScheduleOptions } from './train/schedule';
export { fineTune } from './train/fine-tune';
export type { FineTuneOptions, FineTuneResult, FineTuneEpoch, FineTuneProgress } from './train/fine-tune/types';
export {
  ProcessGroup,
  DEFAULT_DISTRIBUTED_TIMEOUT_MS,
  type DistributedSpec,
  type DistributedBackend,
  type JoinOptions,
} from './distributed/process-group';
export { resolveRendezvous, type Rendezvous, type ExplicitRendezvous, type RendezvousOptions } from './distributed/rendezvous';
