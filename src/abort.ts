// AbortSignal support shared by every call that can take long (loadModel, forward, Trainer.step,
// openVideo, readFrames, classifyVideo(s), loadDataset, ProcessGroup.join).
//
// The rules, like fetch's: a signal already aborted rejects at once with its reason (by default a
// DOMException named 'AbortError') and queues nothing; one that aborts while the call's native job is
// queued raises the job's cancel flag (binding/cancel.h: the job never computes) and rejects at once,
// without waiting for the queue; one that aborts while the job runs rejects at once too, and the
// result, when it comes, is dropped (a tensor disposed). The listener is removed when the call
// settles, so one signal can serve any number of calls.
import { native, type NativeCancelToken } from './native';
import { describe } from './validate';

/**
 * Checks an optional `signal` option.
 * @throws TypeError when it is neither undefined nor an AbortSignal.
 */
export function checkSignal(value: unknown, name = 'options.signal'): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) throw new TypeError(`expected ${name} to be an AbortSignal, got ${describe(value)}`);
  return value;
}

/** The error an aborted call rejects with: the signal's reason (an AbortError unless the caller gave one). */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

/**
 * The AbortError a long job (evaluation, fine-tuning, the demo) rejects with when its own stop flag
 * ends it, as `message` says ('the evaluation was aborted').
 */
export function abortError(message: string): DOMException {
  return new DOMException(message, 'AbortError');
}

/** Throws the signal's reason when it has aborted: for the steps between native calls. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}

/**
 * Runs `start` (which queues one native job, handing it `cancel` when there is a signal) under
 * `signal`. `drop` frees a result that arrives after the abort.
 */
export function abortable<T>(
  signal: AbortSignal | undefined,
  start: (cancel: NativeCancelToken | undefined) => Promise<T>,
  drop?: (value: T) => void,
): Promise<T> {
  if (signal === undefined) return start(undefined);
  if (signal.aborted) return Promise.reject(abortReason(signal));
  const cancel = native.cancelToken();
  const work = start(cancel);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      native.cancel(cancel);
      reject(abortReason(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) drop?.(value);
        else resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        // After an abort the promise has already rejected: this only consumes the job's own rejection.
        reject(error);
      },
    );
  });
}
