// A one-line progress bar on stderr, redrawn in place; only on a terminal.
export class ProgressBar {
  readonly #total: number;
  readonly #stream: NodeJS.WriteStream;
  readonly #enabled: boolean;
  #done = 0;
  #failed = 0;
  readonly #started = performance.now();

  constructor(total: number, { force = false, stream = process.stderr } = {}) {
    this.#total = total;
    this.#stream = stream;
    this.#enabled = force || Boolean(stream.isTTY);
  }

  tick(failed: boolean): void {
    this.#done++;
    if (failed) this.#failed++;
    if (!this.#enabled) return;
    const width = 30;
    const filled = Math.round((this.#done / this.#total) * width);
    const elapsed = (performance.now() - this.#started) / 1000;
    const rate = this.#done / Math.max(elapsed, 1e-3);
    const eta = (this.#total - this.#done) / Math.max(rate, 1e-9);
    const line =
      `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.#done}/${this.#total}` +
      ` ${rate.toFixed(2)} videos/s, ${this.#failed} failed, eta ${eta.toFixed(0)} s`;
    this.#stream.write(this.#stream.isTTY ? `\r${line}` : `${line}\n`);
    if (this.#done === this.#total && this.#stream.isTTY) this.#stream.write('\n');
  }

  /** Prints a line above the bar. */
  log(text: string): void {
    if (this.#enabled && this.#stream.isTTY) this.#stream.write('\r\x1b[2K');
    this.#stream.write(`${text}\n`);
  }
}
