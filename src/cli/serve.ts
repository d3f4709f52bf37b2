// torchvideo serve --model M.pt [--model name=M.pt ...]: the HTTP inference service (src/serve/), until
// SIGTERM or SIGINT drains it.
import * as path from 'node:path';
import { createServer, type ServeModelSource } from '../serve/server';
import { integerFlag, numberFlag, parseCommand, positiveIntegerFlag, printUsage, requiredFlag } from './args';
import { PRECISION_FLAGS, PRECISION_USAGE, precisionFromFlags } from './precision-flag';
import { StopOnSignals } from './signals';

export const SERVE_USAGE = `torchvideo serve --model [NAME=]MODEL.pt [--model ...] [--device cpu|cuda|cuda:N]
                   ${PRECISION_USAGE}
                   [--host 127.0.0.1] [--port 8000 (0: any free port)] [--max-batch 32] [--max-delay-ms 0]
                   [--max-queue-clips 4*max-batch] [--max-body-mb 64] [--timeout-ms T] [--token-file FILE]
                   [--grace-s 30] [--max-streams 16] [--allow-file-sources]`;

// Model.batcher's limits (src/batcher.ts).
const MAX_BATCH = 4096;
const MAX_DELAY_MS = 60_000;
// Each live stream holds a decode thread and a ring of frames.
const MAX_STREAMS = 1024;

/**
 * A --model value: `name=path`, or a path whose file name without .pt is the name. A path may hold '='
 * itself: the text before the first '=' is a name only when it has no path separator.
 */
export function modelSource(value: string): ServeModelSource {
  const at = value.indexOf('=');
  const before = value.slice(0, at);
  if (at > 0 && !before.includes('/') && !before.includes(path.sep)) {
    const file = value.slice(at + 1);
    if (file === '') throw new RangeError(`expected --model NAME=PATH to name a file, got '${value}'`);
    return { name: before, path: file };
  }
  return { name: path.basename(value).replace(/\.(pt|pth|ts|torchscript)$/i, ''), path: value };
}

/**
 * Serves until SIGTERM or SIGINT, then drains (readiness false at once, new requests refused, those in
 * flight finished within --grace-s) and resolves to 0.
 * @throws {RangeError} a bad or missing flag; {TypeError} an unknown one; what loading a model or
 *   listening throws (the CLI reports it, exit 1).
 */
export async function runServe(argv: string[]): Promise<number> {
  const parsed = parseCommand(
    argv,
    {
      model: { type: 'string', multiple: true },
      device: { type: 'string', default: 'cpu' },
      ...PRECISION_FLAGS,
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      'max-batch': { type: 'string' },
      'max-delay-ms': { type: 'string' },
      'max-queue-clips': { type: 'string' },
      'max-body-mb': { type: 'string' },
      'timeout-ms': { type: 'string' },
      'token-file': { type: 'string' },
      'grace-s': { type: 'string' },
      'max-streams': { type: 'string' },
      'allow-file-sources': { type: 'boolean', default: false },
    },
    SERVE_USAGE,
  );
  if (parsed === 'help') return printUsage(SERVE_USAGE);
  const { values, positionals } = parsed;
  if (positionals.length > 0) throw new RangeError(`unexpected argument '${positionals[0]}'\nUsage: ${SERVE_USAGE}`);
  requiredFlag(values.model, '--model MODEL.pt', SERVE_USAGE);
  if (values.host === '') throw new RangeError(`expected --host to be an address, got ''`);
  const options = {
    models: values.model.map(modelSource),
    device: values.device,
    precision: precisionFromFlags(values),
    host: values.host,
    port: integerFlag(values.port, 'port', 0, 65535),
    maxBatch: integerFlag(values['max-batch'], 'max-batch', 1, MAX_BATCH),
    maxDelayMs: numberFlag(values['max-delay-ms'], 'max-delay-ms', { positive: false }),
    maxQueueClips: positiveIntegerFlag(values['max-queue-clips'], 'max-queue-clips'),
    maxBodyMb: numberFlag(values['max-body-mb'], 'max-body-mb', { positive: true, unit: 'MiB' }),
    timeoutMs: numberFlag(values['timeout-ms'], 'timeout-ms', { positive: true, unit: 'milliseconds' }),
    tokenFile: values['token-file'],
    graceS: numberFlag(values['grace-s'], 'grace-s', { positive: false }),
    maxStreams: integerFlag(values['max-streams'], 'max-streams', 0, MAX_STREAMS),
    allowFileSources: values['allow-file-sources'],
  };
  // The batcher's own bounds, said with the flags' names.
  const maxBatch = options.maxBatch ?? 32;
  if (options.maxQueueClips !== undefined && options.maxQueueClips < maxBatch) {
    throw new RangeError(`expected --max-queue-clips to be at least --max-batch (${maxBatch}), got ${options.maxQueueClips}`);
  }
  if (options.maxDelayMs !== undefined && options.maxDelayMs > MAX_DELAY_MS) {
    throw new RangeError(`expected --max-delay-ms to be at most ${MAX_DELAY_MS}, got '${values['max-delay-ms']}'`);
  }
  // Signals are caught from before the models load: a SIGTERM during a long load still drains cleanly.
  const stop = new StopOnSignals();
  try {
    const server = await createServer(options);
    console.log(`torchvideo serve: listening on ${server.address}`);
    if (!stop.signal.aborted) await new Promise((resolve) => stop.signal.addEventListener('abort', resolve, { once: true }));
    process.stderr.write(`torchvideo serve: ${stop.received ?? 'stop'} received, draining (up to ${options.graceS ?? 30} s)\n`);
    const cut = await server.close();
    if (cut > 0) process.stderr.write(`torchvideo serve: ${cut} requests were still running after --grace-s and were cancelled\n`);
    return 0;
  } finally {
    stop.dispose();
  }
}
