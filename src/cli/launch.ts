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
import { integerFlag, parseCommand, portFlag, printUsage } from './args';
import { launcherEnvironment } from './launcher-watch';

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
  const parsed = parseCommand(
    split < 0 ? argv : argv.slice(0, split),
    { nproc: { type: 'string' }, 'master-addr': { type: 'string', default: '127.0.0.1' }, 'master-port': { type: 'string' } },
    LAUNCH_USAGE,
  );
  if (parsed === 'help') return 'help';
  const { values, positionals } = parsed;
  if (positionals.length > 0) {
    throw usageError(`unexpected argument '${positionals[0]}' (the command to run goes after --, e.g. -- finetune ...)`);
  }
  if (values.nproc === undefined) throw usageError('expected --nproc N (the number of ranks to start)');
  const nproc = integerFlag(values.nproc, 'nproc', 1, MAX_NPROC) as number;
  const masterPort = portFlag(values['master-port'], 'master-port');
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

/**
 * Starts the ranks and resolves to the launcher's exit code once every rank has exited.
 * `script` replaces the CLI as what each rank runs: only tests pass it (test/fixtures/launch-entry.js,
 * so test/launch.test.js checks the environment, output and signals with a tiny script and no addon); the
 * published command has no way to set it, so `torchvideo launch` always runs torchvideo.
 * @throws {RangeError} a bad --nproc, --master-addr or --master-port, or no command after --.
 * @throws {TypeError} an unknown flag, or a flag without its value.
 */
export async function runLaunch(
  argv: string[],
  { script = path.join(__dirname, '..', 'cli.js') }: { script?: string } = {},
): Promise<number> {
  const parsed = parseCommandLine(argv);
  if (parsed === 'help') return printUsage(LAUNCH_USAGE);
  const { nproc, masterAddr, command } = parsed;
  const masterPort = parsed.masterPort ?? (await freePort());
  const runId = randomBytes(8).toString('hex');

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
  // If this process ends first (an uncaught error), the ranks must not outlive it: they run in their own
  // process groups, where nothing else would stop them. (A SIGKILL skips this: their watch pipe covers it.)
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
        // The fourth pipe is the rank's watch on this process (launcher-watch.ts): it is never written, and
        // its end here closes when this process ends, however it ends (SIGKILL too), and the rank stops.
        const child = spawn(process.execPath, [script, ...command], {
          env: { ...torchrunEnvironment({ rank, worldSize: nproc, masterAddr, masterPort, runId }), ...launcherEnvironment() },
          stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
          detached: true,
        });
        children.push(child);
        running.add(rank);
        prefixLines(child.stdout!, process.stdout, `[rank ${rank}] `);
        prefixLines(child.stderr!, process.stderr, `[rank ${rank}] `);
        const watch = child.stdio[3] as NodeJS.ReadableStream | null;
        watch?.on('error', () => {}); // the rank's end closing early is not our failure
        watch?.resume(); // read to its end (the rank's exit), so 'close' can follow
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
