// The metadata index of a video set: what opening each video tells (frame count, frame rate, size, and
// the frame index: every frame's timestamp and where to seek for the keyframes), cached in a JSON file
// so a large set is demuxed once, not on every run: the evaluation opens each video with its cached
// frame index and reads only the headers before seeking. An entry is reused while the
// file's size and mtime are unchanged; new or changed files are opened again, vanished ones dropped.
// The file lives in a cache folder of the user's (see loadDataset), written atomically; it is read
// without following a symlink planted at its name.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { throwIfAborted } from '../abort';
import { frameIndexOf, openVideo } from '../video';
import { readFileNoFollow, writeFileAtomic } from '../common/atomic-file';
import { packFrameIndex, type PackedFrameIndex } from '../common/packed-frame-index';
import { failureText, isVideoFailure } from './video-failure';

export interface VideoIndexEntry {
  size: number;
  mtimeMs: number;
  fps?: number;
  frameCount?: number;
  durationSec?: number;
  width?: number;
  height?: number;
  codec?: string;
  frameIndex?: PackedFrameIndex;
  /** Why the video could not be opened (it is then left out of the dataset's videos). */
  error?: string;
}

const INDEX_VERSION = 2;
// Opens in flight at once: enough to keep the decode pool busy, few enough to bound open files.
const CONCURRENT_OPENS = 8;

function readIndex(indexPath: string): Record<string, VideoIndexEntry> | undefined {
  try {
    const text = readFileNoFollow(indexPath);
    if (text === undefined) return undefined;
    const parsed = JSON.parse(text) as { version?: number; videos?: Record<string, VideoIndexEntry> };
    return parsed.version === INDEX_VERSION && parsed.videos ? parsed.videos : undefined;
  } catch {
    // Unreadable (e.g. from another version): rebuilt from the videos.
    return undefined;
  }
}

// Writes to the cache are best effort: a cache folder that cannot be written costs the next run time,
// not this run its dataset.
let warnedUnwritable = false;
function saveIndex(indexPath: string, videos: Record<string, VideoIndexEntry>): void {
  try {
    fs.mkdirSync(path.dirname(indexPath), { recursive: true, mode: 0o700 });
    writeFileAtomic(indexPath, JSON.stringify({ version: INDEX_VERSION, videos }));
  } catch (error) {
    if (warnedUnwritable) return;
    warnedUnwritable = true;
    process.emitWarning(
      `cannot write the video metadata index '${indexPath}': ${(error as Error).message}; videos are indexed again next time`,
      {
        code: 'TORCHVIDEO_INDEX_NOT_WRITTEN',
      },
    );
  }
}

async function describe(file: string, size: number, mtimeMs: number, signal?: AbortSignal): Promise<VideoIndexEntry> {
  try {
    const reader = await openVideo(file, { signal });
    const { fps, frameCount, durationSec, width, height, codec } = reader.info;
    const frameIndex = packFrameIndex(frameIndexOf(reader));
    reader.close();
    return { size, mtimeMs, fps, frameCount, durationSec, width, height, codec, frameIndex };
  } catch (error) {
    // Only the video's own problems are its entry; anything else (out of memory, a native failure) ends the load.
    if (!isVideoFailure(error)) throw error;
    return { size, mtimeMs, error: failureText(error) };
  }
}

/**
 * The index entry of every path (missing files included, as errors), updating the cache file. Without a
 * cache file yet, `legacyPath` (an index an older release kept inside the dataset) seeds it.
 */
export interface IndexProgress {
  /** Videos whose entry is known: from the cache, or read since. */
  done: number;
  /** Every listed video. */
  total: number;
  /** Of `done`, those the cache already held (not opened again). */
  cached: number;
}

export async function buildVideoIndex(
  paths: string[],
  indexPath: string,
  legacyPath?: string,
  control: { signal?: AbortSignal; onProgress?: (progress: IndexProgress) => void } = {},
): Promise<Map<string, VideoIndexEntry>> {
  const { signal, onProgress } = control;
  const existing = readIndex(indexPath);
  const cached = existing ?? (legacyPath === undefined ? undefined : readIndex(legacyPath)) ?? {};
  const result = new Map<string, VideoIndexEntry>();
  const stale: { file: string; size: number; mtimeMs: number }[] = [];
  for (const file of paths) {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(file);
    } catch {
      result.set(file, { size: 0, mtimeMs: 0, error: `video file not found: '${file}' (ERR_FILE_NOT_FOUND)` });
      continue;
    }
    const entry = cached[file];
    if (entry && entry.size === stat.size && entry.mtimeMs === stat.mtimeMs) result.set(file, entry);
    else stale.push({ file, size: stat.size, mtimeMs: stat.mtimeMs });
  }
  const cachedCount = result.size;
  onProgress?.({ done: cachedCount, total: paths.length, cached: cachedCount });
  let next = 0;
  const worker = async () => {
    while (next < stale.length) {
      // An abort stops the opens not yet started; nothing is saved (the next load indexes them again).
      throwIfAborted(signal);
      const { file, size, mtimeMs } = stale[next++];
      result.set(file, await describe(file, size, mtimeMs, signal));
      onProgress?.({ done: result.size, total: paths.length, cached: cachedCount });
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENT_OPENS, stale.length) }, worker));
  throwIfAborted(signal);
  const changed = existing === undefined || stale.length > 0 || Object.keys(cached).some((file) => !result.has(file));
  if (changed) {
    const videos: Record<string, VideoIndexEntry> = {};
    for (const file of [...result.keys()].sort()) {
      // Missing files are not cached: they are looked for again next time.
      if (!result.get(file)!.error?.includes('ERR_FILE_NOT_FOUND')) videos[file] = result.get(file)!;
    }
    saveIndex(indexPath, videos);
  }
  return result;
}
