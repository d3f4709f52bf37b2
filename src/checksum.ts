// The export's integrity check: its sidecar records the sha256 of the .pt file, and a file whose bytes
// changed since (a flipped bit in the weights loads without a word otherwise) is refused.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { TorchVideoError } from './errors';

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
  let actual: string;
  try {
    actual = await sha256Of(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const failure =
      code === 'ENOENT'
        ? new TorchVideoError(`model file not found: '${path}'`, 'ERR_FILE_NOT_FOUND')
        : code === 'EISDIR'
          ? new TorchVideoError(`model path is not a regular file: '${path}'`, 'ERR_NOT_A_FILE')
          : new TorchVideoError(`cannot read model '${path}': ${(error as Error).message}`, 'ERR_MODEL_LOAD');
    failure.path = path;
    throw failure;
  }
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
