// A labelled video set whose class is the direction a square moves (right, left, down, up): no single
// frame tells the classes apart, only motion does, so a network that learns it has learnt something
// temporal. Made offline with the ffmpeg CLI (H.264), for the tests and the demo.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { copyFileAtomic, writeFileAtomic } from '../common/atomic-file';
import { EpochRandom } from './clip-sampler';

/** The preprocessing a network trained on the default moving shapes expects: 8 frames at 15 fps, 64x64 cropped to 56. */
export const MOVING_SHAPES_PREPROCESSING = { clip_length: 8, frame_rate: 15, resize_size: [64, 64], crop_size: [56, 56] };

/**
 * A starting export for the moving shapes: `source` (e.g. models/r3d_18.pt) copied unchanged to `dest`,
 * with its sidecar's preprocessing replaced by MOVING_SHAPES_PREPROCESSING (the file's sha256 still holds).
 */
export function shapesStartingExport(source: string, dest: string): string {
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  copyFileAtomic(source, dest);
  const sidecarOf = (file: string) => file.replace(/\.(pt|pth|ts|torchscript)$/i, '') + '.json';
  const sidecar = JSON.parse(fs.readFileSync(sidecarOf(source), 'utf8')) as Record<string, unknown>;
  writeFileAtomic(sidecarOf(dest), JSON.stringify({ ...sidecar, ...MOVING_SHAPES_PREPROCESSING }, null, 1));
  return dest;
}

export const DIRECTIONS = ['down', 'left', 'right', 'up'] as const;

export interface MovingShapesOptions {
  /** Videos per direction (default 24). */
  videosPerClass?: number;
  /** Frames per video (default 12) and their side in pixels (default 64). */
  frames?: number;
  size?: number;
  /** Pixels the square moves per frame (default 4) and its side (default 20). */
  speed?: number;
  square?: number;
  fps?: number;
  seed?: number;
}

const STEP: Record<(typeof DIRECTIONS)[number], [number, number]> = { down: [0, 1], left: [-1, 0], right: [1, 0], up: [0, -1] };

/** RGB24 frames of one video: a square of one colour crossing a background of another. */
function frames(direction: (typeof DIRECTIONS)[number], random: EpochRandom, o: Required<MovingShapesOptions>): Buffer {
  const [dx, dy] = STEP[direction];
  const travel = o.speed * (o.frames - 1);
  const span = o.size - o.square;
  // The start is drawn where the whole path stays inside the frame.
  const x0 = dx > 0 ? random.integer(0, span - travel) : dx < 0 ? random.integer(travel, span) : random.integer(0, span);
  const y0 = dy > 0 ? random.integer(0, span - travel) : dy < 0 ? random.integer(travel, span) : random.integer(0, span);
  const background = [random.integer(0, 90), random.integer(0, 90), random.integer(0, 90)];
  const colour = [random.integer(150, 255), random.integer(150, 255), random.integer(150, 255)];
  const out = Buffer.alloc(o.frames * o.size * o.size * 3);
  for (let f = 0; f < o.frames; f++) {
    const x = x0 + dx * o.speed * f;
    const y = y0 + dy * o.speed * f;
    for (let row = 0; row < o.size; row++) {
      for (let col = 0; col < o.size; col++) {
        const inside = col >= x && col < x + o.square && row >= y && row < y + o.square;
        const at = ((f * o.size + row) * o.size + col) * 3;
        const rgb = inside ? colour : background;
        out[at] = rgb[0];
        out[at + 1] = rgb[1];
        out[at + 2] = rgb[2];
      }
    }
  }
  return out;
}

/**
 * Writes root/<direction>/<n>.mp4 for each direction and returns the files made. Deterministic for a seed.
 * @throws Error when the ffmpeg CLI is missing or fails.
 */
export function makeMovingShapes(root: string, options: MovingShapesOptions = {}): string[] {
  const o: Required<MovingShapesOptions> = {
    videosPerClass: 24,
    frames: 12,
    size: 64,
    speed: 4,
    square: 20,
    fps: 15,
    seed: 0,
    ...options,
  };
  if (o.speed * (o.frames - 1) > o.size - o.square) {
    throw new RangeError(`a square of ${o.square} moving ${o.speed} px over ${o.frames} frames leaves a ${o.size} px frame`);
  }
  const random = new EpochRandom(o.seed, 0);
  const files: string[] = [];
  for (const direction of DIRECTIONS) {
    const dir = path.join(root, direction);
    fs.mkdirSync(dir, { recursive: true });
    const videos = Array.from({ length: o.videosPerClass }, () => frames(direction, random, o));
    // One ffmpeg per class (its start-up dominates a 12-frame video): the videos back to back, a keyframe
    // every video, cut into one file per video by the segment muxer.
    const cuts = Array.from({ length: o.videosPerClass - 1 }, (_, n) => (n + 1) * o.frames).join(',');
    execFileSync(
      'ffmpeg',
      ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${o.size}x${o.size}`, '-r', String(o.fps)]
        .concat(['-i', '-', '-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '8', '-pix_fmt', 'yuv444p'])
        .concat(['-g', String(o.frames), '-keyint_min', String(o.frames), '-sc_threshold', '0', '-bf', '0'])
        .concat(['-f', 'segment', '-reset_timestamps', '1', ...(cuts ? ['-segment_frames', cuts] : []), path.join(dir, '%03d.mp4')]),
      { input: Buffer.concat(videos), stdio: ['pipe', 'ignore', 'pipe'] },
    );
    for (let n = 0; n < o.videosPerClass; n++) files.push(path.join(dir, `${String(n).padStart(3, '0')}.mp4`));
  }
  return files;
}
