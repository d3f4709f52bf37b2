// torchvideo evaluate --model M.pt --data DIR|list.csv|list.txt [...]: an evaluation job from the shell,
// and torchvideo evaluate-merge a.json b.json ...: one report from the reports of a job's shards.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SingleBar } from 'cli-progress';
import { evaluate } from '../eval/evaluate';
import { reportToJson } from '../eval/report';
import type { EvaluationReport } from '../eval/types';
import { mergeEvaluations } from '../eval/merge';
import { parseShard } from '../eval/shard';
import { renderReportHtml } from '../eval/report-html';
import { writeFileAtomic } from '../common/atomic-file';
import { loadModel } from '../model';
import { ProcessGroup } from '../distributed/process-group';
import { choiceFlag, parseCommand, positiveIntegerFlag as positiveInteger, printUsage, requiredFlag } from './args';
import { DISTRIBUTED_FLAGS, DISTRIBUTED_USAGE, distributedFromFlags } from './distributed-flags';
import { PRECISION_FLAGS, PRECISION_USAGE, precisionFromFlags } from './precision-flag';
import { StopOnSignals } from './signals';

const EVALUATE_ONLY_USAGE = `torchvideo evaluate --model MODEL.pt --data DIR|list.csv|list.txt [--clips 5] [--crops 1|3] [--batch 8]
                   [--device cpu|cuda|cuda:N] ${PRECISION_USAGE} [--preprocess-on host|device] [--decode-threads N] [--shard INDEX/COUNT | --shard env [--shard-count N]]
                   [--short-videos pad|skip] [--out DIR (report.json, report.html)] [--resume] [--index-dir DIR] [--json] [--progress]
                   ${DISTRIBUTED_USAGE}`;
const MERGE_USAGE = 'torchvideo evaluate-merge REPORT.json... [--out DIR] [--json]';
export const EVALUATE_USAGE = `${EVALUATE_ONLY_USAGE}\n  ${MERGE_USAGE}`;

const percent = (x: number) => `${(x * 100).toFixed(2)}%`;

/** The summary table printed on stdout. */
function printSummary(report: EvaluationReport): void {
  const rows: [string, string][] = [
    ['network', `${report.model.arch} (${report.model.numClasses} classes, weights ${report.model.weights ?? 'unknown'})`],
    ['shard', `${report.shard.index}/${report.shard.count}`],
    ['videos', String(report.videos)],
    ['clips', String(report.clips)],
    ['clip acc@1', percent(report.clipAcc1)],
    ['clip acc@5', percent(report.clipAcc5)],
    ['video acc@1', percent(report.videoAcc1)],
    ['video acc@5', percent(report.videoAcc5)],
    ['mean class acc@1', percent(report.meanClassAcc1)],
    ['clips/s', report.clipsPerSec.toFixed(2)],
    ['failed', String(report.failed.length)],
    ['skipped', String(report.skipped.length)],
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  for (const [name, value] of rows) console.log(`${name.padEnd(width)}  ${value}`);
}

// report.json (evaluate() writes it itself; a merge writes its own) and the self-contained report.html.
async function writeReport(out: string | undefined, report: EvaluationReport, { json }: { json: boolean }): Promise<void> {
  if (out === undefined) return;
  fs.mkdirSync(out, { recursive: true });
  if (json) writeFileAtomic(path.join(out, 'report.json'), reportToJson(report));
  writeFileAtomic(path.join(out, 'report.html'), await renderReportHtml(report));
}

function finish(report: EvaluationReport, json: boolean): number {
  if (json) console.log(reportToJson(report));
  else printSummary(report);
  for (const failure of report.failed) process.stderr.write(`torchvideo: failed: ${failure.path}: ${failure.error}\n`);
  return 0;
}

/**
 * Runs an evaluation job; resolves to the exit code (0; 130 after SIGINT, 143 after SIGTERM, resumable with
 * --resume).
 * @throws {RangeError} a bad or missing flag; {TypeError} an unknown one; the job's own errors.
 */
export async function runEvaluate(argv: string[]): Promise<number> {
  const parsed = parseCommand(
    argv,
    {
      model: { type: 'string' },
      data: { type: 'string' },
      clips: { type: 'string' },
      crops: { type: 'string' },
      batch: { type: 'string' },
      'preprocess-on': { type: 'string' },
      'decode-threads': { type: 'string' },
      device: { type: 'string', default: 'cpu' },
      ...PRECISION_FLAGS,
      shard: { type: 'string' },
      'shard-count': { type: 'string' },
      'short-videos': { type: 'string' },
      out: { type: 'string' },
      'index-dir': { type: 'string' },
      resume: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      progress: { type: 'boolean', default: false },
      ...DISTRIBUTED_FLAGS,
    },
    EVALUATE_ONLY_USAGE,
  );
  if (parsed === 'help') return printUsage(EVALUATE_ONLY_USAGE);
  const { values, positionals } = parsed;
  if (positionals.length > 0) throw new RangeError(`unexpected argument '${positionals[0]}'\nUsage: ${EVALUATE_ONLY_USAGE}`);
  requiredFlag(values.model, '--model MODEL.pt', EVALUATE_ONLY_USAGE);
  requiredFlag(values.data, '--data DIR|list.csv|list.txt', EVALUATE_ONLY_USAGE);
  const shard = values.shard === undefined ? undefined : values.shard === 'env' ? 'env' : parseShard(values.shard);
  const shortVideos = choiceFlag(values['short-videos'], 'short-videos', ['pad', 'skip']);
  // Every flag is checked before the network loads.
  const clipsPerVideo = positiveInteger(values.clips, 'clips');
  const cropsText = choiceFlag(values.crops, 'crops', ['1', '3']);
  const crops = cropsText === undefined ? undefined : (Number(cropsText) as 1 | 3);
  const preprocessOn = choiceFlag(values['preprocess-on'], 'preprocess-on', ['host', 'device']);
  const decodeThreads = positiveInteger(values['decode-threads'], 'decode-threads');
  const precision = precisionFromFlags(values);
  const batchSize = positiveInteger(values.batch, 'batch');
  const shardCount = positiveInteger(values['shard-count'], 'shard-count');
  const { rank, distributed, rendezvous, distributedTimeoutMs } = distributedFromFlags(values);
  if (distributed && shard !== undefined)
    throw new RangeError('--shard and --distributed exclude each other: a distributed job shards by rank');
  // One process of a multi-process job: join first, so the network loads on this rank's device.
  const group = distributed
    ? await ProcessGroup.join(distributed, { ...rendezvous, device: values.device, timeoutMs: distributedTimeoutMs })
    : undefined;
  const quiet = rank > 0;
  const model = await loadModel(values.model, { device: group?.device ?? values.device, precision });
  // Ctrl-C or SIGTERM stops within one batch; what is in predictions.jsonl stays, so --resume continues the job.
  const stop = new StopOnSignals();
  const bar = new SingleBar({
    format: '[{bar}] {value}/{total} clips | {rate} clips/s | ETA {eta_formatted}',
    stream: process.stderr,
    noTTYOutput: values.progress,
    notTTYSchedule: 10_000,
    hideCursor: true,
  });
  let started = false;
  try {
    const report = await evaluate({
      model,
      data: values.data,
      clipsPerVideo,
      crops,
      batchSize,
      preprocessOn,
      decodeThreads,
      shard,
      shardCount,
      distributed: group,
      shortVideos,
      outDir: values.out,
      indexDir: values['index-dir'],
      resume: values.resume,
      signal: stop.signal,
      onProgress: ({ clipsDone, clipsTotal, clipsPerSec }) => {
        if (quiet) return;
        if (!started) bar.start(clipsTotal, 0, { rate: '0' });
        started = true;
        bar.update(clipsDone, { rate: clipsPerSec.toFixed(1) });
      },
    });
    bar.stop();
    // Every rank holds the job's report; rank 0 writes and prints it.
    if (quiet) return 0;
    await writeReport(values.out, report, { json: false });
    return finish(report, values.json);
  } catch (error) {
    bar.stop();
    if ((error as Error).name === 'AbortError') {
      process.stderr.write(`torchvideo: interrupted${values.out ? `; continue with --resume --out ${values.out}` : ''}\n`);
      return stop.exitCode;
    }
    throw error;
  } finally {
    stop.dispose();
    model.dispose();
    group?.dispose();
  }
}

/**
 * Merges shard reports into one; resolves to the exit code.
 * @throws {RangeError} no report given, or one that cannot be read; {TypeError} an unknown flag.
 */
export async function runEvaluateMerge(argv: string[]): Promise<number> {
  const parsed = parseCommand(argv, { out: { type: 'string' }, json: { type: 'boolean', default: false } }, MERGE_USAGE);
  if (parsed === 'help') return printUsage(MERGE_USAGE);
  const { values, positionals } = parsed;
  if (positionals.length === 0) throw new RangeError(`expected the report.json files of the shards\nUsage: ${MERGE_USAGE}`);
  const parts = positionals.map((file, i) => {
    try {
      return JSON.parse(fs.readFileSync(file, 'utf8')) as EvaluationReport;
    } catch (error) {
      throw new RangeError(`cannot read report ${i + 1} '${file}': ${(error as Error).message}`, { cause: error });
    }
  });
  const merged = mergeEvaluations(parts);
  await writeReport(values.out, merged, { json: true });
  return finish(merged, values.json);
}
