// torchvideo watch SOURCE... --model M.pt: classifies live sources as they play (classifyStream), all
// through one model's batcher so the windows of several streams share forward passes. On a terminal, one
// line per stream rewritten in place (watch-board.ts); otherwise JSON lines, one per result and one per
// event. Runs until every source ends, or until SIGINT / SIGTERM, which stop it cleanly with exit code 0
// (stopping is how a watch of live sources normally ends, as for `serve`); 1 when any source failed.
import { loadModel } from '../model';
import { classifyStream, redactSource, type ClassifyStreamOptions, type StreamEvent, type StreamResult } from '../stream';
import { integerFlag, numberFlag, parseCommand, positiveIntegerFlag, printUsage, probabilityFlag, requiredFlag } from './args';
import { PRECISION_FLAGS, PRECISION_USAGE, precisionFromFlags } from './precision-flag';
import { StopOnSignals } from './signals';
import { resultLine, StatusBoard, stateLine } from './watch-board';

export const WATCH_USAGE = `torchvideo watch SOURCE... --model MODEL.pt [--device cpu|cuda|cuda:N]
                   ${PRECISION_USAGE}
                   [--hop 0.5 (s)] [--average 1] [--threshold P] [--topk 5] [--clip-length N] [--frame-rate FPS]
                   [--realtime] [--stall-timeout 10 (s; 0: never)] [--retries N] [--threads N] [--max-batch 32]
                   [--json]   (SOURCE: a file, or an http/https/udp/tcp/rtsp/srt URL)`;

// classifyStream's own bounds (src/stream.ts), said here with the flags' names.
const MAX_CLIP_LENGTH = 10000;
const MAX_FRAME_RATE = 1000;
const MAX_HOP_S = 86400;
const MAX_AVERAGE = 10000;
const MAX_BATCH = 4096;
const MAX_STALL_S = (2 ** 31 - 1) / 1000;

type WatchStreamOptions = Omit<ClassifyStreamOptions, 'signal' | 'onEvent'>;

/** How one stream's loop ended. */
type Outcome = { source: string; error?: unknown };

/** What happens to a stream, in the order it happens; the two outputs (board, JSON lines) take it. */
interface WatchOutput {
  event(index: number, event: StreamEvent): void;
  result(index: number, result: StreamResult): void;
  ended(index: number, outcome: Outcome, stopped: boolean): void;
}

const errorOf = (error: unknown) => ({
  code: (error as { code?: string }).code,
  message: error instanceof Error ? error.message : String(error),
});

function jsonOutput(sources: string[]): WatchOutput {
  const print = (object: object) => process.stdout.write(`${JSON.stringify(object)}\n`);
  return {
    event(index, event) {
      // The source's 'end' may still be followed by results: the loop's own end is printed instead.
      if (event.type !== 'end') print({ source: sources[index], event: event.type });
    },
    result(index, r) {
      const { startSec, endSec, top, latencyMs, dropped, reconnects, decodeMs, inferenceMs } = r;
      print({ source: sources[index], startSec, endSec, top, latencyMs, dropped, reconnects, decodeMs, inferenceMs });
    },
    ended(index, { error }, stopped) {
      if (error === undefined) print({ source: sources[index], event: stopped ? 'stopped' : 'end' });
      else print({ source: sources[index], error: errorOf(error) });
    },
  };
}

function boardOutput(sources: string[]): WatchOutput {
  const board = new StatusBoard(process.stdout, sources);
  return {
    event(index, event) {
      // The source's 'end' may still be followed by results: the loop's end sets the line instead.
      if (event.type !== 'end') board.set(index, stateLine(sources[index], event.type as 'open' | 'reconnecting'));
    },
    result(index, r) {
      board.set(index, resultLine(sources[index], r));
    },
    ended(index, { error }, stopped) {
      const state = error !== undefined ? { failed: errorOf(error).message } : stopped ? 'stopped' : 'ended';
      board.set(index, stateLine(sources[index], state));
    },
  };
}

function parseWatch(argv: string[]) {
  const parsed = parseCommand(
    argv,
    {
      model: { type: 'string' },
      device: { type: 'string', default: 'cpu' },
      ...PRECISION_FLAGS,
      hop: { type: 'string' },
      average: { type: 'string' },
      threshold: { type: 'string' },
      topk: { type: 'string' },
      'clip-length': { type: 'string' },
      'frame-rate': { type: 'string' },
      realtime: { type: 'boolean', default: false },
      'stall-timeout': { type: 'string' },
      retries: { type: 'string' },
      threads: { type: 'string' },
      'max-batch': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    WATCH_USAGE,
  );
  if (parsed === 'help') return 'help';
  const { values, positionals } = parsed;
  if (positionals.length === 0) throw new RangeError(`expected at least one SOURCE (a file or a URL)\nUsage: ${WATCH_USAGE}`);
  const empty = positionals.find((source) => source.trim() === '');
  if (empty !== undefined) throw new RangeError(`expected each SOURCE to be a file or a URL, got '${empty}'`);
  requiredFlag(values.model, '--model MODEL.pt', WATCH_USAGE);
  const upTo = (value: number | undefined, flag: string, max: number) => {
    if (value !== undefined && value > max) throw new RangeError(`expected --${flag} to be at most ${max}, got '${values[flag as 'hop']}'`);
    return value;
  };
  const stallS = upTo(numberFlag(values['stall-timeout'], 'stall-timeout', { positive: false }), 'stall-timeout', MAX_STALL_S);
  const retries = integerFlag(values.retries, 'retries', 0);
  const stream: WatchStreamOptions = {
    hopSec: upTo(numberFlag(values.hop, 'hop', { positive: true, unit: 'seconds' }), 'hop', MAX_HOP_S),
    average: integerFlag(values.average, 'average', 1, MAX_AVERAGE),
    threshold: probabilityFlag(values.threshold, 'threshold'),
    topk: positiveIntegerFlag(values.topk, 'topk'),
    clipLength: integerFlag(values['clip-length'], 'clip-length', 1, MAX_CLIP_LENGTH),
    frameRate: upTo(
      numberFlag(values['frame-rate'], 'frame-rate', { positive: true, unit: 'frames per second' }),
      'frame-rate',
      MAX_FRAME_RATE,
    ),
    realtime: values.realtime,
    stallTimeoutMs: stallS === undefined ? undefined : Math.round(stallS * 1000),
    // --retries 0 turns reconnecting off; without the flag classifyStream's default holds.
    ...(retries === undefined ? {} : { reconnect: retries === 0 ? false : { retries } }),
  };
  return {
    sources: positionals,
    model: values.model,
    load: {
      device: values.device,
      precision: precisionFromFlags(values),
      threads: positiveIntegerFlag(values.threads, 'threads'),
    },
    maxBatch: integerFlag(values['max-batch'], 'max-batch', 1, MAX_BATCH),
    stream,
    json: values.json || !process.stdout.isTTY,
  };
}

/**
 * Watches the sources until they all end or a signal stops them; resolves to the exit code: 0 when every
 * source ended or a signal stopped the watch, 1 when any source failed (each failure on stderr, naming it).
 * @throws {RangeError} a bad or missing flag; {TypeError} an unknown one; what loading the model throws.
 */
export async function runWatch(argv: string[]): Promise<number> {
  const options = parseWatch(argv);
  if (options === 'help') return printUsage(WATCH_USAGE);
  // Caught from before the model loads: a signal during the load still ends the command cleanly.
  const stop = new StopOnSignals();
  try {
    return await watchAll(options, stop);
  } finally {
    stop.dispose();
  }
}

async function watchAll(options: Exclude<ReturnType<typeof parseWatch>, 'help'>, stop: StopOnSignals): Promise<number> {
  const model = await loadModel(options.model, options.load);
  const batcher = model.batcher({ maxBatchSize: options.maxBatch });
  // A URL's user:password is never printed.
  const sources = options.sources.map(redactSource);
  const output = options.json ? jsonOutput(sources) : boardOutput(sources);
  try {
    const watchOne = async (source: string, index: number): Promise<Outcome> => {
      const onEvent = (event: StreamEvent) => output.event(index, event);
      try {
        for await (const result of classifyStream(batcher, source, { ...options.stream, signal: stop.signal, onEvent })) {
          output.result(index, result);
        }
        output.ended(index, { source: sources[index] }, false);
        return { source: sources[index] };
      } catch (error) {
        // An abort is the watch being stopped, not the source failing.
        const outcome = stop.signal.aborted ? { source: sources[index] } : { source: sources[index], error };
        output.ended(index, outcome, stop.signal.aborted);
        if (options.json && outcome.error !== undefined) reportFailure(outcome);
        return outcome;
      }
    };
    const outcomes = await Promise.all(options.sources.map(watchOne));
    const failed = outcomes.filter((outcome) => outcome.error !== undefined);
    // On a terminal the board owns the screen until the end: the failures are said below it.
    if (!options.json) for (const outcome of failed) reportFailure(outcome);
    return failed.length > 0 ? 1 : 0;
  } finally {
    // Every loop has settled (Promise.all above): nothing is queued on the batcher any more.
    await batcher.close();
    model.dispose();
  }
}

function reportFailure({ source, error }: Outcome): void {
  const { code, message } = errorOf(error);
  process.stderr.write(`torchvideo watch: ${source}: ${message}${code ? ` (${code})` : ''}\n`);
}
