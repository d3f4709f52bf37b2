// torchvideo classify <video...> --model M.pt [--device cuda:0] [--precision fp32|fp16|bf16|int8] [--clips 5] [--topk 5] [--json]
import { classifyVideos, type VideoResult } from '../classify';
import { loadModel, type Model } from '../model';
import { parseCommand, positiveIntegerFlag as positiveInteger, printUsage } from './args';
import { PRECISION_FLAGS, PRECISION_USAGE, precisionFromFlags } from './precision-flag';
import { ProgressBar } from './progress';

export const CLASSIFY_USAGE = `torchvideo classify <video...> --model MODEL.pt [--device cpu|cuda|cuda:N]
                   ${PRECISION_USAGE}
                   [--clips 5] [--topk 5] [--batch-size N] [--json] [--progress]`;

function printTable(result: VideoResult, elapsedMs: number): void {
  console.log(`\n${result.path}  (${result.clips} clips, ${elapsedMs.toFixed(0)} ms)`);
  for (const [rank, p] of (result.top ?? []).entries()) {
    console.log(`  ${String(rank + 1).padStart(2)}. ${p.label.padEnd(40)} ${(p.score * 100).toFixed(2).padStart(6)}%`);
  }
}

/**
 * Classifies videos with a model; resolves to the exit code (1 if any video failed).
 * @throws {RangeError} a bad or missing flag; {TypeError} an unknown one; {TorchVideoError} the model's load.
 */
export async function runClassify(argv: string[], { modelOverride }: { modelOverride?: Model } = {}): Promise<number> {
  const parsed = parseCommand(
    argv,
    {
      model: { type: 'string' },
      device: { type: 'string', default: 'cpu' },
      ...PRECISION_FLAGS,
      clips: { type: 'string' },
      topk: { type: 'string' },
      'batch-size': { type: 'string' },
      json: { type: 'boolean', default: false },
      progress: { type: 'boolean', default: false },
    },
    CLASSIFY_USAGE,
  );
  if (parsed === 'help') return printUsage(CLASSIFY_USAGE);
  const { values, positionals } = parsed;
  if (positionals.length === 0) throw new RangeError(`expected at least one video path\nUsage: ${CLASSIFY_USAGE}`);
  if (!values.model && !modelOverride) throw new RangeError(`expected --model MODEL.pt\nUsage: ${CLASSIFY_USAGE}`);
  const precision = precisionFromFlags(values);
  const model = modelOverride ?? (await loadModel(values.model as string, { device: values.device, precision }));
  const options = {
    clipsPerVideo: positiveInteger(values.clips, 'clips'),
    topk: positiveInteger(values.topk, 'topk'),
    batchSize: positiveInteger(values['batch-size'], 'batch-size'),
  };
  const progress = new ProgressBar(positionals.length, { force: values.progress });
  const showProgress = positionals.length > 1 || values.progress;
  let failures = 0;
  let last = performance.now();
  for await (const result of classifyVideos(model, positionals, options)) {
    const now = performance.now();
    const elapsedMs = now - last;
    last = now;
    if (result.error) {
      failures++;
      const code = (result.error as { code?: string }).code;
      progress.log(`torchvideo: ${result.path}: ${result.error.message}${code ? ` (${code})` : ''}`);
    }
    if (values.json) {
      const error = result.error ? { message: result.error.message, code: (result.error as { code?: string }).code } : undefined;
      console.log(JSON.stringify({ path: result.path, top: result.top, clips: result.clips, ms: Math.round(elapsedMs), error }));
    } else if (!result.error) {
      printTable(result, elapsedMs);
    }
    if (showProgress) progress.tick(Boolean(result.error));
  }
  if (!modelOverride) model.dispose();
  if (failures > 0) process.stderr.write(`torchvideo: ${failures} of ${positionals.length} videos failed\n`);
  return failures > 0 ? 1 : 0;
}
