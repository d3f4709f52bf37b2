// Labelled video sets, in the three layouts people keep them in: a folder root/<class>/<video>
// (Kinetics, UCF-101), a CSV/TSV with a `path,label` header, and MMAction2's list file (`path label`).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { checkSignal, throwIfAborted } from '../abort';
import { TorchVideoError } from '../errors';
import { checkOptions, checkString, expectType } from '../validate';
import { buildVideoIndex, type IndexProgress, type VideoIndexEntry } from './video-index';

export interface DatasetVideo {
  /** Absolute path of the video. */
  path: string;
  /** The label as the dataset gives it: a class name (folders, CSV) or an integer (list files, CSV). */
  label: string | number;
  /** Where the label came from, for errors: 'classes/a.mp4' or 'list.txt:12'. */
  source: string;
  /** What the metadata index recorded of the video. */
  info: VideoIndexEntry;
}

export interface Dataset {
  /** Videos that opened, sorted by path. */
  videos: DatasetVideo[];
  /** Class names (folders; CSV with names) in sorted order, or the integer labels seen, as strings. */
  classes: string[];
  /** Videos that could not be opened, with the reason; they are not in `videos`. */
  failed: { path: string; error: string }[];
  /** The metadata index file used (read, updated, written back). */
  indexPath: string;
}

export interface LoadDatasetOptions {
  /**
   * The folder of metadata indexes (default: `$XDG_CACHE_HOME/torchvideo`, else `~/.cache/torchvideo`).
   * Each dataset's index is a file there named after a hash of the dataset's real path, so datasets never
   * share one; nothing is written into the dataset itself, which may be read-only or shared.
   */
  indexDir?: string;
  /** The metadata index file itself (overrides indexDir). */
  indexPath?: string;
  /**
   * Called as the index is built: first with what the cache held, then after each video read
   * (`done` of `total`, `cached` of them from the cache).
   */
  onProgress?: (progress: IndexProgress) => void;
  /** Aborts the load: rejects with the signal's reason; videos not yet opened are not, and no index is written. */
  signal?: AbortSignal;
}

const VIDEO_EXTENSIONS = /\.(mp4|m4v|mov|mkv|webm|avi|mpg|mpeg|ts|flv|wmv|3gp|ogv)$/i;

interface Entry {
  path: string;
  label: string | number;
  source: string;
}

function datasetError(message: string, file: string): TorchVideoError {
  const error = new TorchVideoError(message, 'ERR_DATASET');
  error.path = file;
  return error;
}

function fromFolder(root: string): { entries: Entry[]; classes: string[] } {
  const entries: Entry[] = [];
  const classes = fs
    .readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
    .map((d) => d.name)
    .sort();
  if (classes.length === 0) throw datasetError(`dataset folder '${root}' has no class folders (expected root/<class>/<video>)`, root);
  for (const label of classes) {
    for (const name of fs.readdirSync(path.join(root, label)).sort()) {
      if (VIDEO_EXTENSIONS.test(name)) entries.push({ path: path.join(root, label, name), label, source: `${label}/${name}` });
    }
  }
  return { entries, classes };
}

// An integer label stays a number, so it maps to the model's classes by index.
function labelOf(text: string): string | number {
  return /^\d+$/.test(text) ? Number(text) : text;
}

function fromCsv(file: string): Entry[] {
  const delimiter = /\.tsv$/i.test(file) ? '\t' : ',';
  let rows: Record<string, string>[];
  try {
    rows = parseCsv(fs.readFileSync(file, 'utf8'), { columns: true, delimiter, skip_empty_lines: true, trim: true });
  } catch (error) {
    throw datasetError(`cannot parse '${file}': ${(error as Error).message}`, file);
  }
  if (rows.length > 0 && (!('path' in rows[0]) || !('label' in rows[0]))) {
    throw datasetError(`'${file}' needs a header with the columns path and label, got ${Object.keys(rows[0]).join(', ')}`, file);
  }
  const dir = path.dirname(file);
  // Line numbers count the header as line 1.
  return rows.map((row, i) => ({ path: path.resolve(dir, row.path), label: labelOf(row.label), source: `${file}:${i + 2}` }));
}

function fromList(file: string): Entry[] {
  const dir = path.dirname(file);
  const entries: Entry[] = [];
  fs.readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .forEach((line, i) => {
      const text = line.trim();
      if (text === '' || text.startsWith('#')) return;
      const match = /^(.*\S)\s+(\d+)$/.exec(text);
      if (!match) throw datasetError(`${file}:${i + 1}: expected 'path label' with an integer label, got '${text}'`, file);
      entries.push({ path: path.resolve(dir, match[1]), label: Number(match[2]), source: `${file}:${i + 1}` });
    });
  return entries;
}

/** Where releases before 0.2 kept the index: inside the dataset. Still read, never written. */
function legacyIndexPath(data: string, isFolder: boolean): string {
  return isFolder ? path.join(data, '.torchvideo-index.json') : `${data}.torchvideo-index.json`;
}

/** The user's cache folder for indexes: $XDG_CACHE_HOME/torchvideo (an absolute path, per the XDG spec), else ~/.cache/torchvideo. */
export function defaultIndexDir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  return path.join(xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.cache'), 'torchvideo');
}

/** The index file of the dataset at `root` in `indexDir`: its name, readable, plus a hash of its real path. */
export function indexPathIn(indexDir: string, root: string): string {
  let real = root;
  try {
    real = fs.realpathSync(root);
  } catch {
    // Vanished meanwhile: loadDataset reports it.
  }
  const hash = createHash('sha256').update(real).digest('hex').slice(0, 32);
  const name = path
    .basename(real)
    .replace(/[^\w.-]/g, '_')
    .slice(0, 40);
  return path.join(indexDir, `${name}-${hash}.index.json`);
}

/**
 * Reads a labelled video set and its metadata index. `data` is a folder root/<class>/<video>, a CSV/TSV
 * file with a `path,label` header, or an MMAction2 list file (`path label` per line, integer labels);
 * paths are relative to the list's folder. Every video's metadata (size, mtime, fps, frame count,
 * duration) is read once, in parallel on the decode pool, and cached in the index file (in the user's
 * cache folder, see `indexDir`; an index an older release left inside the dataset is read too): a changed
 * or added file is indexed again, a vanished one dropped. A video that cannot be opened is listed in
 * `failed` with its reason. An index that cannot be written is a warning (TORCHVIDEO_INDEX_NOT_WRITTEN):
 * the dataset still loads.
 * @throws TypeError / RangeError for bad arguments.
 * @throws AbortError (rejects; the signal's reason) when options.signal aborts.
 * @throws TorchVideoError ERR_FILE_NOT_FOUND when `data` is missing, ERR_DATASET (with `path`) for a
 *   list that cannot be parsed or a folder without class folders.
 */
export async function loadDataset(data: string, options: LoadDatasetOptions = {}): Promise<Dataset> {
  checkString(data, 'data');
  const opts = checkOptions(options);
  const signal = checkSignal(opts.signal);
  expectType(opts.onProgress === undefined || typeof opts.onProgress === 'function', 'options.onProgress', 'a function', opts.onProgress);
  throwIfAborted(signal);
  const root = path.resolve(data);
  if (!fs.existsSync(root)) {
    const error = new TorchVideoError(`dataset not found: '${root}'`, 'ERR_FILE_NOT_FOUND');
    error.path = root;
    throw error;
  }
  const isFolder = fs.statSync(root).isDirectory();
  const folder = isFolder ? fromFolder(root) : undefined;
  const entries = folder ? folder.entries : /\.(csv|tsv)$/i.test(root) ? fromCsv(root) : fromList(root);
  const seen = new Map<string, string>();
  for (const entry of entries) {
    const first = seen.get(entry.path);
    if (first !== undefined) throw datasetError(`'${entry.path}' is listed twice: ${first} and ${entry.source}`, root);
    seen.set(entry.path, entry.source);
  }
  const indexDir = opts.indexDir === undefined ? defaultIndexDir() : path.resolve(checkString(opts.indexDir, 'options.indexDir'));
  const indexPath =
    opts.indexPath === undefined ? indexPathIn(indexDir, root) : path.resolve(checkString(opts.indexPath, 'options.indexPath'));
  const index = await buildVideoIndex(
    entries.map((e) => e.path),
    indexPath,
    legacyIndexPath(root, isFolder),
    { signal, onProgress: opts.onProgress as LoadDatasetOptions['onProgress'] },
  );
  const videos: DatasetVideo[] = [];
  const failed: { path: string; error: string }[] = [];
  for (const entry of entries) {
    const info = index.get(entry.path);
    if (info?.error !== undefined) failed.push({ path: entry.path, error: info.error });
    else if (info) videos.push({ ...entry, info });
  }
  videos.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const labels = [...new Set(entries.map((e) => e.label))];
  const classes = folder
    ? folder.classes
    : labels.every((l) => typeof l === 'number')
      ? (labels as number[]).sort((a, b) => a - b).map(String)
      : labels.map(String).sort();
  return { videos, classes, failed, indexPath };
}
