// The export's integrity check: its sidecar records the sha256 of the .pt file, and a file whose bytes
// changed since (a flipped bit in the weights loads without a word otherwise) is refused.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { TorchVideoError } from './errors';
import { describe, expectType } from './validate';

/** Streams the file through sha256, so the event loop stays free between chunks. */
export async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * @throws TorchVideoError ERR_MODEL_LOAD (with `path`) when the file's sha256 differs from `expected`;
 *   ERR_FILE_NOT_FOUND when the file is missing.
 */
export async function verifySha256(path: string, expected: string): Promise<void> {
  const actual = await readableSha256(path);
  if (actual !== expected.toLowerCase()) {
    const failure = new TorchVideoError(
      `model '${path}' does not match its sidecar: sha256 ${actual}, the sidecar records ${expected} ` +
        '(the file changed or is damaged since it was exported; re-export it, or pass verify: false to skip the check)',
      'ERR_MODEL_LOAD',
    );
    failure.path = path;
    throw failure;
  }
}

// sha256Of, with the file system's failures as the load's own errors.
async function readableSha256(path: string, what = 'model'): Promise<string> {
  try {
    return await sha256Of(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const failure =
      code === 'ENOENT'
        ? new TorchVideoError(`${what} file not found: '${path}'`, 'ERR_FILE_NOT_FOUND')
        : code === 'EISDIR'
          ? new TorchVideoError(`${what} path is not a regular file: '${path}'`, 'ERR_NOT_A_FILE')
          : new TorchVideoError(`cannot read ${what} '${path}': ${(error as Error).message}`, 'ERR_MODEL_LOAD');
    failure.path = path;
    throw failure;
  }
}

/**
 * A sha256 the caller pins (`expectSha256`), lower-cased; undefined when not given.
 * @throws TypeError when not a string; RangeError when not 64 hex digits.
 */
export function checkSha256(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  expectType(typeof value === 'string', name, 'a sha256 as 64 hex digits', value);
  if (!/^[0-9a-f]{64}$/i.test(value as string)) {
    throw new RangeError(`expected ${name} to be a sha256 as 64 hex digits, got ${describe(value)}`);
  }
  return (value as string).toLowerCase();
}

/**
 * The file's sha256 against the one its caller trusts, before anything loads it.
 * @throws TorchVideoError `code` (with `path`) naming both hashes when they differ; ERR_FILE_NOT_FOUND /
 *   ERR_NOT_A_FILE when the file is missing or a folder.
 */
export async function verifyPinnedSha256(path: string, expected: string, code: 'ERR_MODEL_LOAD' | 'ERR_CHECKPOINT'): Promise<void> {
  const actual = await readableSha256(path, code === 'ERR_CHECKPOINT' ? 'checkpoint' : 'model');
  if (actual !== expected) {
    const failure = new TorchVideoError(
      `'${path}' is not the file you trust: its sha256 is ${actual}, expectSha256 is ${expected} (refused before loading: an export or checkpoint is code)`,
      code,
    );
    failure.path = path;
    throw failure;
  }
}
