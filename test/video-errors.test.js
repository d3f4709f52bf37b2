'use strict';
// Every bad file ends in a TorchVideoError with a code and the path: no crash, and no decoder,
// file handle or memory left behind (500 bad opens in a loop).
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const t = require('tap');
const { openVideo, TorchVideoError } = require('..');
const { fixture } = require('./helpers/fixtures');
const { tempDir } = require('./helpers/paths');
const { checkRssGrowth } = require('./helpers/rss');

async function expectVideoError(t, file, code, message) {
  const error = await openVideo(file).then(
    () => null,
    (e) => e,
  );
  t.ok(error instanceof TorchVideoError, `${path.basename(file)}: a TorchVideoError`);
  t.equal(error?.code, code, `${path.basename(file)}: ${code}`);
  t.equal(error?.path, file, 'the error names the path');
  t.match(error?.message, message);
  t.match(error?.stack, /video-errors\.test\.js/, "the stack points at the caller's line");
}

t.test('bad files give a TorchVideoError naming the file', async (t) => {
  const dir = tempDir();
  await expectVideoError(t, path.join(dir, 'missing.mp4'), 'ERR_FILE_NOT_FOUND', /video file not found: '.*missing\.mp4'/);
  await expectVideoError(t, dir, 'ERR_NOT_A_FILE', /video path '.*' is a directory, not a file/);
  await expectVideoError(
    t,
    fixture('text.mp4'),
    'ERR_VIDEO_OPEN',
    /cannot open video '.*text\.mp4': Invalid data found when processing input/,
  );
  await expectVideoError(t, fixture('empty.mp4'), 'ERR_VIDEO_OPEN', /empty\.mp4/);
  await expectVideoError(t, fixture('truncated-no-moov.mp4'), 'ERR_VIDEO_OPEN', /truncated-no-moov\.mp4/);
  await expectVideoError(t, fixture('audio-only.m4a'), 'ERR_NO_VIDEO_STREAM', /no video stream/);
  await expectVideoError(t, fixture('unknown-codec.avi'), 'ERR_VIDEO_DECODE', /unknown-codec\.avi/);
  fs.rmSync(dir, { recursive: true });
});

t.test('a file cut mid-mdat opens, and the frames past the cut fail by name', async (t) => {
  const file = fixture('truncated-mid-mdat.mp4');
  const reader = await openVideo(file);
  const head = await reader.readFrames([0, 1, 2]);
  t.same(head.shape, [3, 240, 320, 3], 'frames before the cut decode');
  const error = await reader.readFrames([reader.info.frameCount - 1]).catch((e) => e);
  t.ok(error instanceof TorchVideoError);
  t.equal(error.code, 'ERR_VIDEO_DECODE');
  t.equal(error.path, file);
  t.match(error.message, new RegExp(`frame ${reader.info.frameCount - 1}`));
  reader.close();
});

t.test('bad arguments to openVideo', async (t) => {
  await t.rejects(openVideo(), { name: 'TypeError', message: /expected path to be a string, got undefined/ });
  await t.rejects(openVideo(42), { name: 'TypeError', message: /expected path to be a string, got number 42/ });
  await t.rejects(openVideo(''), { name: 'RangeError', message: /expected path to be a non-empty string/ });
});

t.test('500 bad opens leak no file descriptors, decoders or memory', async (t) => {
  const bad = [
    fixture('text.mp4'),
    fixture('empty.mp4'),
    fixture('truncated-no-moov.mp4'),
    fixture('audio-only.m4a'),
    fixture('unknown-codec.avi'),
  ];
  const openFds = () => fs.readdirSync('/proc/self/fd').length;
  const round = async (count) => {
    for (let i = 0; i < count; i++) await openVideo(bad[i % bad.length]).catch(() => {});
  };
  await round(50); // settle allocator pools and thread start-up
  if (global.gc) global.gc();
  const fdsBefore = openFds();
  const rssBefore = process.memoryUsage().rss;
  await round(500);
  if (global.gc) global.gc();
  t.equal(openFds(), fdsBefore, `open fds unchanged (${fdsBefore})`);
  const growthMb = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
  checkRssGrowth(t, growthMb, 32, 'over 500 bad opens');
});

t.test('the unknown-codec fixture holds a video stream FFmpeg cannot decode', async (t) => {
  // Guard for the fixture itself: FFmpeg demuxes it and sees a video stream with no decoder.
  const probe = execFileSync(
    'ffprobe',
    ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name', '-of', 'csv=p=0', fixture('unknown-codec.avi')],
    {
      encoding: 'utf8',
    },
  );
  t.match(probe, /video/);
  t.notMatch(probe, /mjpeg/);
});

// Bytes scribbled over inside the media data (the file still opens and indexes): the decoder flags
// damaged frames. With frame threads which frame comes out flagged first depends on timing; the frame
// the error names must not.
function scribbled(name) {
  const bytes = Buffer.from(fs.readFileSync(fixture(name)));
  let seed = 12345;
  const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (let run = 0; run < 40; run++) {
    const at = Math.floor(bytes.length * (0.3 + 0.6 * random()));
    for (let j = 0; j < 16; j++) bytes[at + j] = Math.floor(random() * 256);
  }
  const file = path.join(tempDir(), `scribbled-${name}`);
  fs.writeFileSync(file, bytes);
  return file;
}

for (const name of ['h264.mp4', 'xvid.avi', 'hd-720p.mp4']) {
  t.test(`a damaged ${name} names the same frame on every run`, async (t) => {
    const file = scribbled(name);
    const messages = new Set();
    for (let run = 0; run < 6; run++) {
      const reader = await openVideo(file);
      const all = Array.from({ length: reader.info.frameCount }, (_, i) => i);
      const error = await reader.readFrames(all).then(
        () => null,
        (e) => e,
      );
      reader.close();
      t.ok(error, `run ${run + 1}: the damage is reported`);
      t.equal(error?.code, 'ERR_VIDEO_DECODE');
      messages.add(error?.message);
    }
    t.equal(messages.size, 1, `one message over 6 runs: ${[...messages].join(' | ')}`);
    t.match([...messages][0], /cannot decode frame \d+ of \d+ in '.*scribbled/);
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  });
}
