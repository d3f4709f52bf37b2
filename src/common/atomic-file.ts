// The one way the TypeScript side writes a file that others read (reports, journals, checkpoint.json,
// history, curves, sidecars, the metadata index): a reader sees the old file or the new one, never half of
// either, and nothing planted in the folder redirects the write.
//
// How: the contents go to a new file in the same folder under a random name (crypto, so nobody can guess
// it in advance), created exclusively (O_CREAT | O_EXCL: an existing file or a symlink at that name fails
// the open instead of being followed or truncated; O_NOFOLLOW says the same for good measure); it is
// fsynced, renamed over the target (rename replaces a symlink at the target, never writes through it) and
// the folder is fsynced so the rename survives a power cut. Two writers of one file each write their own
// temporary file, so the target is always one of them whole.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_RDONLY, O_APPEND } = fs.constants;
/** Flags of a file created here: never an existing file, never through a symlink. */
export const EXCLUSIVE_CREATE = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;
/** Flags to read a file without following a symlink planted at its name. */
export const READ_NO_FOLLOW = O_RDONLY | O_NOFOLLOW;
/** Flags to append to an existing file without following a symlink planted at its name. */
export const APPEND_NO_FOLLOW = O_WRONLY | O_APPEND | O_NOFOLLOW;

const COPY_CHUNK = 1 << 20;

/** A fresh temporary name beside `file`: `.<name>.<16 random hex digits>.tmp`. */
export function temporaryNameFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(8).toString('hex')}.tmp`);
}

function writeAll(fd: number, contents: string | Uint8Array): void {
  const bytes = typeof contents === 'string' ? Buffer.from(contents) : contents;
  let written = 0;
  while (written < bytes.byteLength) written += fs.writeSync(fd, bytes, written, bytes.byteLength - written);
}

// Fills a new temporary file beside `file` through `fill`, makes it durable and renames it over `file`. A
// failure anywhere removes the temporary file and leaves `file` as it was.
function replaceWith(file: string, fill: (fd: number) => void, mode: number): void {
  const temporary = temporaryNameFor(file);
  const fd = fs.openSync(temporary, EXCLUSIVE_CREATE, mode);
  let renamed = false;
  try {
    try {
      fill(fd);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temporary, file);
    renamed = true;
  } finally {
    if (!renamed) fs.rmSync(temporary, { force: true });
  }
  syncFolder(path.dirname(file));
}

/**
 * Replaces `file` with `contents` atomically (see the top of this file).
 * @throws Error with the file system's code (EACCES, ENOENT, ...) when the folder cannot be written.
 */
export function writeFileAtomic(file: string, contents: string | Uint8Array, mode = 0o666): void {
  replaceWith(file, (fd) => writeAll(fd, contents), mode);
}

/**
 * Replaces `to` with a copy of `from` atomically (see the top of this file).
 * @throws Error with the file system's code when `from` cannot be read or `to`'s folder written.
 */
export function copyFileAtomic(from: string, to: string, mode = 0o666): void {
  const source = fs.openSync(from, READ_NO_FOLLOW);
  try {
    replaceWith(
      to,
      (fd) => {
        const buffer = Buffer.allocUnsafe(COPY_CHUNK);
        for (;;) {
          const read = fs.readSync(source, buffer, 0, COPY_CHUNK, null);
          if (read === 0) break;
          writeAll(fd, buffer.subarray(0, read));
        }
      },
      mode,
    );
  } finally {
    fs.closeSync(source);
  }
}

/**
 * The text of `file`, or undefined when it is missing or a symlink (ELOOP: a link planted where one of
 * our files belongs is not read through).
 * @throws Error with the file system's code for other failures.
 */
export function readFileNoFollow(file: string): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, READ_NO_FOLLOW);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ELOOP') return undefined;
    throw error;
  }
  try {
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/** Makes a rename or a new file in `folder` durable. */
export function syncFolder(folder: string): void {
  const fd = fs.openSync(folder, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
