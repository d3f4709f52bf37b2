// Evaluation metrics of torchvision's references/video_classification (clip and video accuracy) and of
// MMAction2 (mean class accuracy, confusion matrix), computed from per-video records so that runs split
// over several processes or machines merge into exactly the numbers of one run.
//
// Ties: a class ranks above every class with a lower score and above equal-scoring classes with a higher
// index (lower index first), as np.argmax (MMAction2) and topK() in src/topk.ts. torch.topk on CPU has no
// tie rule to copy: its order among equal scores is whatever std::nth_element/partial_sort leave (an
// all-equal row of 10 gives top-1 = class 8), so tie-free scores are the only ones two implementations
// can be compared on.
import { softmax } from '../topk';

/** One evaluated video: its clips' top-1/top-5 hits and its mean clip probabilities. */
export interface VideoRecord {
  path: string;
  /** Index of the true class. */
  label: number;
  clips: number;
  /** Clips whose true class is their top-1. */
  clipHits1: number;
  /** Clips whose true class is among their top-min(5, classes). */
  clipHits5: number;
  /** Mean of the clips' probability vectors (float64 sum / clips, stored as float32): ranks as their sum, torchvision's video score. */
  probs: Float32Array;
}

export interface Metrics {
  clipAcc1: number;
  clipAcc5: number;
  videoAcc1: number;
  videoAcc5: number;
  /** Mean over the classes that have at least one video of their top-1 video accuracy. */
  meanClassAcc1: number;
  clips: number;
  videos: number;
  /** Every class; acc1 is null for a class without videos (no accuracy to report, rather than NaN in JSON). */
  perClass: { label: string; videos: number; acc1: number | null }[];
  /** [true class][predicted top-1 class] video counts. */
  confusion: number[][];
}

/** Softmax of one row of logits in float64, returned as Float32Array (exp(x - max) / sum). */
export function softmaxRow(logits: Float32Array): Float32Array {
  return new Float32Array(softmax(logits));
}

/** Classes scoring above `label`'s (higher score, or equal score and lower index): its 0-based rank. */
function rankOf(scores: ArrayLike<number>, label: number): number {
  const score = scores[label];
  let above = 0;
  for (let j = 0; j < scores.length; j++) {
    if (scores[j] > score || (scores[j] === score && j < label)) above++;
  }
  return above;
}

/** Index of the highest score, the lower index on ties (np.argmax's rule). */
function argmax(scores: ArrayLike<number>): number {
  let best = 0;
  for (let j = 1; j < scores.length; j++) if (scores[j] > scores[best]) best = j;
  return best;
}

/** top-5 is top-min(5, classes): a 3-class problem ranks 3 classes, as a top-5 of everything. */
function top5Of(numClasses: number): number {
  return Math.min(5, numClasses);
}

function checkLabel(path: string, label: number, numClasses: number): void {
  if (!Number.isInteger(label) || label < 0 || label >= numClasses) {
    throw new RangeError(`${path}: label ${label} is not a class index in [0, ${numClasses})`);
  }
}

/** Per-clip probability vectors of one video -> its record (clipHits and mean probs). */
export function videoRecord(path: string, label: number, clipProbs: Float32Array[]): VideoRecord {
  if (clipProbs.length === 0) throw new RangeError(`${path}: no clips to evaluate`);
  const numClasses = clipProbs[0].length;
  if (numClasses === 0) throw new RangeError(`${path}: empty probability vector`);
  checkLabel(path, label, numClasses);
  const k5 = top5Of(numClasses);
  // float64 sum, so a video's score does not depend on float32 rounding of a long running sum.
  const sum = new Float64Array(numClasses);
  let clipHits1 = 0;
  let clipHits5 = 0;
  for (const [i, probs] of clipProbs.entries()) {
    if (probs.length !== numClasses) {
      throw new RangeError(`${path}: clip ${i} has ${probs.length} probabilities, clip 0 has ${numClasses}`);
    }
    for (let j = 0; j < numClasses; j++) {
      // A NaN would silently never rank and make the accuracy a property of the comparison order.
      if (!Number.isFinite(probs[j])) throw new RangeError(`${path}: clip ${i} has a non-finite probability (${probs[j]})`);
      sum[j] += probs[j];
    }
    const rank = rankOf(probs, label);
    if (rank < 1) clipHits1++;
    if (rank < k5) clipHits5++;
  }
  const probs = new Float32Array(numClasses);
  for (let j = 0; j < numClasses; j++) probs[j] = sum[j] / clipProbs.length;
  return { path, label, clips: clipProbs.length, clipHits1, clipHits5, probs };
}

function byPath(a: VideoRecord, b: VideoRecord): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

/** Throws on a path seen twice: one video counted twice would weigh double in every accuracy. */
function checkUnique(sorted: VideoRecord[]): void {
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].path === sorted[i - 1].path) throw new RangeError(`${sorted[i].path} was evaluated twice`);
  }
}

/**
 * Metrics of a set of video records; independent of the records' order (sorted by path first).
 * @throws RangeError when records is empty ("no videos were evaluated"), when a path occurs twice, or
 * when a record's label or probabilities do not fit `labels`.
 */
export function metricsOf(records: VideoRecord[], labels: string[]): Metrics {
  if (records.length === 0) throw new RangeError('no videos were evaluated');
  const numClasses = labels.length;
  const sorted = [...records].sort(byPath);
  checkUnique(sorted);
  const k5 = top5Of(numClasses);
  const confusion = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  let clips = 0;
  let clipHits1 = 0;
  let clipHits5 = 0;
  let videoHits1 = 0;
  let videoHits5 = 0;
  for (const r of sorted) {
    if (r.probs.length !== numClasses) throw new RangeError(`${r.path}: ${r.probs.length} probabilities for ${numClasses} labels`);
    checkLabel(r.path, r.label, numClasses);
    clips += r.clips;
    clipHits1 += r.clipHits1;
    clipHits5 += r.clipHits5;
    const rank = rankOf(r.probs, r.label);
    if (rank < 1) videoHits1++;
    if (rank < k5) videoHits5++;
    confusion[r.label][argmax(r.probs)]++;
  }
  const perClass = labels.map((label, c) => {
    const videos = confusion[c].reduce((total, n) => total + n, 0);
    return { label, videos, acc1: videos > 0 ? confusion[c][c] / videos : null };
  });
  // Classes without videos have no accuracy and are left out of the mean. MMAction2's
  // mean_class_accuracy also averages in a 0 for every class that is predicted but has no videos (its
  // confusion matrix spans the labels seen as either); that makes the metric depend on which absent
  // classes the network happens to predict, so it is not copied.
  const accuracies = perClass.flatMap((c) => (c.acc1 === null ? [] : [c.acc1]));
  const meanClassAcc1 = accuracies.reduce((total, a) => total + a, 0) / accuracies.length;
  return {
    clipAcc1: clipHits1 / clips,
    clipAcc5: clipHits5 / clips,
    videoAcc1: videoHits1 / sorted.length,
    videoAcc5: videoHits5 / sorted.length,
    meanClassAcc1,
    clips,
    videos: sorted.length,
    perClass,
    confusion,
  };
}

/**
 * The records of several partial runs (e.g. shards of one dataset) as the records of one run, sorted by path.
 * Records carry no label names, so differing label lists show as differing class counts.
 * @throws RangeError for duplicate paths across parts (a video evaluated twice) or labels lists that differ.
 */
export function mergeRecords(parts: VideoRecord[][]): VideoRecord[] {
  const merged = parts.flat().sort(byPath);
  checkUnique(merged);
  for (const r of merged) {
    if (r.probs.length !== merged[0].probs.length) {
      throw new RangeError(
        `${r.path} has ${r.probs.length} classes, ${merged[0].path} has ${merged[0].probs.length}: the parts used different label lists`,
      );
    }
  }
  return merged;
}
