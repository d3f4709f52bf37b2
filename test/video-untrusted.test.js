'use strict';
// Videos are untrusted data (a downloaded dataset): FFmpeg may open only the file it was given, with
// the demuxers of real containers, and a header's claimed frame size is checked before anything is
// allocated. A playlist renamed .mp4 would otherwise make the demuxer read the files it names.
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const t = require('tap');
const { openVideo, classifyVideos, TorchVideoError } = require('..');
const { tempDir } = require('./helpers/paths');

const ffmpeg = (args) => execFileSync('ffmpeg', ['-loglevel', 'error', '-y', ...args], { stdio: 'pipe' });
// A small H.264 test clip (64x48 at 10 fps) of `seconds`, written by `output` arguments (a file, or a muxer and a file).
const h264Clip = (seconds, ...output) =>
  ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10', '-t', String(seconds), '-c:v', 'libx264', '-pix_fmt', 'yuv420p', ...output]);

async function refusal(file) {
  return openVideo(file).then(
    (reader) => {
      reader.close();
      return null;
    },
    (error) => error,
  );
}

t.test('playlists that point at a real clip are refused by name', async (t) => {
  const dir = tempDir();
  // The clip they point at opens on its own: the refusal is about the playlist, not the clip.
  h264Clip(1, path.join(dir, 'real.mp4'));
  const real = await openVideo(path.join(dir, 'real.mp4'));
  t.equal(real.info.frameCount, 10, 'the clip itself opens');
  real.close();

  // An HLS playlist (one segment, a relative name as HLS writes it), saved as .mp4.
  h264Clip(1, '-f', 'hls', '-hls_time', '1', path.join(dir, 'list.m3u8'));
  fs.copyFileSync(path.join(dir, 'list.m3u8'), path.join(dir, 'hls.mp4'));
  // An ffconcat list naming the clip by a relative ("safe") name, which the concat demuxer follows.
  fs.writeFileSync(path.join(dir, 'concat.mp4'), "ffconcat version 1.0\nfile 'real.mp4'\n");

  for (const [name, container] of [
    ['hls.mp4', 'hls'],
    ['concat.mp4', 'concat'],
  ]) {
    const file = path.join(dir, name);
    const error = await refusal(file);
    t.ok(error instanceof TorchVideoError, `${name}: refused with a TorchVideoError`);
    t.equal(error?.code, 'ERR_VIDEO_OPEN', `${name}: ERR_VIDEO_OPEN`);
    t.equal(error?.path, file, `${name}: the error names the file`);
    t.match(error?.message, new RegExp(`it is a '${container}' file, which torchvideo does not open`), `${name}: names the container`);
  }

  // Through the batch API too: the playlist fails on its own, the real clip beside it is classified.
  const results = [];
  const { loadModel } = require('..');
  const model = await loadModel(path.join(__dirname, '..', 'models', 'mc3_18.pt'), { warmup: false });
  for await (const result of classifyVideos(model, [path.join(dir, 'hls.mp4'), path.join(dir, 'real.mp4')], {
    clipsPerVideo: 1,
    clipLength: 4,
  })) {
    results.push(result);
  }
  model.dispose();
  t.equal(results[0].error?.code, 'ERR_VIDEO_OPEN', 'classifyVideos reports the playlist as failed');
  t.ok(results[1].top?.length > 0, 'and classifies the real clip');
  fs.rmSync(dir, { recursive: true });
});

t.test('a URL-like file name is a local file, never a URL', async (t) => {
  const dir = tempDir();
  // "http:clip.mp4" is a valid file name; FFmpeg must not read it as a URL with the http protocol.
  h264Clip(0.5, path.join(dir, 'http:clip.mp4'));
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    const reader = await openVideo('http:clip.mp4');
    t.equal(reader.info.frameCount, 5, 'opened as the local file');
    reader.close();
  } finally {
    process.chdir(cwd);
  }
  fs.rmSync(dir, { recursive: true });
});

t.test('a header claiming a huge frame is refused naming the size, before any allocation', async (t) => {
  const dir = tempDir();
  // FFV1 in Matroska keeps the frame size only in the container (PixelWidth 0xB0, PixelHeight 0xBA):
  // a 256x256 clip's two-byte sizes are rewritten to 65535x65535.
  const clean = path.join(dir, 'clean.mkv');
  ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=256x256:rate=5', '-t', '0.4', '-c:v', 'ffv1', clean]);
  const bytes = fs.readFileSync(clean);
  for (const element of [Buffer.from('b0820100', 'hex'), Buffer.from('ba820100', 'hex')]) {
    const at = bytes.indexOf(element);
    t.ok(at > 0, `found the size element ${element.toString('hex')}`);
    bytes[at + 2] = 0xff;
    bytes[at + 3] = 0xff;
  }
  const forged = path.join(dir, 'forged.mkv');
  fs.writeFileSync(forged, bytes);

  const reader = await openVideo(clean);
  t.same([reader.info.width, reader.info.height], [256, 256], 'the unforged clip opens');
  reader.close();
  const error = await refusal(forged);
  t.ok(error instanceof TorchVideoError, 'a TorchVideoError');
  t.equal(error?.code, 'ERR_VIDEO_OPEN');
  t.equal(error?.path, forged);
  t.match(error?.message, /its header claims frames of 65535x65535 \(12\.0 GiB per RGB frame\), over the limit of 16384 pixels a side/);
  fs.rmSync(dir, { recursive: true });
});
