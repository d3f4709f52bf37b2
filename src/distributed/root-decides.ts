// "Rank 0 decides, every rank learns the outcome": a value that only rank 0 may compute (it takes a lock,
// reads the run's files, draws a seed) is computed there and broadcast to the others. A failure on rank 0
// fails every rank at once, naming it, instead of leaving the others waiting for a value that never comes.
import { TorchVideoError } from '../errors';
import type { ProcessGroup } from './process-group';

/**
 * What rank 0 computes, on every rank (without a group: computed here). A failure on rank 0 fails every
 * rank, naming it, instead of leaving them waiting.
 * @throws on rank 0 what `compute` threw; on the other ranks TorchVideoError ERR_DISTRIBUTED naming
 *   `what`, the error's message and code.
 */
export async function decidedByRankZero<T>(group: ProcessGroup | undefined, what: string, compute: () => T | Promise<T>): Promise<T> {
  if (!group) return compute();
  let outcome: { value?: T; error?: string; code?: string } = {};
  let thrown: unknown;
  if (group.rank === 0) {
    try {
      outcome = { value: await compute() };
    } catch (error) {
      thrown = error;
      outcome = { error: (error as Error).message, code: (error as { code?: string }).code };
    }
  }
  const shared = await group.broadcastFromRoot(outcome, what);
  if (thrown !== undefined) throw thrown;
  if (shared.error !== undefined) {
    throw new TorchVideoError(
      `rank 0 could not establish ${what}: ${shared.error}${shared.code ? ` (${shared.code})` : ''}`,
      'ERR_DISTRIBUTED',
    );
  }
  return shared.value as T;
}
