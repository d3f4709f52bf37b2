// The TS side of cpp/dtypes.h's table: dtype name <-> TypedArray class.

export type TypedArray =
  | Float32Array
  | Float64Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Int8Array
  | Int16Array;

export type Dtype = 'float32' | 'float64' | 'int32' | 'int64' | 'uint8' | 'int8' | 'int16';

type TypedArrayClass = { new (buffer: ArrayBuffer, byteOffset?: number, length?: number): TypedArray; BYTES_PER_ELEMENT: number };

export const TYPED_ARRAY_OF_DTYPE: Record<Dtype, TypedArrayClass> = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  int8: Int8Array,
  int16: Int16Array,
};

export function isSupportedTypedArray(value: unknown): value is TypedArray {
  return Object.values(TYPED_ARRAY_OF_DTYPE).some((kind) => value instanceof kind);
}
