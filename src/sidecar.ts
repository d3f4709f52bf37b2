// The JSON written beside each export by scripts/export_models.py: the architecture, class labels
// and the preprocessing the network was trained with.
import * as fs from 'node:fs';
import { TorchVideoError } from './errors';

export interface Preprocessing {
  clipLength: number;
  frameRate: number;
  resizeSize: [number, number];
  cropSize: [number, number];
  mean: [number, number, number];
  std: [number, number, number];
}

export interface Sidecar {
  arch?: string;
  numClasses?: number;
  labels?: string[];
  preprocessing: Preprocessing;
  weights?: string;
}

/** torchvision's VideoClassification preset for these networks; used when no sidecar exists. */
export const DEFAULT_PREPROCESSING: Preprocessing = Object.freeze({
  clipLength: 16,
  frameRate: 15,
  resizeSize: [128, 171],
  cropSize: [112, 112],
  mean: [0.43216, 0.394666, 0.37645],
  std: [0.22803, 0.22145, 0.216989],
}) as Preprocessing;

export function sidecarPathOf(modelPath: string): string {
  return modelPath.replace(/\.(pt|pth|ts|torchscript)$/i, '') + '.json';
}

function numbers(value: unknown, count: number): value is number[] {
  return Array.isArray(value) && value.length === count && value.every((x) => typeof x === 'number');
}

/**
 * Reads `<model>.json` when it exists. A sidecar that exists but cannot be read is an error: running
 * with the wrong labels or preprocessing would give silently wrong results.
 */
export function readSidecar(modelPath: string): Sidecar | undefined {
  const file = sidecarPathOf(modelPath);
  if (!fs.existsSync(file)) return undefined;
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    const failure = new TorchVideoError(
      `cannot read the model's sidecar '${file}': ${(error as Error).message}`,
      'ERR_MODEL_LOAD',
    );
    failure.path = file;
    throw failure;
  }
  const preprocessing: Preprocessing = { ...DEFAULT_PREPROCESSING };
  if (typeof raw.clip_length === 'number') preprocessing.clipLength = raw.clip_length;
  if (typeof raw.frame_rate === 'number') preprocessing.frameRate = raw.frame_rate;
  if (numbers(raw.resize_size, 2)) preprocessing.resizeSize = raw.resize_size as [number, number];
  if (numbers(raw.crop_size, 2)) preprocessing.cropSize = raw.crop_size as [number, number];
  if (numbers(raw.mean, 3)) preprocessing.mean = raw.mean as [number, number, number];
  if (numbers(raw.std, 3)) preprocessing.std = raw.std as [number, number, number];
  return {
    arch: typeof raw.arch === 'string' ? raw.arch : undefined,
    numClasses: typeof raw.num_classes === 'number' ? raw.num_classes : undefined,
    labels: Array.isArray(raw.labels) && raw.labels.every((x) => typeof x === 'string') ? raw.labels : undefined,
    weights: typeof raw.weights === 'string' ? raw.weights : undefined,
    preprocessing,
  };
}
