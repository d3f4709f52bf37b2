// A video's frame index (every frame's timestamp, the keyframes and where to seek for them) packed for
// the metadata index file: each integer list becomes runs of [first, step, count], so the timestamps
// of a constant-frame-rate video take one run instead of one number per frame.
import type { NativeFrameIndex } from '../native';

/** Runs of an arithmetic progression: [first, step, count] each. */
export type Runs = [number, number, number][];

export type PackedFrameIndex = Omit<NativeFrameIndex, 'pts' | 'keyframes' | 'keyframeSeekTs' | 'damagedFrames'> & {
  pts: Runs;
  keyframes: Runs;
  keyframeSeekTs: Runs;
  damagedFrames: Runs;
};

export function toRuns(values: number[]): Runs {
  const runs: Runs = [];
  let i = 0;
  while (i < values.length) {
    const first = values[i];
    if (i + 1 === values.length) {
      runs.push([first, 0, 1]);
      break;
    }
    const step = values[i + 1] - first;
    let count = 2;
    while (i + count < values.length && values[i + count] - values[i + count - 1] === step) count++;
    runs.push([first, step, count]);
    i += count;
  }
  return runs;
}

export function fromRuns(runs: Runs): number[] {
  const values: number[] = [];
  for (const [first, step, count] of runs) for (let k = 0; k < count; k++) values.push(first + k * step);
  return values;
}

export function packFrameIndex(index: NativeFrameIndex): PackedFrameIndex {
  return {
    ...index,
    pts: toRuns(index.pts),
    keyframes: toRuns(index.keyframes),
    keyframeSeekTs: toRuns(index.keyframeSeekTs),
    damagedFrames: toRuns(index.damagedFrames),
  };
}

export function unpackFrameIndex(packed: PackedFrameIndex): NativeFrameIndex {
  return {
    ...packed,
    pts: fromRuns(packed.pts),
    keyframes: fromRuns(packed.keyframes),
    keyframeSeekTs: fromRuns(packed.keyframeSeekTs),
    damagedFrames: fromRuns(packed.damagedFrames),
  };
}
