// Test videos made with the ffmpeg CLI at test time (never committed), cached in
// test/fixtures/generated/. Each is written under a temporary name and renamed into place, so test
// files running in parallel never see half a file.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const DIR = path.resolve(__dirname, '..', 'fixtures', 'generated');
const SRC = (size, rate, seconds) => ['-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=${rate}:duration=${seconds}`];
const X264 = ['-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-g', '12', '-bf', '3'];

// name -> ffmpeg arguments (before the output file), or a function that writes the file.
const RECIPES = {
  'h264.mp4': [...SRC('320x240', 25, 3), ...X264],
  'h264.mkv': [...SRC('320x240', 25, 3), ...X264],
  'h264.avi': [...SRC('320x240', 25, 3), ...X264],
  'xvid.avi': [...SRC('320x240', 25, 3), '-c:v', 'mpeg4', '-vtag', 'XVID', '-g', '12', '-bf', '2', '-q:v', '4'],
  'mjpeg.avi': [...SRC('320x240', 25, 3), '-c:v', 'mjpeg', '-q:v', '5'],
  'vp9.webm': [...SRC('320x240', 25, 3), '-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-g', '12', '-b:v', '500k'],
  'odd-97x61.mp4': [...SRC('128x96', 25, 2), '-vf', 'scale=97:61', '-c:v', 'libx264', '-pix_fmt', 'yuv444p', '-g', '10'],
  'portrait.mp4': [...SRC('180x320', 30, 2), '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-g', '15'],
  'vfr.mp4': [
    ...SRC('320x240', 30, 4),
    '-vf',
    "select='lt(mod(n,7),4)+between(n,40,60)'",
    '-fps_mode',
    'passthrough',
    '-c:v',
    'libx264',
    '-pix_fmt',
    'yuv420p',
    '-g',
    '20',
  ],
  'five-frames.mp4': ['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25', '-frames:v', '5', '-c:v', 'libx264', '-pix_fmt', 'yuv420p'],
  'hd-720p.mp4': [...SRC('1280x720', 30, 4), '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-g', '30'],
  // Long enough for 5 evenly spaced 16-frame clips at 15 fps without repeats (>= 6 s), for the
  // classify parity tests on a checkout without ../shared/videos.
  'h264-8s.mp4': [...SRC('320x240', 25, 8), ...X264],
  'mpeg4-7s.avi': [...SRC('352x288', '30000/1001', 7), '-c:v', 'mpeg4', '-vtag', 'XVID', '-g', '15', '-bf', '2', '-q:v', '4'],
  'hd-720p-7s.mp4': [...SRC('1280x720', 30, 7), '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-g', '30'],
  // Matroska keeps no frame count in its header: the 37 frames the recipe asks for must be counted.
  'h264-37-frames.mkv': ['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30000/1001', '-frames:v', '37', ...X264],
  // For the decode plan (test/decode-plan.test.js): B-frames and references of every kind it handles.
  // x264's defaults with 3 B-frames (B-pyramid, 250-frame GOPs): most frames are never referenced.
  'h264-pyramid-10s.mp4': [...SRC('320x240', 30, 10), '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-bf', '3'],
  'h264-pyramid-720p.mp4': [...SRC('1280x720', 30, 4), '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-bf', '3'],
  // Open GOPs: B-frames before a keyframe in display order reference the GOP before.
  'h264-open-gop.mp4': [
    ...SRC('320x240', 25, 4),
    '-c:v',
    'libx264',
    '-pix_fmt',
    'yuv420p',
    '-bf',
    '3',
    '-x264-params',
    'open-gop=1:keyint=25:min-keyint=25:scenecut=0',
  ],
  // x265's defaults keep open GOPs (RASL pictures) and non-reference B-frames.
  'hevc.mp4': [
    ...SRC('320x240', 25, 4),
    '-c:v',
    'libx265',
    '-pix_fmt',
    'yuv420p',
    '-tag:v',
    'hvc1',
    '-x265-params',
    'log-level=error:keyint=25',
  ],
  'mpeg4-bvop.mp4': [...SRC('320x240', 25, 4), '-c:v', 'mpeg4', '-g', '12', '-bf', '2', '-q:v', '4'],
  'mpeg2.ts': [...SRC('320x240', 25, 4), '-c:v', 'mpeg2video', '-g', '12', '-bf', '2', '-q:v', '4'],
  // SVT-AV1 prints its configuration to stderr whatever the log level: made quietly.
  'av1.mkv': (file) =>
    execFileSync(
      'ffmpeg',
      ['-hide_banner', '-loglevel', 'error', '-y', ...SRC('320x240', 25, 2), '-c:v', 'libsvtav1', '-preset', '12', '-g', '25', file],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    ),
  // Garbage over 2 % of an H.264 stream's bytes, in the middle: packets the decoder conceals or rejects.
  'h264-damaged.mp4': (file) => {
    const bytes = Buffer.from(fs.readFileSync(fixture('h264-pyramid-10s.mp4')));
    const from = Math.floor(bytes.length * 0.45);
    for (let i = from; i < from + Math.floor(bytes.length * 0.02); i++) bytes[i] = (i * 7919) & 0xff;
    fs.writeFileSync(file, bytes);
  },
  'audio-only.m4a': ['-f', 'lavfi', '-i', 'sine=duration=2', '-c:a', 'aac'],
  'moov-at-end.mp4': [...SRC('320x240', 25, 4), '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-g', '25'],
  'faststart.mp4': [...SRC('320x240', 25, 4), '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-g', '25', '-movflags', '+faststart'],
  // MP4 content under an AVI name: the container is found from the content.
  'really-mp4.avi': (file) => fs.copyFileSync(fixture('h264.mp4'), file),
  'empty.mp4': (file) => fs.writeFileSync(file, ''),
  'text.mp4': (file) => fs.writeFileSync(file, 'this is a text file, not a video\n'),
  // Cut in the middle of the media data: the index promises frames the file no longer holds.
  'truncated-mid-mdat.mp4': (file) => {
    const whole = fs.readFileSync(fixture('faststart.mp4'));
    fs.writeFileSync(file, whole.subarray(0, Math.floor(whole.length * 0.6)));
  },
  // Cut before the moov box (written last by default): no index at all.
  'truncated-no-moov.mp4': (file) => {
    const whole = fs.readFileSync(fixture('moov-at-end.mp4'));
    fs.writeFileSync(file, whole.subarray(0, Math.floor(whole.length * 0.8)));
  },
  // A video stream FFmpeg can demux but has no decoder for: MJPEG's fourcc renamed.
  'unknown-codec.avi': (file) => {
    const bytes = Buffer.from(fs.readFileSync(fixture('mjpeg.avi')));
    let at = bytes.indexOf('MJPG');
    while (at !== -1) {
      bytes.write('QQQQ', at);
      at = bytes.indexOf('MJPG', at + 4);
    }
    fs.writeFileSync(file, bytes);
  },
};

function fixture(name) {
  const file = path.join(DIR, name);
  if (fs.existsSync(file)) return file;
  const recipe = RECIPES[name];
  if (!recipe) throw new Error(`no recipe for fixture ${name}`);
  fs.mkdirSync(DIR, { recursive: true });
  const temporary = `${file}.${process.pid}.tmp${path.extname(name)}`;
  if (typeof recipe === 'function') {
    recipe(temporary);
  } else {
    const format = path.extname(name) === '.m4a' ? ['-f', 'mp4'] : [];
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...recipe, ...format, temporary], { stdio: 'inherit' });
  }
  fs.renameSync(temporary, file);
  return file;
}

/**
 * A small evaluation set in `dir` (root/<class>/<video>, Kinetics class names): 4 fixture videos that decode
 * and one that does not (text.mp4). Used by the CLI and distributed evaluation tests.
 */
function classFolderSet(dir) {
  for (const [label, names] of [
    ['abseiling', ['h264.mp4', 'xvid.avi']],
    ['archery', ['vp9.webm', 'text.mp4']],
    ['zumba', ['h264.mkv']],
  ]) {
    fs.mkdirSync(path.join(dir, label), { recursive: true });
    for (const name of names) fs.copyFileSync(fixture(name), path.join(dir, label, name));
  }
  return dir;
}

module.exports = { fixture, classFolderSet, FIXTURE_DIR: DIR };
