// torchvideo launch --nproc N -- finetune ... : torchrun's job on one machine, without Python. Starts N
// copies of `torchvideo <command>` with the environment torchrun gives its workers (RANK, LOCAL_RANK,
// WORLD_SIZE, MASTER_ADDR, MASTER_PORT, TORCHELASTIC_*), prefixes their output with the rank, and stops the
// whole job when one rank fails, as torchrun does: a rank that dies would leave the others waiting in an
// allreduce until the distributed timeout.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { freePort } from '../distributed/free-port';
import { torchrunEnvironment } from '../distributed/torchrun-env';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

export const LAUNCH_USAGE = `torchvideo launch --nproc N [--master-addr 127.0.0.1] [--master-port P] -- COMMAND [ARGS...]
                   run N ranks of \`torchvideo COMMAND\` on this machine (e.g. -- finetune ... --distributed)`;

/** More ranks than this on one machine is a typo, not a job. */
const MAX_NPROC = 1024;
/** torchrun's grace between SIGTERM and SIGKILL when it stops the survivors of a failed rank. */
const KILL_GRACE_MS = 10_000;
/** Signals forwarded to the ranks, and the launcher's exit code after them (128 + number). */
const FORWARDED = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
type Forwarded = keyof typeof FORWARDED;

interface LaunchOptions {
  nproc: number;
  masterAddr: string;
  masterPort: number | undefined;
  command: string[];
}

const usageError = (message: string) => new RangeError(`${message}\nUsage: ${LAUNCH_USAGE}`);

function parseCommandLine(argv: string[]): LaunchOptions | 'help' {
  // Everything after the first `--` belongs to the ranks: their flags must not meet this parser.
  const split = argv.indexOf('--');
  const own = split < 0 ? argv : argv.slice(0, split);
  let parsed;
  try {
    parsed = parseArgs({
      args: own,
      allowPositionals: true,
      options: {
        nproc: { type: 'string' },
        'master-addr': { type: 'string', default: '127.0.0.1' },
        'master-port': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    // parseArgs' own TypeError (an unknown flag, a flag without its value), with the usage.
    const wrapped = new TypeError(`${(error as Error).message}\nUsage: ${LAUNCH_USAGE}`, { cause: error });
    (wrapped as TypeError & { code?: string }).code = (error as { code?: string }).code;
    throw wrapped;
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  if (positionals.length > 0) {
    throw usageError(`unexpected argument '${positionals[0]}' (the command to run goes after --, e.g. -- finetune ...)`);
  }
  if (values.nproc === undefined) throw usageError('expected --nproc N (the number of ranks to start)');
  const nproc = /^\d+$/.test(values.nproc) ? Number(values.nproc) : NaN;
  if (!Number.isSafeInteger(nproc) || nproc < 1) throw new RangeError(`expected --nproc to be an integer >= 1, got '${values.nproc}'`);
  if (nproc > MAX_NPROC) throw new RangeError(`expected --nproc to be at most ${MAX_NPROC} (ranks on this machine), got '${values.nproc}'`);
  let masterPort: number | undefined;
  if (values['master-port'] !== undefined) {
    masterPort = /^\d+$/.test(values['master-port']) ? Number(values['master-port']) : NaN;
    if (!(masterPort >= 1 && masterPort <= 65535)) {
      throw new RangeError(`expected --master-port to be a TCP port (1-65535), got '${values['master-port']}'`);
    }
  }
  const masterAddr = values['master-addr'];
  if (masterAddr.trim() === '') throw new RangeError("expected --master-addr to be a host name or address, got ''");
  if (split < 0) throw usageError('expected -- and the torchvideo command each rank runs (e.g. -- finetune ... --distributed)');
  const command = argv.slice(split + 1);
  if (command.length === 0)
    throw usageError('expected the torchvideo command each rank runs after -- (e.g. -- finetune ... --distributed)');
  return { nproc, masterAddr, masterPort, command };
}

/** Copies a rank's stream to ours a whole line at a time, each line prefixed, so ranks never interleave mid-line. */
function prefixLines(from: NodeJS.ReadableStream, to: NodeJS.WritableStream, prefix: string): void {
  const head = Buffer.from(prefix);
  let pending: Buffer = Buffer.alloc(0);
  from.on('data', (chunk: Buffer) => {
    // Splitting bytes at '\n' is safe for UTF-8: the byte 0x0a is never part of a multi-byte character.
    let data = pending.length > 0 ? Buffer.concat([pending, chunk]) : chunk;
    const last = data.lastIndexOf(10);
    if (last >= 0) {
      const lines: Buffer[] = [];
      for (let start = 0; start <= last;) {
        const end = data.indexOf(10, start);
        lines.push(head, data.subarray(start, end + 1));
        start = end + 1;
      }
      to.write(Buffer.concat(lines));
      data = data.subarray(last + 1);
    }
    pending = Buffer.from(data); // a copy: the chunk's memory is not ours to keep
  });
  from.on('end', () => {
    // A last line without its newline (a rank that died mid-write) still gets out, completed.
    if (pending.length > 0) to.write(Buffer.concat([head, pending, Buffer.from('\n')]));
    pending = Buffer.alloc(0);
  });
}

/** Starts the ranks and resolves to the launcher's exit code once every rank has exited. */
export async function runLaunch(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(argv);
  if (parsed === 'help') {
    process.stdout.write(`Usage: ${LAUNCH_USAGE}\n`);
    return 0;
  }
  const { nproc, masterAddr, command } = parsed;
  const masterPort = parsed.masterPort ?? (await freePort());
  const runId = randomBytes(8).toString('hex');
  // Test hook: TORCHVIDEO_LAUNCH_SCRIPT runs `node $TORCHVIDEO_LAUNCH_SCRIPT ARGS...` in place of the CLI, so
  // test/launch.test.js can check the environment, output and signals with a tiny script and no addon.
  const script = process.env.TORCHVIDEO_LAUNCH_SCRIPT || path.join(__dirname, '..', 'cli.js');

  const children: ChildProcess[] = [];
  const running = new Set<number>();
  let firstFailure: { rank: number; code: number; message: string } | undefined;
  let signalled: Forwarded | undefined;
  let killTimer: NodeJS.Timeout | undefined;

  const signalAll = (signal: NodeJS.Signals) => {
    for (const rank of running) children[rank].kill(signal);
  };
  const onSignal = (signal: Forwarded) => {
    // Each signal is passed on as it comes: the first asks the ranks to stop after a checkpoint, a second
    // (Ctrl-C twice) meets no handler in them and stops them at once.
    signalled ??= signal;
    signalAll(signal);
  };
  const handlers = Object.keys(FORWARDED).map((signal) => {
    const handler = () => onSignal(signal as Forwarded);
    process.on(signal, handler);
    return [signal, handler] as const;
  });
  // If this process ends first (process.exit on EPIPE, an uncaught error), the ranks must not outlive it:
  // they run in their own process groups, where nothing else would stop them.
  const onExit = () => signalAll('SIGTERM');
  process.on('exit', onExit);

  const failed = (rank: number, code: number, message: string) => {
    if (firstFailure !== undefined || signalled !== undefined) return;
    firstFailure = { rank, code, message };
    process.stderr.write(`torchvideo launch: ${message}\n`);
    // torchrun's way: SIGTERM to the survivors, SIGKILL to those still there after the grace.
    signalAll('SIGTERM');
    killTimer = setTimeout(() => signalAll('SIGKILL'), KILL_GRACE_MS);
  };

  try {
    await new Promise<void>((resolve) => {
      for (let rank = 0; rank < nproc; rank++) {
        // detached: each rank in its own process group, so the terminal's Ctrl-C reaches only the launcher,
        // which passes it on once (a rank that got it twice would skip its checkpoint and die).
        const child = spawn(process.execPath, [script, ...command], {
          env: torchrunEnvironment({ rank, worldSize: nproc, masterAddr, masterPort, runId }),
          stdio: ['ignore', 'pipe', 'pipe'],
          detached: true,
        });
        children.push(child);
        running.add(rank);
        prefixLines(child.stdout!, process.stdout, `[rank ${rank}] `);
        prefixLines(child.stderr!, process.stderr, `[rank ${rank}] `);
        child.on('error', (error) => {
          // Only a failed spawn (no 'exit' follows) or a failed kill; the latter is harmless.
          if (child.pid !== undefined) return;
          failed(rank, 1, `rank ${rank} could not start: ${error.message}`);
          if (running.delete(rank) && running.size === 0) resolve();
        });
        child.on('exit', (code, signal) => {
          if (signal !== null) failed(rank, 128 + (os.constants.signals[signal] ?? 0), `rank ${rank} was killed by ${signal}`);
          else if (code !== 0) failed(rank, code ?? 1, `rank ${rank} exited with code ${code}`);
        });
        // 'close' comes after 'exit' and the end of the rank's output: nothing is lost when we return.
        child.on('close', () => {
          if (running.delete(rank) && running.size === 0) resolve();
        });
      }
    });
  } finally {
    clearTimeout(killTimer);
    for (const [signal, handler] of handlers) process.removeListener(signal, handler);
    process.removeListener('exit', onExit);
  }
  if (signalled !== undefined) return FORWARDED[signalled];
  return firstFailure?.code ?? 0;
}
