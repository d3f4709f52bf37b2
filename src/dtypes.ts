// Dtype names and their TypedArrays, from the addon's table (cpp/dtypes.h): src/ keeps no copy.
import { native } from './native';

import type { Dtype, TypedArray } from './types';

export type { Dtype, TypedArray } from './types';

type TypedArrayClass = {
  new (buffer: ArrayBuffer, byteOffset?: number, length?: number): TypedArray;
  readonly BYTES_PER_ELEMENT: number;
  readonly name: string;
};

function typedArrayClass(name: string): TypedArrayClass {
  const kind = (globalThis as unknown as Record<string, unknown>)[name];
  if (typeof kind !== 'function') throw new Error(`torchvideo: the addon names an unknown TypedArray '${name}'`);
  return kind as TypedArrayClass;
}

export const TYPED_ARRAY_OF_DTYPE: Readonly<Record<Dtype, TypedArrayClass>> = Object.freeze(
  Object.fromEntries(native.dtypes.map((row) => [row.name, typedArrayClass(row.typedArray)])) as Record<Dtype, TypedArrayClass>,
);

/** "a Float32Array, Float64Array, ... or Int16Array", for error messages. */
export const TYPED_ARRAY_NAMES: string = (() => {
  const names = native.dtypes.map((row) => row.typedArray);
  return `a ${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
})();

export function isSupportedTypedArray(value: unknown): value is TypedArray {
  return Object.values(TYPED_ARRAY_OF_DTYPE).some((kind) => value instanceof kind);
}
