// Writes that survive being killed at any instant: a reader sees the old file or the new one, never
// half of either (temp file in the same folder, fsync, rename, fsync of the folder).
import * as fs from 'node:fs';
import * as path from 'node:path';

export function writeFileAtomic(file: string, contents: string): void {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = fs.openSync(temporary, 'w');
  try {
    fs.writeSync(fd, contents);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temporary, file);
  syncFolder(path.dirname(file));
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
