// The JSON written beside each export by scripts/export_models.py: the architecture, class labels
// and the preprocessing the network was trained with.
import * as fs from 'node:fs';
import { TorchVideoError } from './errors';
import { native } from './native';

import type { Preprocessing } from './types';

export type { Preprocessing } from './types';

export interface Sidecar {
  arch?: string;
  numClasses?: number;
  labels?: string[];
  preprocessing: Preprocessing;
  weights?: string;
  /** sha256 of the export file, hex (written by scripts/export_models.py). */
  sha256?: string;
  /** What the export computes in: 'fp32' (no field), 'bf16' or 'int8' (scripts/export_models.py --precision). */
  precision: Precision;
}

export type Precision = 'fp32' | 'bf16' | 'int8';

/**
 * torchvision's VideoClassification preset for these networks, from the addon
 * (cpp/video/preprocessing_defaults.json, through its generated header); used when no sidecar exists.
 */
export const DEFAULT_PREPROCESSING: Readonly<Preprocessing> = Object.freeze({
  clipLength: native.preprocessingDefaults.clipLength,
  frameRate: native.preprocessingDefaults.frameRate,
  resizeSize: [...native.preprocessingDefaults.resizeSize],
  cropSize: [...native.preprocessingDefaults.cropSize],
  mean: [...native.preprocessingDefaults.mean],
  std: [...native.preprocessingDefaults.std],
}) as Readonly<Preprocessing>;

/** Evenly spaced clips per video when classifying (torchvision's UniformClipSampler default here). */
export const DEFAULT_CLIPS_PER_VIDEO: number = native.preprocessingDefaults.clipsPerVideo;

export function sidecarPathOf(modelPath: string): string {
  return modelPath.replace(/\.(pt|pth|ts|torchscript)$/i, '') + '.json';
}

function numbers(value: unknown, count: number): value is number[] {
  return Array.isArray(value) && value.length === count && value.every((x) => typeof x === 'number');
}

function precisionOf(value: unknown, file: string): Precision {
  if (value === undefined || value === 'fp32' || value === 'bf16' || value === 'int8') return (value ?? 'fp32') as Precision;
  // An unknown precision would be run as float32 input to who knows what: refuse it by name.
  const failure = new TorchVideoError(
    `the model's sidecar '${file}' names precision ${JSON.stringify(value)}: expected 'fp32', 'bf16' or 'int8'`,
    'ERR_MODEL_LOAD',
  );
  failure.path = file;
  throw failure;
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
    const failure = new TorchVideoError(`cannot read the model's sidecar '${file}': ${(error as Error).message}`, 'ERR_MODEL_LOAD');
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
    sha256: typeof raw.sha256 === 'string' && /^[0-9a-f]{64}$/i.test(raw.sha256) ? raw.sha256 : undefined,
    precision: precisionOf(raw.precision, file),
    preprocessing,
  };
}
