// A process group of a multi-process job, on PyTorch's own collective engine (c10d: Gloo on CPU, NCCL on
// CUDA where the LibTorch has it; cpp/distributed/group.h). Joining resolves the rendezvous from the
// launcher's environment (rendezvous.ts) and waits for every rank. Every collective must be called by
// every rank, in the same order.
import * as os from 'node:os';
import { abortable, checkSignal } from '../abort';
import { optionWithAlias } from '../deprecated';
import { TorchVideoError, withCallSite } from '../errors';
import { native, type NativeProcessGroup } from '../native';
import { checkInteger, checkOptions, expectType } from '../validate';
import { resolveRendezvous, type ExplicitRendezvous, type Rendezvous } from './rendezvous';

/** How long joining and each collective wait for the other ranks by default: 5 minutes. */
export const DEFAULT_DISTRIBUTED_TIMEOUT_MS = 5 * 60 * 1000;

/**
 * A job's `timeoutMs` option (evaluate's and fineTune's), or its deprecated name `distributedTimeoutMs`:
 * how long a rank waits for the others, an integer >= 1 ms (default DEFAULT_DISTRIBUTED_TIMEOUT_MS).
 */
export function jobTimeoutMs(opts: Record<string, unknown>): number {
  return checkInteger(
    optionWithAlias(opts, 'timeoutMs', 'distributedTimeoutMs', 'TORCHVIDEO_DEP_DISTRIBUTED_TIMEOUT', 'options'),
    'options.timeoutMs',
    DEFAULT_DISTRIBUTED_TIMEOUT_MS,
    { min: 1 },
  );
}

export type DistributedSpec = 'env' | ExplicitRendezvous;

export type DistributedBackend = 'gloo' | 'nccl';
const BACKENDS: readonly DistributedBackend[] = ['gloo', 'nccl'];

export interface JoinOptions {
  /** The job's device ('cpu', 'cuda' or 'cuda:N'): NCCL carries CUDA tensors where built with it, else Gloo. */
  device?: string;
  /**
   * The collective engine: 'nccl' (CUDA tensors; one GPU per rank) or 'gloo' (CPU and CUDA tensors, so
   * ranks may share a GPU). Default: NCCL on a CUDA device where this build has it, else Gloo.
   */
  backend?: DistributedBackend;
  /** Joining and each collective fail with ERR_DISTRIBUTED after this long (default 5 min). */
  timeoutMs?: number;
  /** For a Kubernetes Indexed Job, whose environment gives only the index. */
  worldSize?: number;
  masterAddr?: string;
  masterPort?: number;
  /** Aborts the join: rejects at once with the signal's reason; a group made after the abort is disposed. */
  signal?: AbortSignal;
}

/**
 * The device a rank uses: 'cuda' becomes cuda:<localRank> (one GPU per local rank, as torchrun lays them
 * out), modulo the GPUs this process sees (a launcher that binds one GPU to each task shows it cuda:0,
 * as torchvision's reference script handles it).
 */
export function rankDevice(device: string, localRank: number, visibleGpus = native.cudaDeviceCount()): string {
  if (device !== 'cuda') return device;
  return `cuda:${visibleGpus > 0 ? localRank % visibleGpus : localRank}`;
}

/** The cores of this machine that are a CPU rank's: all of them split between its local ranks (LOCAL_WORLD_SIZE). */
export function rankCores(env: Record<string, string | undefined> = process.env): number {
  const local = Number(env.LOCAL_WORLD_SIZE);
  return Math.max(1, Math.floor(os.availableParallelism() / (Number.isInteger(local) && local >= 1 ? local : 1)));
}

/**
 * The intra-op threads of a CPU rank: OMP_NUM_THREADS when the launcher set it (torchrun and
 * `torchvideo launch` do), else the machine's cores split between its local ranks (LOCAL_WORLD_SIZE).
 */
export function rankThreads(env: Record<string, string | undefined> = process.env): number {
  const omp = Number(env.OMP_NUM_THREADS);
  if (Number.isInteger(omp) && omp >= 1) return omp;
  return rankCores(env);
}

export class ProcessGroup {
  readonly rendezvous: Rendezvous;
  readonly device: string;
  #native: NativeProcessGroup | undefined;

  private constructor(handle: NativeProcessGroup, rendezvous: Rendezvous, device: string) {
    this.#native = handle;
    this.rendezvous = rendezvous;
    this.device = device;
  }

  /** True when this build has c10d (it needs Gloo's or NCCL's headers at build time: libgloo-dev, nccl.h). */
  static get available(): boolean {
    return native.ProcessGroup.available;
  }

  /** The engines this build has: 'gloo' (CPU and CUDA tensors), 'nccl' (CUDA). */
  static get backends(): DistributedBackend[] {
    return BACKENDS.filter((name) => (name === 'gloo' ? native.ProcessGroup.glooAvailable : native.ProcessGroup.ncclAvailable));
  }

  /**
   * Joins the job described by `spec` ('env': torchrun, Slurm or a Kubernetes Indexed Job; or explicit
   * { rank, worldSize, masterAddr, masterPort }). Rank 0 hosts the store unless a launcher's agent does.
   * @throws RangeError / TypeError (rejects) for a rendezvous that is missing or wrong, naming it.
   * @throws TorchVideoError (rejects) ERR_DISTRIBUTED when a rank does not come within the timeout, or the
   *   address cannot be reached; also when this build has no distributed support.
   * @throws AbortError (rejects; the signal's reason) when options.signal aborts before the group is ready
   *   (a rendezvous already under way is not interrupted: the group it makes is disposed).
   */
  static async join(spec: DistributedSpec, options: JoinOptions = {}, env = process.env): Promise<ProcessGroup> {
    const callSite = new Error();
    const opts = checkOptions(options) as JoinOptions;
    const timeoutMs = checkInteger(opts.timeoutMs, 'options.timeoutMs', DEFAULT_DISTRIBUTED_TIMEOUT_MS, { min: 1, max: 7 * 24 * 3600e3 });
    const signal = checkSignal(opts.signal);
    const device = opts.device ?? 'cpu';
    expectType(typeof device === 'string', 'options.device', 'a string', device);
    const backend = opts.backend;
    if (backend !== undefined && !BACKENDS.includes(backend)) {
      throw new RangeError(`expected options.backend to be 'gloo' or 'nccl', got ${JSON.stringify(backend)}`);
    }
    if (backend === 'nccl' && !device.startsWith('cuda')) {
      throw new RangeError(`options.backend 'nccl' carries CUDA tensors only: the device is '${device}'`);
    }
    const rendezvous = resolveRendezvous(spec, opts, env);
    const rankDeviceName = rankDevice(device, rendezvous.localRank);
    const create = abortable(
      signal,
      (cancel) => native.ProcessGroup.create({ ...rendezvous, timeoutMs, device: rankDeviceName, backend, ...(cancel ? { cancel } : {}) }),
      (dropped) => dropped.dispose(),
    );
    const handle = await withCallSite(create, callSite);
    // The rank that opens a network-facing socket says so, where and why, on stderr: c10d's store and
    // Gloo are unauthenticated (README, "Security").
    if (handle.exposure !== '') process.stderr.write(`torchvideo: rank ${rendezvous.rank}: ${handle.exposure}\n`);
    return new ProcessGroup(handle, rendezvous, rankDeviceName);
  }

  #handle(): NativeProcessGroup {
    if (!this.#native) throw new TorchVideoError('the process group has left the job (dispose() was called)', 'ERR_DISPOSED');
    return this.#native;
  }

  get rank(): number {
    return this.rendezvous.rank;
  }

  get worldSize(): number {
    return this.rendezvous.worldSize;
  }

  get localRank(): number {
    return this.rendezvous.localRank;
  }

  /** 'gloo' or 'nccl'. */
  get backend(): string {
    return this.#handle().backend;
  }

  /** The element-wise sums of every rank's `values` (the same length on every rank). */
  async allreduceSum(values: number[], what = 'allreduce'): Promise<number[]> {
    const callSite = new Error();
    return Array.from(await withCallSite(this.#handle().allreduceSum(Float64Array.from(values), what), callSite));
  }

  /** Every rank's `value` (JSON-serialisable), in rank order. */
  async allgather<T>(value: T, what = 'allgather'): Promise<T[]> {
    const callSite = new Error();
    const strings = await withCallSite(this.#handle().allgather(JSON.stringify(value), what), callSite);
    return strings.map((s) => JSON.parse(s) as T);
  }

  /** Rank 0's `value` on every rank. */
  async broadcastFromRoot<T>(value: T, what = 'broadcast'): Promise<T> {
    return (await this.allgather(this.rank === 0 ? value : null, what))[0] as T;
  }

  async barrier(what = 'barrier'): Promise<void> {
    const callSite = new Error();
    await withCallSite(this.#handle().barrier(what), callSite);
  }

  /** @internal The native group, for Trainer.setDistributed. */
  get nativeHandle(): NativeProcessGroup {
    return this.#handle();
  }

  /** Leaves the job once the collectives already queued have ended. */
  dispose(): void {
    this.#native?.dispose();
    this.#native = undefined;
  }
}
