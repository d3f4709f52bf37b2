// --precision fp32|fp16|bf16|int8 for the commands that load a network (classify, evaluate), and --half,
// its old spelling (= --precision fp16), kept as an alias. loadModel says what the export and device allow.
import type { ModelPrecision } from '../model';
import { choiceFlag } from './args';

export const PRECISION_FLAGS = {
  precision: { type: 'string' },
  half: { type: 'boolean' },
} as const;

export const PRECISION_USAGE = '[--precision fp32|fp16|bf16|int8 (fp16: CUDA; --half = fp16)]';

const PRECISIONS: readonly ModelPrecision[] = ['fp32', 'fp16', 'bf16', 'int8'];

/**
 * The precision asked for on the command line, or undefined (the export's own).
 * @throws RangeError for a value other than the four, or --half with another --precision.
 */
export function precisionFromFlags(values: { precision?: string; half?: boolean }): ModelPrecision | undefined {
  const precision = choiceFlag(values.precision, 'precision', PRECISIONS);
  const half = values.half;
  if (half && precision !== undefined && precision !== 'fp16') {
    throw new RangeError(`expected --precision or --half, not both: --half is --precision fp16, got --precision ${precision}`);
  }
  return half ? 'fp16' : precision;
}
