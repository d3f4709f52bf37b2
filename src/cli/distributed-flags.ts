// The flags `finetune` and `evaluate` share for multi-process jobs: --distributed reads the launcher's
// environment (torchrun, Slurm, a Kubernetes Indexed Job); --world-size, --master-addr and --master-port
// complete what the environment lacks (an Indexed Job gives only its index); --distributed-timeout bounds
// every wait on another rank.
import { DEFAULT_DISTRIBUTED_TIMEOUT_MS } from '../distributed/process-group';
import { resolveRendezvous, type RendezvousOptions } from '../distributed/rendezvous';

export const DISTRIBUTED_USAGE = '[--distributed [--world-size N] [--master-addr HOST] [--master-port P] [--distributed-timeout SECONDS]]';

export const DISTRIBUTED_FLAGS = {
  distributed: { type: 'boolean', default: false },
  'world-size': { type: 'string' },
  'master-addr': { type: 'string' },
  'master-port': { type: 'string' },
  'distributed-timeout': { type: 'string' },
} as const;

export interface DistributedFlags {
  distributed?: 'env';
  rendezvous?: RendezvousOptions;
  distributedTimeoutMs?: number;
  /** This process's rank (0 without --distributed): only rank 0 prints results. */
  rank: number;
}

function whole(text: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(value >= min && value <= max)) throw new RangeError(`expected --${flag} to be an integer in [${min}, ${max}], got '${text}'`);
  return value;
}

/** Checks the flags and resolves the rank from the environment, before anything is loaded. */
export function distributedFromFlags(values: {
  distributed?: boolean;
  'world-size'?: string;
  'master-addr'?: string;
  'master-port'?: string;
  'distributed-timeout'?: string;
}): DistributedFlags {
  const given = ['world-size', 'master-addr', 'master-port', 'distributed-timeout'].filter(
    (flag) => values[flag as keyof typeof values] !== undefined,
  );
  if (!values.distributed) {
    if (given.length > 0) throw new RangeError(`--${given[0]} needs --distributed`);
    return { rank: 0 };
  }
  const rendezvous: RendezvousOptions = {
    worldSize: whole(values['world-size'], 'world-size', 1, 1 << 20),
    masterAddr: values['master-addr'],
    masterPort: whole(values['master-port'], 'master-port', 1, 65535),
  };
  for (const key of Object.keys(rendezvous) as (keyof RendezvousOptions)[]) if (rendezvous[key] === undefined) delete rendezvous[key];
  const timeout = values['distributed-timeout'];
  const seconds = timeout === undefined ? undefined : /^\d+(\.\d+)?$/.test(timeout) ? Number(timeout) : NaN;
  if (seconds !== undefined && !(seconds > 0)) {
    throw new RangeError(`expected --distributed-timeout to be a positive number of seconds, got '${timeout}'`);
  }
  // Read now, so a missing launcher variable is reported before any work.
  const { rank } = resolveRendezvous('env', rendezvous);
  return {
    distributed: 'env',
    rendezvous,
    distributedTimeoutMs: seconds === undefined ? DEFAULT_DISTRIBUTED_TIMEOUT_MS : Math.max(1, Math.round(seconds * 1000)),
    rank,
  };
}
