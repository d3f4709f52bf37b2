/**
 * The error for failures of LibTorch, FFmpeg, files and devices. Bad arguments are TypeError
 * (wrong type) or RangeError (bad value or shape) instead.
 *
 * `code` is stable and meant for branching: one of the package's `errorCodes`.
 */
export class TorchVideoError extends Error {
  readonly code: string;
  /** The file the failure is about, when there is one. */
  path?: string;

  constructor(message: string, code: string) {
    super(message);
    this.name = 'TorchVideoError';
    this.code = code;
  }
}

/**
 * Makes an async error point at the caller's line: native work settles on a later tick, when the
 * JS stack no longer holds the user's frames, so the stack captured at the call is appended.
 */
export function withCallSite<T>(promise: Promise<T>, callSite: Error): Promise<T> {
  return promise.catch((error: unknown) => {
    if (error instanceof Error && callSite.stack) {
      const frames = callSite.stack.split('\n').slice(1).join('\n');
      error.stack = `${error.name}: ${error.message}\n${frames}`;
    }
    throw error;
  });
}

/** Attaches `file` to the TorchVideoErrors a promise rejects with (README, "Errors": errors about a file carry its path). */
export function withPath<T>(promise: Promise<T>, file: string): Promise<T> {
  return promise.catch((error: unknown) => {
    if (error instanceof TorchVideoError && error.path === undefined) error.path = file;
    throw error;
  });
}
