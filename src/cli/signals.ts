// SIGINT (Ctrl-C) and SIGTERM (a service manager, Kubernetes, a launcher) stop every long command the same
// way: the first one aborts the job's AbortSignal, so the job stops at its next safe point (finetune after a
// checkpoint, evaluate within a batch, with what it wrote resumable), and the command exits 128 + the
// signal's number, 130 or 143, as a shell reports a process the signal ended. The handlers go with the first
// signal: a second one (Ctrl-C twice) meets none and ends the process at once.

/** The exit code of a command stopped by each signal. */
export const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;
export type StopSignal = keyof typeof SIGNAL_EXIT_CODES;

export class StopOnSignals {
  readonly #controller = new AbortController();
  #received: StopSignal | undefined;
  readonly #handlers: [StopSignal, () => void][];

  constructor() {
    this.#handlers = (Object.keys(SIGNAL_EXIT_CODES) as StopSignal[]).map((name) => [name, () => this.#stop(name)]);
    for (const [name, handler] of this.#handlers) process.on(name, handler);
  }

  #stop(name: StopSignal): void {
    this.#received = name;
    this.dispose();
    this.#controller.abort();
  }

  /** Aborted by the first SIGINT or SIGTERM. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** The signal that stopped the job, if one did. */
  get received(): StopSignal | undefined {
    return this.#received;
  }

  /** 130 after SIGINT, 143 after SIGTERM (130 when aborted some other way). */
  get exitCode(): number {
    return SIGNAL_EXIT_CODES[this.#received ?? 'SIGINT'];
  }

  /** Removes the handlers: from now on a signal ends the process. */
  dispose(): void {
    for (const [name, handler] of this.#handlers) process.removeListener(name, handler);
  }
}
