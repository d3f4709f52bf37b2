// torchvideo finetune --model M.pt --train DATA --val DATA --out DIR [...]: fineTune() from the shell. A
// progress bar per epoch on stderr, a line per epoch on stdout, where the outputs are at the end; Ctrl-C or
// SIGTERM stop within one step after a checkpoint (exit 130 or 143), and --resume continues from it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SingleBar } from 'cli-progress';
import { TorchVideoError } from '../errors';
import { fineTune } from '../train/fine-tune';
import type { FineTuneEpoch, FineTuneOptions } from '../train/fine-tune/types';
import {
  integerFlag as integer,
  numberFlag as number,
  parseCommand,
  printUsage,
  probabilityFlag as probability,
  requiredFlag,
} from './args';
import { DISTRIBUTED_FLAGS, DISTRIBUTED_USAGE, distributedFromFlags } from './distributed-flags';
import { StopOnSignals } from './signals';

export const FINETUNE_USAGE = `torchvideo finetune --model MODEL.pt --train DIR|list --val DIR|list --out DIR [--epochs 45] [--batch 16] [--lr 0.01]
                   [--device cpu|cuda|cuda:N] [--amp] [--freeze-backbone] [--clips 5] [--clip-length 16] [--frame-rate 15]
                   [--warmup-epochs 10] [--hflip-prob 0.5] [--seed N] [--checkpoint-every N] [--resume] [--index-dir DIR] [--json] [--progress]
                   ${DISTRIBUTED_USAGE}`;

const DEVICE_PATTERN = /^(cpu|cuda(:\d{1,3})?)$/;
const percent = (x: number) => `${(x * 100).toFixed(2)}%`;
const rate = (lr: number) => String(Number(lr.toPrecision(4)));

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  return s >= 3600
    ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
    : s >= 60
      ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
      : `${s}s`;
}

/** The stdout line of an epoch (numbered from 1, as the bar does; history.jsonl counts from 0). */
function epochLine(entry: FineTuneEpoch, epochs: number): string {
  return (
    `epoch ${entry.epoch + 1}/${epochs}  train loss ${entry.trainLoss.toFixed(4)}  train acc@1 ${percent(entry.trainAcc1)}` +
    `  val clip acc@1 ${percent(entry.valClipAcc1)}  val video acc@1 ${percent(entry.valVideoAcc1)}  lr ${rate(entry.lr)}`
  );
}

const OPTIONS = {
  model: { type: 'string' },
  train: { type: 'string' },
  val: { type: 'string' },
  out: { type: 'string' },
  epochs: { type: 'string' },
  batch: { type: 'string' },
  lr: { type: 'string' },
  device: { type: 'string', default: 'cpu' },
  amp: { type: 'boolean', default: false },
  'freeze-backbone': { type: 'boolean', default: false },
  clips: { type: 'string' },
  'clip-length': { type: 'string' },
  'frame-rate': { type: 'string' },
  'warmup-epochs': { type: 'string' },
  'hflip-prob': { type: 'string' },
  seed: { type: 'string' },
  'checkpoint-every': { type: 'string' },
  resume: { type: 'boolean', default: false },
  'index-dir': { type: 'string' },
  json: { type: 'boolean', default: false },
  progress: { type: 'boolean', default: false },
  ...DISTRIBUTED_FLAGS,
} as const;

/** Parses and checks the whole command line; nothing is loaded or written. */
function parseCommandLine(argv: string[]): { options: FineTuneOptions; json: boolean; progress: boolean; rank: number } | 'help' {
  const parsed = parseCommand(argv, OPTIONS, FINETUNE_USAGE);
  if (parsed === 'help') return 'help';
  const { values, positionals } = parsed;
  if (positionals.length > 0) throw new RangeError(`unexpected argument '${positionals[0]}'\nUsage: ${FINETUNE_USAGE}`);
  requiredFlag(values.model, '--model MODEL.pt (the export to start from)', FINETUNE_USAGE);
  requiredFlag(values.train, '--train DIR|list (the training set)', FINETUNE_USAGE);
  requiredFlag(values.val, '--val DIR|list (the validation set)', FINETUNE_USAGE);
  requiredFlag(values.out, '--out DIR (checkpoints, model.pt, best.pt, history, curves)', FINETUNE_USAGE);
  const device = values.device;
  if (!DEVICE_PATTERN.test(device)) throw new RangeError(`expected --device to be cpu, cuda or cuda:N, got '${device}'`);
  if (values.amp && device === 'cpu') {
    throw new RangeError('expected --amp to be used with --device cuda or cuda:N (mixed precision is float16 autocast on CUDA)');
  }
  const { rank, distributedTimeoutMs, ...distributed } = distributedFromFlags(values);
  const options: FineTuneOptions = {
    ...distributed,
    timeoutMs: distributedTimeoutMs,
    model: values.model,
    train: values.train,
    val: values.val,
    outDir: values.out,
    epochs: integer(values.epochs, 'epochs', 1),
    batchSize: integer(values.batch, 'batch', 1),
    lr: number(values.lr, 'lr', { positive: false }),
    device,
    amp: values.amp,
    freezeBackbone: values['freeze-backbone'],
    clipsPerVideo: integer(values.clips, 'clips', 1),
    clipLength: integer(values['clip-length'], 'clip-length', 1),
    frameRate: number(values['frame-rate'], 'frame-rate', { positive: true }),
    warmupEpochs: integer(values['warmup-epochs'], 'warmup-epochs', 0),
    hflipProb: probability(values['hflip-prob'], 'hflip-prob'),
    seed: integer(values.seed, 'seed', 0),
    checkpointEvery: integer(values['checkpoint-every'], 'checkpoint-every', 1),
    resume: values.resume,
    indexDir: values['index-dir'],
  };
  for (const key of Object.keys(options) as (keyof FineTuneOptions)[]) if (options[key] === undefined) delete options[key];
  // The files the run needs, before any dataset is indexed or network loaded.
  for (const [flag, file] of [
    ['model', values.model],
    ['train', values.train],
    ['val', values.val],
  ]) {
    if (!fs.existsSync(file)) {
      const error = new TorchVideoError(`--${flag}: no such file or folder '${file}'`, 'ERR_FILE_NOT_FOUND');
      error.path = file;
      throw error;
    }
  }
  if (fs.existsSync(values.out) && !fs.statSync(values.out).isDirectory()) {
    throw new RangeError(`expected --out to be a folder, got the file '${values.out}'`);
  }
  return { options, json: values.json, progress: values.progress, rank };
}

/**
 * Runs a fine-tuning job; resolves to the exit code (0; 130 after SIGINT, 143 after SIGTERM, resumable with
 * --resume).
 * @throws {RangeError} a bad or missing flag; {TypeError} an unknown one; {TorchVideoError} a missing file,
 *   and the job's own errors.
 */
export async function runFinetune(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(argv);
  if (parsed === 'help') return printUsage(FINETUNE_USAGE);
  const { options, json, progress, rank } = parsed;
  // In a multi-process job rank 0 speaks for the job; the other ranks report only their errors.
  const quiet = rank > 0;
  const outDir = options.outDir;
  const epochs = options.epochs ?? 45;
  const historyFile = path.join(outDir, 'history.jsonl');
  let printed = -1; // the last epoch whose line is on stdout

  // An epoch's line is printed when fineTune reports the epoch done (onEpoch); epochs of an earlier run
  // that this one resumes are not repeated.
  const printEpochs = (history: FineTuneEpoch[]) => {
    for (const entry of history) {
      if (entry.epoch <= printed) continue;
      printed = entry.epoch;
      if (!json && !quiet) console.log(epochLine(entry, epochs));
    }
  };

  const stop = new StopOnSignals();
  const showBar = !quiet && (progress || Boolean(process.stderr.isTTY));
  const bar = new SingleBar({
    format: 'epoch {epoch}/{epochs} [{bar}] {value}/{total} batches | loss {loss} | lr {lr} | {rate} clips/s | ETA {left}',
    stream: process.stderr,
    noTTYOutput: progress,
    notTTYSchedule: 10_000,
    hideCursor: true,
  });
  let barEpoch = -1;
  const stopBar = () => {
    if (barEpoch < 0) return;
    bar.stop();
    barEpoch = -1;
  };
  try {
    const result = await fineTune({
      ...options,
      signal: stop.signal,
      onEpoch: (entry) => {
        stopBar();
        printEpochs([entry]);
      },
      onProgress: (p) => {
        if (quiet) return;
        const payload = { epoch: p.epoch + 1, epochs: p.epochs, loss: p.loss.toFixed(4), lr: rate(p.lr), rate: p.clipsPerSec.toFixed(1) };
        if (p.epoch !== barEpoch) {
          stopBar();
          bar.start(p.batches, p.batch, { ...payload, left: duration(p.etaSec) });
          barEpoch = p.epoch;
        } else {
          bar.update(p.batch, { ...payload, left: duration(p.etaSec) });
        }
        if (p.batch === p.batches) {
          stopBar();
          if (showBar) process.stderr.write(`validating epoch ${p.epoch + 1}/${p.epochs}...\n`);
        }
      },
    });
    stopBar();
    // Epochs no onEpoch reported in this process (a resumed run's earlier ones), after this run's.
    printEpochs(result.history);
    const files = {
      model: result.final.path,
      best: result.best?.path ?? null,
      history: path.resolve(historyFile),
      curves: path.resolve(outDir, 'curves.svg'),
    };
    if (quiet) {
      // Rank 0 prints the job's outcome.
    } else if (json) {
      console.log(JSON.stringify({ history: result.history, best: result.best, files }, null, 2));
    } else {
      console.log(`model    ${files.model} (+ model.json): after the last epoch`);
      if (result.best) {
        console.log(
          `best     ${result.best.path} (+ best.json): epoch ${result.best.epoch + 1}, val video acc@1 ${percent(result.best.valVideoAcc1)}`,
        );
      }
      console.log(`history  ${files.history}`);
      console.log(`curves   ${files.curves}`);
    }
    return 0;
  } catch (error) {
    stopBar();
    if ((error as Error).name === 'AbortError') {
      if (!quiet) process.stderr.write(`torchvideo: interrupted; continue from the last checkpoint with --resume --out ${outDir}\n`);
      return stop.exitCode;
    }
    throw error;
  } finally {
    stop.dispose();
  }
}
