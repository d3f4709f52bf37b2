import { checkBoolean, checkDevice, checkOptions, describe, expectRange, expectType } from './validate';
import { withCallSite } from './errors';
import { TYPED_ARRAY_NAMES, TYPED_ARRAY_OF_DTYPE, isSupportedTypedArray, type Dtype, type TypedArray } from './dtypes';
import { native, type NativeTensor } from './native';

// Reads a Tensor's native handle for the rest of the package; set by Tensor's static block, so the
// handle stays a true private field that users can neither see nor reach.
let nativeHandleOf: (tensor: Tensor) => NativeTensor;

export interface TensorFromOptions {
  /**
   * Take `data`'s memory over without copying (default false): its ArrayBuffer is detached from the
   * caller, so nothing the caller does can change what a queued job reads.
   */
  transfer?: boolean;
}

/**
 * An n-dimensional array in LibTorch's memory, on the CPU or a CUDA device.
 *
 * Tensors hold native memory: call `dispose()` (or use `using`) when done; garbage collection is
 * only the safety net.
 */
export class Tensor {
  readonly #native: NativeTensor;
  readonly #shape: readonly number[];
  readonly #dtype: Dtype;
  readonly #device: string;
  // The caller's array for tensors made by Tensor.from, which share its memory.
  readonly #source: TypedArray | undefined;
  #view: TypedArray | undefined;

  /** @internal Use Tensor.from, or the tensors the API returns. */
  constructor(handle: NativeTensor, source?: TypedArray) {
    this.#native = handle;
    this.#shape = Object.freeze(handle.shape);
    this.#dtype = handle.dtype as Dtype;
    this.#device = handle.device;
    this.#source = source;
  }

  /**
   * A CPU tensor over `data` without copying it: synchronous reads (`data()`) see the caller's array.
   * A job that reads the tensor later on another thread (`forward`, `to`, `preprocess`, `Trainer.step`,
   * ...) reads a copy taken when it is called, so refilling, transferring or shrinking the array after
   * the call never reaches a queued job (the copy costs ~0.3 ms per 16x112x112 clip; `npm run bench`
   * reports it). With `{ transfer: true }` the tensor takes the memory over instead: `data`'s whole
   * ArrayBuffer is detached from the caller (as `postMessage` with a transfer list does) and jobs read
   * it without a copy until `data()` hands it out again.
   * The dtype follows the array: Float32Array float32, Float64Array float64, Int32Array int32,
   * BigInt64Array int64, Uint8Array uint8, Int8Array int8, Int16Array int16.
   * @throws TypeError when data is not one of those TypedArrays, is backed by a SharedArrayBuffer (another
   *   thread could write it while a job reads it) or a resizable ArrayBuffer (it could shrink under the
   *   tensor), or shape is not an array of numbers.
   * @throws RangeError when a dimension is negative or not an integer, or the shape's element count
   *   differs from data.length.
   */
  static from(data: TypedArray, shape: readonly number[], options: TensorFromOptions = {}): Tensor {
    expectType(isSupportedTypedArray(data), 'data', TYPED_ARRAY_NAMES, data);
    const buffer: ArrayBufferLike = data.buffer;
    if (typeof SharedArrayBuffer !== 'undefined' && buffer instanceof SharedArrayBuffer) {
      throw new TypeError(
        'expected data to be backed by an ArrayBuffer, got a SharedArrayBuffer (another thread could write it while a job reads it)',
      );
    }
    if ((buffer as ArrayBuffer & { resizable?: boolean }).resizable === true) {
      throw new TypeError(
        'expected data to be backed by a fixed-length ArrayBuffer, got a resizable one (it could shrink under the tensor)',
      );
    }
    expectType(Array.isArray(shape), 'shape', 'an array of non-negative integers', shape);
    shape.forEach((size, dim) => {
      expectType(typeof size === 'number', `shape[${dim}]`, 'a number', size);
      expectRange(Number.isInteger(size) && size >= 0, `shape[${dim}]`, 'a non-negative integer', size);
    });
    const elements = shape.reduce((product, size) => product * size, 1);
    if (elements !== data.length) {
      throw new RangeError(`expected shape [${shape.join(', ')}] (${elements} elements) to match data.length ${data.length}`);
    }
    const opts = checkOptions(options);
    const transfer = checkBoolean(opts.transfer, 'options.transfer', false);
    if (!transfer) return new Tensor(native.Tensor.fromTypedArray(data, [...shape]), data);
    // structuredClone moves the backing store (no copy) into a buffer only this tensor can reach, and
    // leaves the caller's ArrayBuffer detached: its length reads 0 and writes go nowhere.
    const byteOffset = data.byteOffset; // reads 0 once the buffer is detached
    const owned = structuredClone(buffer as ArrayBuffer, { transfer: [buffer as ArrayBuffer] });
    const kind = data.constructor as new (buffer: ArrayBuffer, byteOffset: number, length: number) => TypedArray;
    const view = new kind(owned, byteOffset, elements);
    return new Tensor(native.Tensor.fromTypedArray(view, [...shape], { transferred: true }), view);
  }

  get shape(): number[] {
    return [...this.#shape];
  }

  get dtype(): Dtype {
    return this.#dtype;
  }

  /** 'cpu' or 'cuda:N'. */
  get device(): string {
    return this.#device;
  }

  get disposed(): boolean {
    return this.#native.disposed;
  }

  /**
   * The tensor's elements, in row-major order, as a TypedArray over the tensor's own memory (no copy).
   * An array taken before dispose() stays valid: it holds the memory until it is garbage collected.
   * @throws TorchVideoError ERR_DEVICE_MISMATCH for a CUDA tensor (copy it with `to('cpu')` first),
   *   ERR_DISPOSED after dispose().
   */
  data(): TypedArray {
    // Always asked of the native tensor: it throws ERR_DISPOSED, and it notes that JS can now write
    // the memory (jobs queued from now on read a copy).
    const buffer = this.#native.data();
    if (this.#view) return this.#view;
    if (this.#source) return this.#source;
    const kind = TYPED_ARRAY_OF_DTYPE[this.#dtype];
    this.#view = new kind(buffer, 0, buffer.byteLength / kind.BYTES_PER_ELEMENT);
    return this.#view;
  }

  /**
   * A copy of this tensor on `device` ('cpu', 'cuda', 'cuda:N'), made off the JS thread.
   * @throws RangeError (rejects) for a malformed device string; TorchVideoError
   *   ERR_DEVICE_UNAVAILABLE when CUDA is asked for and absent; ERR_DISPOSED after dispose().
   */
  async to(device: string): Promise<Tensor> {
    const callSite = new Error();
    checkDevice(device);
    const handle = await withCallSite(this.#native.to(device), callSite);
    return new Tensor(handle);
  }

  /** Frees the native memory now. Idempotent. */
  dispose(): void {
    this.#native.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  static {
    nativeHandleOf = (tensor) => tensor.#native;
  }

  toString(): string {
    return `Tensor(shape=[${this.#shape.join(', ')}], dtype=${this.#dtype}, device=${this.#device})`;
  }
}

/** @internal The native tensor behind a public one, with a TypeError naming `name` when it is not a Tensor. */
export function nativeTensorOf(value: unknown, name: string): NativeTensor {
  if (!(value instanceof Tensor)) throw new TypeError(`expected ${name} to be a Tensor, got ${describe(value)}`);
  return nativeHandleOf(value);
}
