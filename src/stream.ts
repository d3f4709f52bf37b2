// Live streams: classify what a source shows as it plays. A native thread decodes the source without
// pause, resamples it to frameRate, keeps the newest clipLength frames and hands over a preprocessed
// window every hopSec of stream time; when this side falls behind, the stale window is dropped for the
// newest one. Nothing is queued without bound: one pending window, a ring of frames, a bounded byte queue.
import { Readable } from 'node:stream';
import { checkSignal, throwIfAborted } from './abort';
import type { Batcher } from './batcher';
import { runnerOf } from './classify';
import { TorchVideoError } from './errors';
import type { Model } from './model';
import { native, type NativeStreamEvent, type NativeStreamReader } from './native';
import { Tensor } from './tensor';
import { softmax, topK, type Prediction } from './topk';
import { nativePreprocessOptions } from './video';
import { checkBoolean, checkInteger, checkOptions, checkString, describe, expectRange, expectType } from './validate';

/** What happened to the source, besides results. */
export interface StreamEvent {
  /**
   * 'open': the source is open and its video stream found (again, after a reconnection);
   * 'reconnecting': it closed, failed or stalled, and is opened again after `delayMs` (attempt `attempt`
   * in a row, because of `reason`); 'end': it ended for good (results may follow).
   */
  type: 'open' | 'reconnecting' | 'end';
  /** The source as given (a Readable is named 'Readable'), without a URL's user:password. */
  source: string;
  /** 'reconnecting': which reopening in a row this is, from 1. */
  attempt?: number;
  /** 'reconnecting': the wait before it, in ms. */
  delayMs?: number;
  /** 'reconnecting': why the source was lost ("the source closed", or the error's message). */
  reason?: string;
}

/**
 * How a network source or a device that closes, fails or stalls is opened again: after initialDelayMs,
 * doubled after each failed attempt up to maxDelayMs, at most `retries` attempts in a row (an attempt
 * that delivers frames starts the count again). A first open that fails is retried the same way.
 */
export interface ReconnectOptions {
  /** Attempts in a row before the stream ends (a close) or fails (an error); default Infinity. */
  retries?: number;
  /** The first wait, in ms (default 500). */
  initialDelayMs?: number;
  /** The longest wait, in ms (default 10000). */
  maxDelayMs?: number;
}

export interface ClassifyStreamOptions {
  /** Frames per window (default: the model's, 16). */
  clipLength?: number;
  /** Frame rate the stream is resampled to, from its timestamps (default: the model's, 15). */
  frameRate?: number;
  /** Stream time between windows, in seconds (default 0.5). */
  hopSec?: number;
  /** Classes to report, best first (default 5). */
  topk?: number;
  /** Windows whose softmax is averaged into each result, the newest included (MMAction2's average size; default 1). */
  average?: number;
  /** Classes scoring below this are left out of `top` (default: none left out). */
  threshold?: number;
  /**
   * Reads a file at the pace of its timestamps, like ffmpeg -re, so that it plays as a live source
   * (default false: a file is read as fast as windows are taken, and none is dropped).
   */
  realtime?: boolean;
  /**
   * Network sources and devices (not files or Readables): reopening after a close, an error or a stall
   * (default { retries: Infinity, initialDelayMs: 500, maxDelayMs: 10000 }); false: never, so the
   * source's end ends the iteration and its failure fails it.
   */
  reconnect?: ReconnectOptions | false;
  /**
   * A source that delivers nothing for this long counts as closed: a network source is reopened (see
   * reconnect), any other ends the iteration with ERR_TIMEOUT (default 10000; 0: never).
   */
  stallTimeoutMs?: number;
  /** Aborting stops the source at once and ends the iteration with the signal's reason. */
  signal?: AbortSignal;
  /** Called on the JS thread for each StreamEvent; what it throws is reported as a warning, not raised. */
  onEvent?: (event: StreamEvent) => void;
}

export interface StreamResult {
  /** Stream time of the window's first frame, in seconds from the stream's first frame (from pts). */
  startSec: number;
  /** Stream time of the window's last frame. */
  endSec: number;
  /** Mean of the last `average` windows' softmax, top-k classes, those under `threshold` left out. */
  top: Prediction[];
  /** From the decode of the window's last frame to this result, in ms. */
  latencyMs: number;
  /** Windows dropped so far because a newer one was ready before they were taken. */
  dropped: number;
  /** Reopenings of the source that succeeded so far. */
  reconnects: number;
  /** The decode thread's CPU time for this window: demuxing, decoding, resampling and preprocessing, in ms (NaN where the platform has no per-thread CPU clock). */
  decodeMs: number;
  /** From submitting the window to its logits (time in a batcher's queue included), in ms. */
  inferenceMs: number;
}

interface StreamPlan {
  clipLength: number;
  frameRate: number;
  hopSec: number;
  topk: number;
  average: number;
  threshold: number | undefined;
  realtime: boolean;
  reconnect: { retries: number; initialDelayMs: number; maxDelayMs: number };
  stallTimeoutMs: number;
  signal: AbortSignal | undefined;
  onEvent: ((event: StreamEvent) => void) | undefined;
}

function checkPositiveNumber(value: unknown, name: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  expectType(typeof value === 'number', name, 'a number', value);
  expectRange((value as number) > 0 && (value as number) <= max, name, `a positive number up to ${max}`, value);
  return value as number;
}

/**
 * A source as messages, events and listings show it: a URL's user:password@ replaced by ***@ (the
 * addon's errors do the same). @internal
 */
export const redactSource = (source: string): string => source.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1***@');

const MAX_DELAY_MS = 86_400_000;

function reconnectOf(value: unknown): StreamPlan['reconnect'] {
  if (value === false) return { retries: 0, initialDelayMs: 0, maxDelayMs: 0 };
  expectType(
    value === undefined || (typeof value === 'object' && value !== null && !Array.isArray(value)),
    'options.reconnect',
    'false or an object',
    value,
  );
  const opts = checkOptions(value, 'options.reconnect') as ReconnectOptions;
  let retries = Infinity;
  if (opts.retries !== undefined && opts.retries !== Infinity) {
    retries = checkInteger(opts.retries, 'options.reconnect.retries', 0, { min: 0, max: 2 ** 31 - 1 });
  }
  const initialDelayMs = checkInteger(opts.initialDelayMs, 'options.reconnect.initialDelayMs', 500, { min: 0, max: MAX_DELAY_MS });
  const maxDelayMs = checkInteger(opts.maxDelayMs, 'options.reconnect.maxDelayMs', Math.max(10_000, initialDelayMs), {
    min: initialDelayMs,
    max: MAX_DELAY_MS,
  });
  return { retries, initialDelayMs, maxDelayMs };
}

function planOf(model: Model, options: ClassifyStreamOptions): StreamPlan {
  const opts = checkOptions(options);
  const { preprocessing, numClasses } = model.info;
  const threshold = opts.threshold;
  if (threshold !== undefined) {
    expectType(typeof threshold === 'number', 'options.threshold', 'a number', threshold);
    expectRange((threshold as number) >= 0 && (threshold as number) <= 1, 'options.threshold', 'a number from 0 to 1', threshold);
  }
  expectType(opts.onEvent === undefined || typeof opts.onEvent === 'function', 'options.onEvent', 'a function', opts.onEvent);
  return {
    clipLength: checkInteger(opts.clipLength, 'options.clipLength', preprocessing.clipLength, { min: 1, max: 10000 }),
    frameRate: checkPositiveNumber(opts.frameRate, 'options.frameRate', preprocessing.frameRate, 1000),
    hopSec: checkPositiveNumber(opts.hopSec, 'options.hopSec', 0.5, 86400),
    topk: Math.min(checkInteger(opts.topk, 'options.topk', 5, { min: 1 }), numClasses),
    average: checkInteger(opts.average, 'options.average', 1, { min: 1, max: 10000 }),
    threshold: threshold as number | undefined,
    realtime: checkBoolean(opts.realtime, 'options.realtime', false),
    reconnect: reconnectOf(opts.reconnect),
    stallTimeoutMs: checkInteger(opts.stallTimeoutMs, 'options.stallTimeoutMs', 10_000, { min: 0, max: 2 ** 31 - 1 }),
    signal: checkSignal(opts.signal),
    onEvent: opts.onEvent as StreamPlan['onEvent'],
  };
}

/**
 * Classifies a live source as it plays: every `hopSec` of stream time, the newest `clipLength` frames
 * (resampled to `frameRate` from the stream's timestamps, preprocessed as classifyVideo preprocesses a
 * clip) go through the model, or through a Batcher, where the windows of many streams share batches.
 *
 * `source`: a file path (opened as a local file only), a URL of http, https, udp, tcp, rtsp or srt
 * (FFmpeg may open exactly that protocol and what it runs on), /dev/videoN (a V4L2 camera, where the
 * build has libavdevice), or a Readable of container bytes (MPEG-TS, Matroska, ...), read with
 * backpressure. A file or a Readable that ends ends the iteration; a network source or a device that
 * closes, fails or stalls is opened again (options.reconnect; onEvent says so, results count it), its
 * stream time going on from the last frame. Breaking out of the loop or aborting the signal stops the
 * source at once (a Readable is destroyed).
 * Windows not taken before a newer one is ready are dropped (counted in `dropped`), except from a file
 * read without `realtime`, which waits for the consumer instead. A stream with fewer than clipLength
 * frames yields nothing.
 * @throws TypeError / RangeError (from the iteration) for bad arguments, naming them.
 * @throws TorchVideoError ERR_VIDEO_OPEN naming the source when it cannot be opened (after the
 *   reconnect retries) or its protocol is not allowed, ERR_NOT_A_FILE for a path that is not a regular file, ERR_NO_VIDEO_STREAM, ERR_TIMEOUT
 *   when it stalls for stallTimeoutMs, ERR_VIDEO_DECODE when reading it fails mid-way.
 * @throws AbortError (the signal's reason) when options.signal aborts.
 */
export async function* classifyStream(
  model: Model | Batcher,
  source: string | Readable,
  options: ClassifyStreamOptions = {},
): AsyncGenerator<StreamResult> {
  const runner = runnerOf(model);
  const readable = source instanceof Readable ? source : undefined;
  if (!readable) {
    expectType(typeof source === 'string', 'source', 'a path, a URL or a Readable', source);
    checkString(source, 'source');
  }
  const plan = planOf(runner.model, options);
  const preprocess = nativePreprocessOptions({ preprocessing: runner.model.info.preprocessing });
  throwIfAborted(plan.signal);
  const { labels } = runner.model.info;

  let wake: (() => void) | undefined;
  const wakeUp = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  let paused = false;
  let sourceError: unknown;
  const onNativeWake = () => {
    if (readable && paused && handle.writable()) {
      paused = false;
      readable.resume();
    }
    wakeUp();
  };
  const handle: NativeStreamReader = new native.StreamReader(
    readable ? 'Readable' : (source as string),
    readable !== undefined,
    {
      clipLength: plan.clipLength,
      frameRate: plan.frameRate,
      hopSec: plan.hopSec,
      realtime: plan.realtime,
      stallTimeoutMs: plan.stallTimeoutMs,
      preprocess,
      reconnectRetries: Number.isFinite(plan.reconnect.retries) ? plan.reconnect.retries : -1,
      reconnectInitialDelayMs: plan.reconnect.initialDelayMs,
      reconnectMaxDelayMs: plan.reconnect.maxDelayMs,
    },
    onNativeWake,
  );
  const onError = (error: unknown) => {
    sourceError = error;
    handle.end();
    wakeUp();
  };
  const onData = (chunk: unknown) => {
    if (!(chunk instanceof Uint8Array) && typeof chunk !== 'string') {
      // An object-mode Readable of something else: not bytes of a container.
      onError(new TypeError(`expected the source's chunks to be Buffers or Uint8Arrays, got ${describe(chunk)}`));
      return;
    }
    if (!handle.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)) {
      paused = true;
      readable?.pause();
    }
  };
  const onEnd = () => handle.end();
  readable?.on('data', onData).on('end', onEnd).on('close', onEnd).on('error', onError);
  // One that ended (or was destroyed) before it was handed over emits no 'end' any more.
  if (readable && (readable.readableEnded || readable.destroyed)) handle.end();
  plan.signal?.addEventListener('abort', wakeUp);
  const name = readable ? 'Readable' : redactSource(source as string);
  const emitEvent = (event: NativeStreamEvent) => {
    try {
      plan.onEvent?.({ ...event, source: name });
    } catch (error) {
      process.emitWarning(`options.onEvent threw: ${error instanceof Error ? error.message : String(error)}`);
    }
  };

  const history: Float64Array[] = [];
  let refused = 0; // windows a full batcher queue refused: dropped like stale ones
  try {
    for (;;) {
      throwIfAborted(plan.signal);
      if (sourceError !== undefined) throw sourceError;
      const got = handle.take();
      for (const event of got.events ?? []) emitEvent(event);
      if (got.clip) {
        const takenAt = performance.now();
        const clip = new Tensor(got.clip);
        let logits: Tensor;
        let inferenceMs: number;
        try {
          logits = await (runner.batcher
            ? runner.batcher.forward(clip, { signal: plan.signal })
            : runner.model.forward(clip, { signal: plan.signal }));
          inferenceMs = performance.now() - takenAt;
        } catch (error) {
          if (!(error instanceof TorchVideoError && error.code === 'ERR_QUEUE_FULL')) throw error;
          refused++;
          continue;
        } finally {
          clip.dispose();
        }
        if (logits.device !== 'cpu') {
          const onDevice = logits;
          logits = await onDevice.to('cpu');
          onDevice.dispose();
        }
        const probabilities = softmax(logits.data() as Float32Array);
        logits.dispose();
        history.push(probabilities);
        if (history.length > plan.average) history.shift();
        const mean = new Float64Array(probabilities.length);
        for (const p of history) for (let c = 0; c < mean.length; c++) mean[c] += p[c] / history.length;
        const top = topK(mean, labels, plan.topk).filter((p) => plan.threshold === undefined || p.score >= plan.threshold);
        yield {
          startSec: got.startSec as number,
          endSec: got.endSec as number,
          top,
          latencyMs: (got.ageMs as number) + (performance.now() - takenAt),
          dropped: (got.dropped as number) + refused,
          reconnects: got.reconnects as number,
          decodeMs: got.decodeMs ?? NaN,
          inferenceMs,
        };
        continue;
      }
      if (got.finished) {
        if (got.error) throw got.error;
        return;
      }
      // Woken by the decode thread (a window, the end, room for bytes) or by an abort.
      await new Promise<void>((resolve) => {
        // onEvent may have aborted the signal or a source error may have come meanwhile: no wake-up follows those.
        if (plan.signal?.aborted || sourceError !== undefined) {
          resolve();
          return;
        }
        wake = resolve;
        handle.ref(true);
      });
      handle.ref(false);
    }
  } finally {
    plan.signal?.removeEventListener('abort', wakeUp);
    if (readable) {
      readable.off('data', onData).off('end', onEnd).off('close', onEnd).off('error', onError);
      // Stopping early closes the source: a child process writing into it gets EPIPE rather than
      // filling a pipe nobody reads.
      if (!readable.destroyed) readable.destroy();
    }
    handle.close();
  }
}
