// Dynamic batching: many concurrent callers' clips run as one forward pass on the model's device.
// The queue, the choice of each batch, the delay and the timeouts live in the addon
// (cpp/serving/batcher.h); this layer checks arguments, wires AbortSignals, and tracks pending calls
// so close() can wait for them.
import { abortReason, checkSignal } from './abort';
import { TorchVideoError, withCallSite } from './errors';
import type { Model } from './model';
import { native, type NativeBatcher, type NativeModel } from './native';
import { Tensor, nativeTensorOf } from './tensor';
import type { BatcherStats } from './types';
import { checkInteger, checkOptions, describe, expectRange, expectType } from './validate';

export type { BatcherStats, LatencyPercentiles } from './types';

export interface BatcherOptions {
  /** Clips in one forward pass at most (default 32). A request never holds more. */
  maxBatchSize?: number;
  /**
   * How long a batch that is not full may wait for more requests, in ms (default 0: none waits; what
   * queued while the device was busy is the next batch).
   */
  maxDelayMs?: number;
  /** Clips queued at most (default 4 * maxBatchSize); a call beyond it rejects at once with ERR_QUEUE_FULL. */
  maxQueueClips?: number;
  /** timeoutMs of calls that give none (default: none). */
  defaultTimeoutMs?: number;
  /** Called on the JS thread after each forward pass (for metrics); what it throws is reported, not raised. */
  onBatch?: (batch: BatchInfo) => void;
}

/** One forward pass of the batcher. */
export interface BatchInfo {
  clips: number;
  requests: number;
  /** The forward pass, in ms. */
  computeMs: number;
  /** How long each of its requests waited in the queue, in ms. */
  queueMs: number[];
}

export interface BatcherForwardOptions {
  /**
   * Aborts the call: rejects at once with the signal's reason. A queued request is taken out of the
   * queue and never runs; one already in a running batch finishes, and its logits are freed.
   */
  signal?: AbortSignal;
  /** Rejects with ERR_TIMEOUT, without running, when still queued after this many ms. */
  timeoutMs?: number;
  /** 'high' requests go into batches before every 'normal' one (default 'normal'). */
  priority?: 'high' | 'normal';
}

interface ResolvedOptions {
  maxBatchSize: number;
  maxDelayMs: number;
  maxQueueClips: number;
  defaultTimeoutMs: number | undefined;
}

function checkMilliseconds(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  expectType(typeof value === 'number', name, 'a number of milliseconds', value);
  expectRange(Number.isFinite(value) && (value as number) >= 0, name, 'a finite number >= 0', value);
  return value as number;
}

/** @internal Model.batcher's options, checked and defaulted. */
export function resolveBatcherOptions(options: BatcherOptions): ResolvedOptions & { onBatch?: (batch: BatchInfo) => void } {
  const opts = checkOptions(options);
  const maxBatchSize = checkInteger(opts.maxBatchSize, 'options.maxBatchSize', 32, { min: 1, max: 4096 });
  const maxDelayMs = checkMilliseconds(opts.maxDelayMs, 'options.maxDelayMs') ?? 0;
  expectRange(maxDelayMs <= 60_000, 'options.maxDelayMs', 'at most 60000 ms', maxDelayMs);
  const maxQueueClips = checkInteger(opts.maxQueueClips, 'options.maxQueueClips', 4 * maxBatchSize, { min: maxBatchSize, max: 1 << 20 });
  const defaultTimeoutMs = checkMilliseconds(opts.defaultTimeoutMs, 'options.defaultTimeoutMs');
  expectType(opts.onBatch === undefined || typeof opts.onBatch === 'function', 'options.onBatch', 'a function', opts.onBatch);
  return { maxBatchSize, maxDelayMs, maxQueueClips, defaultTimeoutMs, onBatch: opts.onBatch as BatcherOptions['onBatch'] };
}

/**
 * Runs concurrent callers' clips as shared forward passes of one model (Model.batcher()). Each caller
 * gets exactly its own rows, as its own forward would give them.
 */
export class Batcher {
  readonly #native: NativeBatcher;
  /** The network the batches run on. */
  readonly model: Model;
  readonly options: Readonly<ResolvedOptions>;
  readonly #pending = new Set<Promise<unknown>>();
  #nextId = 1;
  #closing: Promise<void> | undefined;

  /** @internal Use Model.batcher(). */
  constructor(model: Model, handle: NativeModel, options: BatcherOptions) {
    const { onBatch, ...resolved } = resolveBatcherOptions(options);
    this.options = Object.freeze(resolved);
    this.model = model;
    const report = onBatch
      ? (clips: number, requests: number, computeMs: number, queueMs: Float64Array) => {
          try {
            onBatch({ clips, requests, computeMs, queueMs: Array.from(queueMs) });
          } catch (error) {
            process.emitWarning(
              `options.onBatch threw: ${error instanceof Error ? error.message : String(error)}`,
              'TorchVideoBatcherWarning',
            );
          }
        }
      : undefined;
    this.#native = handle.batcher(
      { maxBatchSize: resolved.maxBatchSize, maxDelayMs: resolved.maxDelayMs, maxQueueClips: resolved.maxQueueClips },
      report,
    );
  }

  /** True once close() was called: forward() rejects with ERR_DISPOSED. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Logits for `clips`, float32 (B, 3, T, H, W) with B <= maxBatchSize, or one clip (3, T, H, W), on
   * the CPU or the model's device; computed in a batch with other callers' clips of the same shape.
   * Returns float32 (B, numClasses) (one clip: (1, numClasses)) on the model's device.
   * @throws TypeError (rejects) for clips not a float32 Tensor, bad options.
   * @throws RangeError (rejects) for a wrong rank, a channel count other than 3, more clips than
   *   maxBatchSize, or (when its batch runs) NaN or Infinity in the clips.
   * @throws TorchVideoError (rejects) ERR_QUEUE_FULL at once when the queue holds maxQueueClips;
   *   ERR_TIMEOUT when timeoutMs passes while queued (it never runs); ERR_DISPOSED after close() or
   *   the model's dispose(); ERR_DEVICE_MISMATCH for clips on another GPU; ERR_FORWARD when its batch fails.
   * @throws AbortError (rejects; the signal's reason) when options.signal aborts first.
   */
  forward(clips: Tensor, options: BatcherForwardOptions = {}): Promise<Tensor> {
    const callSite = new Error();
    try {
      return withCallSite(this.#forward(clips, options), callSite);
    } catch (error) {
      return withCallSite(Promise.reject(error), callSite);
    }
  }

  #forward(clips: Tensor, options: BatcherForwardOptions): Promise<Tensor> {
    const opts = checkOptions(options);
    const signal = checkSignal(opts.signal);
    const timeoutMs = checkMilliseconds(opts.timeoutMs, 'options.timeoutMs') ?? this.options.defaultTimeoutMs;
    const priority = opts.priority ?? 'normal';
    expectRange(priority === 'high' || priority === 'normal', 'options.priority', "'high' or 'normal'", priority);
    checkClips(clips, this.options.maxBatchSize);
    if (this.#closing) throw new TorchVideoError('the batcher is closed', 'ERR_DISPOSED');
    if (this.model.disposed) throw new TorchVideoError('model is disposed', 'ERR_DISPOSED');
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const id = this.#nextId++;
    const work = this.#native.forward(nativeTensorOf(clips, 'clips'), id, priority === 'high', timeoutMs);
    this.#track(work);
    if (signal === undefined) return work.then((logits) => new Tensor(logits));
    return new Promise<Tensor>((resolve, reject) => {
      const onAbort = () => {
        this.#native.cancel(id);
        reject(abortReason(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      work.then(
        (logits) => {
          signal.removeEventListener('abort', onAbort);
          if (signal.aborted) logits.dispose();
          else resolve(new Tensor(logits));
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          // After an abort the promise has already rejected: this only consumes the native rejection.
          reject(error);
        },
      );
    });
  }

  #track(work: Promise<unknown>): void {
    const settled = work.then(
      () => {},
      () => {},
    );
    this.#pending.add(settled);
    void settled.then(() => this.#pending.delete(settled));
  }

  /**
   * Clips waiting now (stats().queuedClips, without the percentiles): cheap enough to read per request,
   * e.g. to refuse one before its body is read when `queuedClips >= options.maxQueueClips`.
   */
  get queuedClips(): number {
    return this.#native.queuedClips();
  }

  /** Counters and latency percentiles since the batcher was made. */
  stats(): BatcherStats {
    return this.#native.stats();
  }

  /**
   * Takes no more requests (forward() rejects with ERR_DISPOSED) and resolves once every queued and
   * running request has settled; queued ones still run, without waiting for company. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#native.close();
      while (this.#pending.size > 0) await Promise.all([...this.#pending]);
      this.#native.dispose();
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function checkClips(clips: unknown, maxBatchSize: number): void {
  if (!(clips instanceof Tensor)) throw new TypeError(`expected clips to be a Tensor, got ${describe(clips)}`);
  if (clips.dtype !== 'float32') throw new TypeError(`expected clips to be a float32 tensor, got ${clips.dtype}`);
  const shape = clips.shape;
  const text = `[${shape.join(', ')}]`;
  if (shape.length !== 4 && shape.length !== 5) {
    throw new RangeError(`expected clips to have shape (B, 3, T, H, W) or (3, T, H, W), got ${text}`);
  }
  const channels = shape.length === 5 ? shape[1] : shape[0];
  if (channels !== 3) throw new RangeError(`expected clips to have 3 colour channels, got shape ${text}`);
  if (shape.some((size) => size === 0))
    throw new RangeError(`expected clips to hold at least one clip of at least one frame, got shape ${text}`);
  if (shape.length === 5 && shape[0] > maxBatchSize) {
    throw new RangeError(`expected at most maxBatchSize ${maxBatchSize} clips in one call, got ${shape[0]} (shape ${text})`);
  }
}

/**
 * @internal Logits of several inputs through `batcher`, one request each, joined in order: for jobs that
 * stack pieces of different videos (evaluate). Frees what arrives after one fails.
 */
export async function forwardPieces(batcher: Batcher, inputs: Tensor[], signal?: AbortSignal): Promise<Tensor> {
  const pending = inputs.map((input) => batcher.forward(input, { signal }));
  let pieces: Tensor[];
  try {
    pieces = await Promise.all(pending);
  } catch (error) {
    for (const piece of pending)
      piece.then(
        (t) => t.dispose(),
        () => {},
      );
    throw error;
  }
  if (pieces.length === 1) return pieces[0];
  try {
    return new Tensor(await native.concat(pieces.map((piece, i) => nativeTensorOf(piece, `logits[${i}]`))));
  } finally {
    pieces.forEach((piece) => piece.dispose());
  }
}
