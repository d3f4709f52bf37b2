// Where a process stands in a multi-process job, read from the launchers people already run: torchrun
// (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT; with TORCHELASTIC_USE_AGENT_STORE=True the
// agent hosts the TCPStore and every rank is a client under /worker/attempt_<restart>), Slurm
// (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, the master is the first host of SLURM_JOB_NODELIST) and a
// Kubernetes Indexed Job (JOB_COMPLETION_INDEX as the rank; world size and master given as options).
// ProcessGroup.join (src/distributed/process-group.ts) builds the c10d process group from what this resolves.

/** The default TCPStore port, torchrun's. */
export const DEFAULT_MASTER_PORT = 29500;

export interface Rendezvous {
  rank: number;
  worldSize: number;
  /** The process's index on its machine (picks cuda:<localRank>). */
  localRank: number;
  masterAddr: string;
  masterPort: number;
  /** True when a launcher's agent already hosts the store: every rank connects as a client. */
  agentStore: boolean;
  /** Key prefix in the store (torchrun's agent store: /worker/attempt_<restart>). */
  storePrefix: string;
  /** How many times the launcher restarted the job (torchrun's TORCHELASTIC_RESTART_COUNT). */
  restartCount: number;
  launcher: 'torchrun' | 'slurm' | 'kubernetes' | 'explicit';
}

export interface ExplicitRendezvous {
  rank: number;
  worldSize: number;
  masterAddr: string;
  masterPort?: number;
  localRank?: number;
}

/**
 * What 'env' may need beside the environment (a Kubernetes Indexed Job says only its index). Each one given
 * wins over the launcher's variable for it (WORLD_SIZE / SLURM_NTASKS, MASTER_ADDR, MASTER_PORT).
 */
export interface RendezvousOptions {
  worldSize?: number;
  masterAddr?: string;
  masterPort?: number;
}

type Env = Record<string, string | undefined>;

function integer(value: string | number | undefined, name: string, min: number): number {
  const number = typeof value === 'number' ? value : value === undefined || value.trim() === '' ? NaN : Number(value);
  if (!Number.isInteger(number) || number < min) {
    throw new RangeError(`expected ${name} to be an integer >= ${min}, got ${value === undefined ? 'nothing' : JSON.stringify(value)}`);
  }
  return number;
}

function port(value: string | number | undefined, name: string): number {
  const number = integer(value, name, 1);
  if (number > 65535) throw new RangeError(`expected ${name} to be a TCP port (1-65535), got ${value}`);
  return number;
}

// What the caller gives (the CLI's --world-size, --master-addr, --master-port) wins over the launcher's
// environment, as in every command line: the environment is the default, the flag the decision.
function explicitOr(value: number | undefined, name: string, fromEnv: () => number): number {
  return value === undefined ? fromEnv() : integer(value, name, 1);
}

function masterPort(options: RendezvousOptions, env: Env): number {
  if (options.masterPort !== undefined) return port(options.masterPort, 'masterPort');
  return port(env.MASTER_PORT ?? DEFAULT_MASTER_PORT, 'MASTER_PORT');
}

function checked(r: Rendezvous): Rendezvous {
  if (r.rank >= r.worldSize) throw new RangeError(`rank ${r.rank} is not below the world size ${r.worldSize} (${r.launcher})`);
  if (r.masterAddr.trim() === '') throw new RangeError(`expected a master address (${r.launcher})`);
  return r;
}

/**
 * The first host of a Slurm node list: 'node[01-03,07],gpu5' -> 'node01', 'a-[2-4]-ib' -> 'a-2-ib',
 * 'host1,host2' -> 'host1'. Commas inside brackets do not split hosts; each bracket group gives its first
 * value as written (zero padding kept).
 */
export function firstSlurmHost(nodeList: string): string {
  let depth = 0;
  let end = nodeList.length;
  for (let i = 0; i < nodeList.length; i++) {
    const c = nodeList[i];
    if (c === '[') depth++;
    else if (c === ']') depth--;
    else if (c === ',' && depth === 0) {
      end = i;
      break;
    }
  }
  const first = nodeList.slice(0, end).trim();
  if (first === '' || depth < 0) throw new RangeError(`cannot read a host from SLURM_JOB_NODELIST '${nodeList}'`);
  const host = first.replace(/\[([^\]]*)\]/g, (_, inside: string) => inside.split(',')[0].split('-')[0]);
  if (/[[\]]/.test(host) || host === '') throw new RangeError(`cannot read a host from SLURM_JOB_NODELIST '${nodeList}'`);
  return host;
}

/**
 * The job's rendezvous: from an explicit { rank, worldSize, masterAddr, masterPort }, or with 'env' from
 * torchrun's variables, else Slurm's, else a Kubernetes Indexed Job's (whose world size and master come
 * from `options`). RangeError naming what is missing or wrong.
 */
export function resolveRendezvous(spec: 'env' | ExplicitRendezvous, options: RendezvousOptions = {}, env: Env = process.env): Rendezvous {
  const restartCount =
    env.TORCHELASTIC_RESTART_COUNT === undefined ? 0 : integer(env.TORCHELASTIC_RESTART_COUNT, 'TORCHELASTIC_RESTART_COUNT', 0);
  if (spec !== 'env') {
    if (typeof spec !== 'object' || spec === null)
      throw new TypeError("expected distributed to be 'env' or { rank, worldSize, masterAddr, masterPort }");
    return checked({
      rank: integer(spec.rank, 'distributed.rank', 0),
      worldSize: integer(spec.worldSize, 'distributed.worldSize', 1),
      localRank: spec.localRank === undefined ? 0 : integer(spec.localRank, 'distributed.localRank', 0),
      masterAddr: String(spec.masterAddr ?? ''),
      masterPort: spec.masterPort === undefined ? DEFAULT_MASTER_PORT : port(spec.masterPort, 'distributed.masterPort'),
      agentStore: false,
      storePrefix: '',
      restartCount,
      launcher: 'explicit',
    });
  }
  if (env.RANK !== undefined || env.WORLD_SIZE !== undefined) {
    const agentStore = env.TORCHELASTIC_USE_AGENT_STORE === 'True';
    return checked({
      rank: integer(env.RANK, 'RANK', 0),
      worldSize: explicitOr(options.worldSize, 'worldSize', () => integer(env.WORLD_SIZE, 'WORLD_SIZE', 1)),
      localRank: env.LOCAL_RANK === undefined ? 0 : integer(env.LOCAL_RANK, 'LOCAL_RANK', 0),
      masterAddr: options.masterAddr ?? env.MASTER_ADDR ?? '',
      masterPort: masterPort(options, env),
      agentStore,
      storePrefix: agentStore ? `/worker/attempt_${restartCount}` : '',
      restartCount,
      launcher: 'torchrun',
    });
  }
  if (env.SLURM_PROCID !== undefined) {
    const nodeList = env.SLURM_JOB_NODELIST ?? env.SLURM_NODELIST;
    return checked({
      rank: integer(env.SLURM_PROCID, 'SLURM_PROCID', 0),
      worldSize: explicitOr(options.worldSize, 'worldSize', () => integer(env.SLURM_NTASKS, 'SLURM_NTASKS', 1)),
      localRank: env.SLURM_LOCALID === undefined ? 0 : integer(env.SLURM_LOCALID, 'SLURM_LOCALID', 0),
      masterAddr: options.masterAddr ?? env.MASTER_ADDR ?? (nodeList === undefined ? '' : firstSlurmHost(nodeList)),
      masterPort: masterPort(options, env),
      agentStore: false,
      storePrefix: '',
      restartCount,
      launcher: 'slurm',
    });
  }
  if (env.JOB_COMPLETION_INDEX !== undefined) {
    if (options.worldSize === undefined || options.masterAddr === undefined) {
      throw new RangeError(
        'a Kubernetes Indexed Job gives only JOB_COMPLETION_INDEX: give the world size and the master address ' +
          '(e.g. the headless Service name of index 0) as options',
      );
    }
    return checked({
      rank: integer(env.JOB_COMPLETION_INDEX, 'JOB_COMPLETION_INDEX', 0),
      worldSize: integer(options.worldSize, 'worldSize', 1),
      localRank: 0,
      masterAddr: options.masterAddr,
      masterPort: port(options.masterPort ?? DEFAULT_MASTER_PORT, 'masterPort'),
      agentStore: false,
      storePrefix: '',
      restartCount,
      launcher: 'kubernetes',
    });
  }
  throw new RangeError(
    "distributed 'env' found no launcher: expected torchrun's RANK and WORLD_SIZE, Slurm's SLURM_PROCID, " +
      "or a Kubernetes Indexed Job's JOB_COMPLETION_INDEX in the environment",
  );
}
