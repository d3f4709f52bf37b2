// `torchvideo watch` on a terminal: one line per stream, rewritten in place as results and state changes
// come in. Each update rewrites only its own line (cursor up to it, clear it, write, cursor back down), so
// the cost does not grow with the number of streams; lines are cut to the terminal's width, because a line
// that wraps would take two rows and every cursor move after it would land one row off.
import type { StreamResult } from '../stream';

/** The part of a tty.WriteStream the board uses (a test passes a fake). */
export interface BoardOutput {
  write(text: string): unknown;
  /** The terminal's width; undefined when unknown (80 is assumed). */
  columns?: number;
}

/** What a stream's line shows when it has no result to show. */
export type StreamState = 'opening' | 'open' | 'reconnecting' | 'ended' | 'stopped' | { failed: string };

const ESC = '\x1b[';
const DEFAULT_COLUMNS = 80;

/** `text` cut to `width` characters (code points), its last one an ellipsis when cut. */
export function truncate(text: string, width: number): string {
  const chars = Array.from(text);
  if (chars.length <= width) return text;
  return width <= 0 ? '' : `${chars.slice(0, width - 1).join('')}…`;
}

/** The line of a stream's newest result: its top label and score, latency, dropped and reconnects. */
export function resultLine(source: string, result: StreamResult): string {
  const best = result.top[0];
  const label = best ? `${best.label} ${(best.score * 100).toFixed(1)}%` : '(no label above the threshold)';
  const at = `${result.endSec.toFixed(1)} s`;
  return `${source}  ${at}  ${label}  ${result.latencyMs.toFixed(0)} ms  dropped ${result.dropped}  reconnects ${result.reconnects}`;
}

/** The line of a stream's state. */
export function stateLine(source: string, state: StreamState): string {
  return `${source}  ${typeof state === 'string' ? state : `failed: ${state.failed}`}`;
}

// Control characters in a source (or a label, or an error message) would move the cursor themselves.
// eslint-disable-next-line no-control-regex -- control characters are what is replaced
const printable = (text: string) => text.replace(/[\x00-\x1f\x7f]/g, '?');

export class StatusBoard {
  readonly #output: BoardOutput;
  readonly #lines: string[];

  /** Writes the streams' first lines ('opening'); the cursor then rests on the line below the board. */
  constructor(output: BoardOutput, sources: readonly string[]) {
    this.#output = output;
    this.#lines = sources.map((source) => printable(stateLine(source, 'opening')));
    const width = this.#width();
    this.#output.write(this.#lines.map((line) => `${truncate(line, width)}\n`).join(''));
  }

  // One column short of the width: writing into the last column leaves some terminals' cursor pending a
  // wrap, and the next '\n' then skips a row.
  #width(): number {
    return Math.max(1, (this.#output.columns ?? DEFAULT_COLUMNS) - 1);
  }

  /** Rewrites stream `index`'s line with `text` (cut to the terminal's width). */
  set(index: number, text: string): void {
    const clean = printable(text);
    if (this.#lines[index] === clean) return;
    this.#lines[index] = clean;
    const up = this.#lines.length - index;
    this.#output.write(`${ESC}${up}A\r${ESC}2K${truncate(clean, this.#width())}${ESC}${up}B\r`);
  }
}
