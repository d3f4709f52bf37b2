// The data of a fine-tuning run: the training and validation sets (loaded from a path, or given), the
// classes trained and their names, each training video's class index, and the clips each rank trains on
// in an epoch (RandomClipSampler's, with the training preset's draws, shared among the ranks).
import { TorchVideoError } from '../../errors';
import { loadDataset, type Dataset, type DatasetVideo } from '../../eval/dataset';
import type { Preprocessing } from '../../sidecar';
import { checkInteger } from '../../validate';
import { rankShare, trainingEpoch, type TrainingClip, type TrainingVideo } from '../clip-sampler';
import type { TrainingSetVideo } from '../train-batches';
import type { ResolvedOptions } from './options';

export interface FineTuneData {
  train: Dataset;
  val: Dataset;
  numClasses: number;
  /** One name per class: the training set's, or class_<i> when numClasses is not its count. */
  labels: string[];
}

/**
 * The training and validation sets of `opts`, and the classes trained (options.numClasses, checked here:
 * its default is the training set's count).
 * @throws the errors of loadDataset; TypeError / RangeError for a bad numClasses.
 */
export async function loadFineTuneData(opts: ResolvedOptions): Promise<FineTuneData> {
  const { indexDir } = opts;
  const train = typeof opts.train === 'string' ? await loadDataset(opts.train, { indexDir }) : opts.train;
  const val = typeof opts.val === 'string' ? await loadDataset(opts.val, { indexDir }) : opts.val;
  const numClasses = checkInteger(opts.numClasses, 'options.numClasses', train.classes.length, { min: 1, max: 1e9 });
  const labels = train.classes.length === numClasses ? [...train.classes] : Array.from({ length: numClasses }, (_, i) => `class_${i}`);
  return { train, val, numClasses, labels };
}

/** The dataset's class index of a video: by name among the classes, or the integer label itself. */
function classOf(video: DatasetVideo, classes: string[], numClasses: number): number {
  const index = typeof video.label === 'number' ? video.label : classes.indexOf(video.label);
  if (index < 0 || index >= numClasses) {
    throw new TorchVideoError(`${video.source}: label '${video.label}' is not one of the ${numClasses} classes trained`, 'ERR_DATASET');
  }
  return index;
}

/**
 * The training set as the batches read it (path, class index, frame index) and as the clip sampler times
 * it (frame count, fps).
 * @throws TorchVideoError ERR_DATASET for a video whose label is not one of the classes trained.
 */
export function trainingSet(train: Dataset, numClasses: number): { videos: TrainingSetVideo[]; timing: TrainingVideo[] } {
  const videos: TrainingSetVideo[] = train.videos.map((video) => ({
    path: video.path,
    label: classOf(video, train.classes, numClasses),
    frameIndex: video.info.frameIndex,
  }));
  const timing: TrainingVideo[] = train.videos.map((video) => ({
    frameCount: video.info.frameCount as number,
    fps: video.info.fps as number,
  }));
  return { videos, timing };
}

/** The clips `rank` of `worldSize` trains on in an epoch: the epoch's clips are the same on every rank. */
export function rankEpochClips(
  timing: TrainingVideo[],
  opts: Pick<ResolvedOptions, 'clipLength' | 'frameRate' | 'clipsPerVideo' | 'hflipProb'>,
  { preprocessing, seed, rank, worldSize }: { preprocessing: Preprocessing; seed: number; rank: number; worldSize: number },
): (epoch: number) => TrainingClip[] {
  const epochOptions = {
    clipLength: opts.clipLength,
    frameRate: opts.frameRate,
    clipsPerVideo: opts.clipsPerVideo,
    resizeSize: preprocessing.resizeSize,
    cropSize: preprocessing.cropSize[0],
    seed,
    hflipProb: opts.hflipProb,
  };
  return (epoch: number) => rankShare(trainingEpoch(timing, { ...epochOptions, epoch }), rank, worldSize);
}
