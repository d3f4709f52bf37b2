// The metadata index of a video set: what opening each video tells (frame count, frame rate, size, and
// the frame index: every frame's timestamp and where to seek for the keyframes), cached in a JSON file
// so a large set is demuxed once, not on every run: the evaluation opens each video with its cached
// frame index and reads only the headers before seeking. An entry is reused while the
// file's size and mtime are unchanged; new or changed files are opened again, vanished ones dropped.
import * as fs from 'node:fs';
import { frameIndexOf, openVideo } from '../video';
import { writeFileAtomic } from './atomic-file';
import { packFrameIndex, type PackedFrameIndex } from './packed-frame-index';

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

function readIndex(indexPath: string): Record<string, VideoIndexEntry> {
  try {
    const parsed = JSON.parse(fs.readFileSync(indexPath, 'utf8')) as { version?: number; videos?: Record<string, VideoIndexEntry> };
    return parsed.version === INDEX_VERSION && parsed.videos ? parsed.videos : {};
  } catch {
    // Missing or unreadable (e.g. from another version): rebuilt from the videos.
    return {};
  }
}

async function describe(file: string, size: number, mtimeMs: number): Promise<VideoIndexEntry> {
  try {
    const reader = await openVideo(file);
    const { fps, frameCount, durationSec, width, height, codec } = reader.info;
    const frameIndex = packFrameIndex(frameIndexOf(reader));
    reader.close();
    return { size, mtimeMs, fps, frameCount, durationSec, width, height, codec, frameIndex };
  } catch (error) {
    const code = (error as { code?: string }).code;
    return { size, mtimeMs, error: `${(error as Error).message}${code ? ` (${code})` : ''}` };
  }
}

/** The index entry of every path (missing files included, as errors), updating the cache file. */
export async function buildVideoIndex(paths: string[], indexPath: string): Promise<Map<string, VideoIndexEntry>> {
  const cached = readIndex(indexPath);
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
  let next = 0;
  const worker = async () => {
    while (next < stale.length) {
      const { file, size, mtimeMs } = stale[next++];
      result.set(file, await describe(file, size, mtimeMs));
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENT_OPENS, stale.length) }, worker));
  const changed = stale.length > 0 || Object.keys(cached).some((file) => !result.has(file));
  if (changed) {
    const videos: Record<string, VideoIndexEntry> = {};
    for (const file of [...result.keys()].sort()) {
      // Missing files are not cached: they are looked for again next time.
      if (!result.get(file)!.error?.includes('ERR_FILE_NOT_FOUND')) videos[file] = result.get(file)!;
    }
    writeFileAtomic(indexPath, JSON.stringify({ version: INDEX_VERSION, videos }));
  }
  return result;
}
