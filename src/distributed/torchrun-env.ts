// The environment torchrun gives each worker of a one-node job, for the ranks this package starts itself
// (torchvideo launch, the scaling bench, the tests): resolveRendezvous('env') reads it as torchrun's.
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';

export interface LocalRank {
  rank: number;
  /** Ranks on this machine (the whole job: one node). */
  worldSize: number;
  masterAddr: string;
  masterPort: number;
  runId?: string;
}

/** `base` (default: this process's environment) with local rank `rank`'s variables set. */
export function torchrunEnvironment(local: LocalRank, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const { rank, worldSize } = local;
  return {
    ...base,
    RANK: String(rank),
    LOCAL_RANK: String(rank),
    WORLD_SIZE: String(worldSize),
    LOCAL_WORLD_SIZE: String(worldSize),
    GROUP_RANK: '0',
    GROUP_WORLD_SIZE: '1',
    ROLE_NAME: 'default',
    ROLE_RANK: String(rank),
    ROLE_WORLD_SIZE: String(worldSize),
    MASTER_ADDR: local.masterAddr,
    MASTER_PORT: String(local.masterPort),
    TORCHELASTIC_RESTART_COUNT: '0',
    TORCHELASTIC_MAX_RESTARTS: '0',
    TORCHELASTIC_RUN_ID: local.runId ?? randomBytes(8).toString('hex'),
    // Rank 0 hosts the TCPStore itself (no agent here); an inherited 'True' would make every rank a client.
    TORCHELASTIC_USE_AGENT_STORE: 'False',
    // CPU ranks share the machine: N ranks with all cores each would oversubscribe it N times. torchrun says
    // 1; splitting the cores keeps a 2-rank job on 16 cores as fast per core as one rank.
    OMP_NUM_THREADS: base.OMP_NUM_THREADS ?? String(Math.max(1, Math.floor(os.availableParallelism() / worldSize))),
  };
}
