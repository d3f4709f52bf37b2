// What a Trainer takes in and checks: label lists, the clip and label tensors of a step, and the metadata
// a checkpoint carries for the TS layer (the preprocessing the network expects, the export it started
// from). Apart from trainer.ts so that the class reads as its operations, and the checks as one list.
import { TorchVideoError } from '../errors';
import type { Preprocessing } from '../sidecar';
import { nativeTensorOf, type Tensor } from '../tensor';
import { expectType } from '../validate';

/** What a checkpoint carries for the TS layer, as JSON (cpp/train/checkpoint.h's `metadata`). */
export interface CheckpointMetadata {
  preprocessing: Preprocessing;
  source: string;
}

/**
 * The metadata of the checkpoint `file`, from its JSON text.
 * @throws TorchVideoError ERR_CHECKPOINT (with `path`) when it is not what saveCheckpoint writes.
 */
export function checkpointMetadataOf(text: string | null | undefined, file: string): CheckpointMetadata {
  let metadata: CheckpointMetadata | undefined;
  try {
    metadata = JSON.parse(text ?? '') as CheckpointMetadata;
  } catch {
    metadata = undefined;
  }
  if (typeof metadata?.preprocessing !== 'object' || typeof metadata.source !== 'string') {
    const failure = new TorchVideoError(
      `checkpoint '${file}' is damaged: its metadata is not what saveCheckpoint writes`,
      'ERR_CHECKPOINT',
    );
    failure.path = file;
    throw failure;
  }
  return metadata;
}

export function checkLabels(value: unknown, name: string, numClasses: number): string[] {
  expectType(Array.isArray(value), name, 'an array of strings', value);
  const labels = value as unknown[];
  labels.forEach((label, i) => expectType(typeof label === 'string', `${name}[${i}]`, 'a string', label));
  if (labels.length !== numClasses) {
    throw new RangeError(`expected ${name} to hold numClasses (${numClasses}) names, got ${labels.length}`);
  }
  return [...(labels as string[])];
}

// The tensor behind `value`, checked for what a training step needs; the C++ layer checks again
// (and checks the labels' values, which only it reads without a copy).
export function checkClips(value: unknown): ReturnType<typeof nativeTensorOf> {
  const handle = nativeTensorOf(value, 'clips');
  const tensor = value as Tensor;
  expectType(tensor.dtype === 'float32', 'clips', 'a float32 tensor', tensor.dtype);
  if (tensor.shape.length !== 5 || tensor.shape[1] !== 3) {
    throw new RangeError(`expected clips to have shape (B, 3, T, H, W), got [${tensor.shape.join(', ')}]`);
  }
  return handle;
}

export function checkLabelTensor(value: unknown, batch: number): ReturnType<typeof nativeTensorOf> {
  const handle = nativeTensorOf(value, 'labels');
  const tensor = value as Tensor;
  if (tensor.dtype !== 'int64') throw new TypeError(`expected labels to be an int64 tensor of class indices, got ${tensor.dtype}`);
  if (tensor.shape.length !== 1) throw new RangeError(`expected labels to have shape (B), got [${tensor.shape.join(', ')}]`);
  if (tensor.shape[0] !== batch) {
    throw new RangeError(`expected one label per clip: clips has batch size ${batch}, labels has ${tensor.shape[0]}`);
  }
  return handle;
}
