// The flags `finetune` and `evaluate` share for multi-process jobs: --distributed reads the launcher's
// environment (torchrun, Slurm, a Kubernetes Indexed Job); --world-size, --master-addr and --master-port
// complete what the environment lacks (an Indexed Job gives only its index); --distributed-timeout bounds
// every wait on another rank. A flag wins over the launcher's variable for the same thing.
import { DEFAULT_DISTRIBUTED_TIMEOUT_MS } from '../distributed/process-group';
import { resolveRendezvous, type RendezvousOptions } from '../distributed/rendezvous';
import { integerFlag, numberFlag, portFlag } from './args';

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

/**
 * The launcher that started this process as one of several, in words, or undefined: torchrun and
 * `torchvideo launch` (WORLD_SIZE > 1), srun (SLURM_PROCID with more than one task in the step).
 */
function launchedAsOneOf(env: NodeJS.ProcessEnv): string | undefined {
  if (Number(env.WORLD_SIZE) > 1)
    return `rank ${env.RANK ?? '?'} of ${env.WORLD_SIZE} (WORLD_SIZE=${env.WORLD_SIZE}: torchrun or torchvideo launch)`;
  const tasks = env.SLURM_STEP_NUM_TASKS ?? env.SLURM_NTASKS;
  if (env.SLURM_PROCID !== undefined && Number(tasks) > 1) return `task ${env.SLURM_PROCID} of ${tasks} (Slurm, SLURM_NTASKS=${tasks})`;
  return undefined;
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
    // One of several processes a launcher started, without the flag that makes them one job: each would run
    // the whole job alone, all writing one --out. Refused before anything is read or written.
    const launched = launchedAsOneOf(process.env);
    if (launched !== undefined) {
      throw new RangeError(
        `this process is ${launched} but --distributed was not given: add --distributed to run the ranks as one job ` +
          '(without it each would run the whole job on its own, into the same --out)',
      );
    }
    return { rank: 0 };
  }
  const rendezvous: RendezvousOptions = {
    worldSize: integerFlag(values['world-size'], 'world-size', 1, 1 << 20),
    masterAddr: values['master-addr'],
    masterPort: portFlag(values['master-port'], 'master-port'),
  };
  for (const key of Object.keys(rendezvous) as (keyof RendezvousOptions)[]) if (rendezvous[key] === undefined) delete rendezvous[key];
  const seconds = numberFlag(values['distributed-timeout'], 'distributed-timeout', { positive: true, unit: 'seconds' });
  // Read now, so a missing launcher variable is reported before any work.
  const { rank } = resolveRendezvous('env', rendezvous);
  return {
    distributed: 'env',
    rendezvous,
    distributedTimeoutMs: seconds === undefined ? DEFAULT_DISTRIBUTED_TIMEOUT_MS : Math.max(1, Math.round(seconds * 1000)),
    rank,
  };
}
