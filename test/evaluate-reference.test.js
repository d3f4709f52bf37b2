'use strict';
// evaluate() against references: (1) torchvision's references/video_classification evaluate in Python
// (test/py/ref_evaluate.py: VideoClips, UniformClipSampler, VideoClassification, batches spanning videos,
// the same export frozen and optimized) on a labelled set of fixtures and, when present, the real clips
// in ../shared/videos: clip and video acc@1/acc@5 and the counts equal exactly, per-video probabilities
// within 1e-5; (2) solid-colour videos and an export whose fc makes each colour's class win
// (test/py/make_colour_classifier.py), one video filed under a wrong colour: exact known accuracies.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const t = require('tap');
const { loadModel, evaluate } = require('..');
const { fixture } = require('./helpers/fixtures');
const { ROOT, SHARED_VIDEOS, modelPath, tempDir } = require('./helpers/paths');
const { PYTHON, pythonReference } = require('./helpers/python-reference');
const { maxAbsDiff } = require('./helpers/numbers');

const TOLERANCE = 1e-5;
const root = tempDir('torchvideo-eval-ref-');
t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));

// The fixtures (>= 2 s, so 16 frames at 15 fps without padding: torchvision drops shorter videos), then the real clips.
// Kept to 8 videos (24 clips, each run by both pipelines) for the test's time on 2 loaded cores.
const FIXTURES = ['h264-8s.mp4', 'mpeg4-7s.avi', 'vp9.webm', 'h264.mkv', 'portrait.mp4'];
const SHARED = ['mmaction2__test.avi', 'decord__flipping_a_pancake.mkv', 'askanything__making_cake.mp4'];
// Video i is filed under the class the network ranks RANKS[i]-th by its score: 0 is a top-1 hit, 1-4 a
// top-5 hit only, 5 and more a miss at both; clips vary around their video.
const RANKS = [0, 1, 0, 4, 5, 0, 2, 30];

// The reference's videos, with each filed under the class the reference ranks RANKS[i]-th.
function referenceSources() {
  const sources = FIXTURES.map((name) => fixture(name));
  for (const name of SHARED) {
    const file = path.join(SHARED_VIDEOS, name);
    if (fs.existsSync(file)) sources.push(file);
  }
  return sources;
}

const OPTIONS = { clipsPerVideo: 3, clipLength: 16, frameRate: 15, batchSize: 4 };
const references = new Map();
function reference(sources, crops) {
  if (!references.has(crops)) {
    const spec = path.join(root, `spec-${crops}.json`);
    fs.writeFileSync(spec, JSON.stringify({ videos: sources.map((file, i) => ({ path: file, rank: RANKS[i % RANKS.length] })) }));
    const { json, bytes } = pythonReference('ref_evaluate.py', [
      '--model',
      modelPath('mc3_18'),
      '--spec',
      spec,
      '--clips',
      String(OPTIONS.clipsPerVideo),
      '--clip-len',
      String(OPTIONS.clipLength),
      '--frame-rate',
      String(OPTIONS.frameRate),
      '--batch-size',
      String(OPTIONS.batchSize),
      '--crops',
      String(crops),
    ]);
    references.set(crops, { ref: json, refProbs: new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4) });
  }
  return references.get(crops);
}

// Each variant runs torchvideo's whole pipeline on the set the reference labelled. 'device' preprocessing
// runs the same arithmetic on the model's executor (here the CPU), so it meets the same reference.
const VARIANTS = [
  { name: 'centre crop, preprocessed on the decode pool', crops: 1, extra: {} },
  { name: 'ThreeCrop (crops 3)', crops: 3, extra: { crops: 3 } },
  {
    name: "preprocessOn 'device', 2 decode threads, prefetch 0",
    crops: 1,
    extra: { preprocessOn: 'device', decodeThreads: 2, prefetch: 0 },
  },
];

for (const variant of VARIANTS) {
  t.test(`the full pipeline equals torchvision's evaluate: ${variant.name}`, async (t) => {
    const sources = referenceSources();
    const { ref, refProbs } = reference(sources, variant.crops);
    t.same(
      ref.clipsPerVideo,
      sources.map(() => OPTIONS.clipsPerVideo),
      `torchvision samples ${OPTIONS.clipsPerVideo} clips of each of the ${sources.length} videos`,
    );

    const model = await loadModel(modelPath('mc3_18'), { warmup: false });
    t.teardown(() => model.dispose());
    const numClasses = model.info.labels.length;
    const set = path.join(root, `set-${VARIANTS.indexOf(variant)}`);
    const fileOf = new Map(); // copied file -> index into the reference's videos
    for (const [i, source] of sources.entries()) {
      const dir = path.join(set, model.info.labels[ref.labels[i]]);
      fs.mkdirSync(dir, { recursive: true });
      const file = path.join(dir, `${i}-${path.basename(source)}`);
      fs.copyFileSync(source, file);
      fileOf.set(file, i);
    }

    const report = await evaluate({ model, data: set, ...OPTIONS, ...variant.extra });
    t.same(report.failed, [], 'every video evaluated');
    t.equal(report.options.crops, variant.crops, `the report records crops ${variant.crops}`);
    t.equal(report.videos, ref.videos, `videos: ${ref.videos}`);
    t.equal(report.clips, ref.clips, `clips: ${ref.clips}`);
    t.equal(report.clipAcc1, ref.clipAcc1, `clip acc@1 ${ref.clipHits1}/${ref.clips}`);
    t.equal(report.clipAcc5, ref.clipAcc5, `clip acc@5 ${ref.clipHits5}/${ref.clips}`);
    t.equal(report.videoAcc1, ref.videoAcc1, `video acc@1 ${ref.videoHits1}/${ref.videos}`);
    t.equal(report.videoAcc5, ref.videoAcc5, `video acc@5 ${ref.videoHits5}/${ref.videos}`);
    t.ok(ref.videoHits1 > 0 && ref.videoHits5 > ref.videoHits1 && ref.videoHits5 < ref.videos, 'hits and misses at both k');
    let worst = 0;
    for (const prediction of report.predictions) {
      const i = fileOf.get(prediction.path);
      t.equal(prediction.clips, OPTIONS.clipsPerVideo, `${path.basename(prediction.path)}: ${OPTIONS.clipsPerVideo} clips`);
      t.equal(prediction.label, model.info.labels[ref.labels[i]], 'labelled by its folder');
      const diff = maxAbsDiff(prediction.probs, refProbs.subarray(i * numClasses, (i + 1) * numClasses));
      worst = Math.max(worst, diff);
      t.ok(diff <= TOLERANCE, `${path.basename(prediction.path)}: probabilities equal torchvision's (max diff ${diff.toExponential(1)})`);
    }
    t.comment(`${sources.length} videos, worst probability diff ${worst.toExponential(2)}`);
  });
}

// A colour's videos are one flat colour throughout, so every clip of a video gets the same answer.
const COLOURS = ['red', 'green', 'blue', 'yellow'];

function colourVideo(file, colour) {
  const args = ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `color=c=${colour}:s=160x120:r=25:d=3`];
  execFileSync('ffmpeg', [...args, '-c:v', 'libx264', '-pix_fmt', 'yuv420p', file], { stdio: 'inherit' });
}

t.test('solid colours with a colour classifier: exact known accuracies and confusion', async (t) => {
  const dir = path.join(root, 'colours');
  const made = path.join(dir, 'made');
  fs.mkdirSync(made, { recursive: true });
  const videos = []; // [file, true colour]
  for (const colour of COLOURS) {
    for (const n of [1, 2]) {
      const file = path.join(made, `${colour}-${n}.mp4`);
      colourVideo(file, colour);
      videos.push([file, colour]);
    }
  }
  const exported = path.join(dir, 'colours.pt');
  const built = execFileSync(
    PYTHON,
    [
      path.join(ROOT, 'test', 'py', 'make_colour_classifier.py'),
      '--labels',
      COLOURS.join(','),
      '--videos',
      COLOURS.map((c) => path.join(made, `${c}-1.mp4`)).join(','),
      '--out',
      exported,
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const { margins } = JSON.parse(built.trim().split('\n').pop());
  t.comment(`fc margins on the fitted clips: ${margins.map((m) => m.toFixed(2)).join(', ')}`);

  // Filed by colour, except one blue video filed under red.
  const wrong = { file: 'blue-2.mp4', folder: 'red', truth: 'blue' };
  const set = path.join(dir, 'set');
  for (const [file, colour] of videos) {
    const folder = path.basename(file) === wrong.file ? wrong.folder : colour;
    fs.mkdirSync(path.join(set, folder), { recursive: true });
    fs.copyFileSync(file, path.join(set, folder, path.basename(file)));
  }

  // 2 clips a video in batches of 3, so batches span videos.
  const clipsPerVideo = 2;
  const model = await loadModel(exported, { warmup: false });
  t.teardown(() => model.dispose());
  const report = await evaluate({ model, data: set, clipsPerVideo, clipLength: 16, batchSize: 3 });
  const n = videos.length;
  t.same(report.model.labels, COLOURS, "the sidecar's labels");
  t.same(report.failed, []);
  t.equal(report.videos, n);
  t.equal(report.clips, n * clipsPerVideo);
  t.equal(report.videoAcc1, (n - 1) / n, 'video acc@1: all but the misfiled video');
  t.equal(report.clipAcc1, (n - 1) / n, "clip acc@1: all clips but the misfiled video's");
  t.equal(report.clipAcc5, 1, 'acc@5 is acc@4 of 4 classes: every clip');
  t.equal(report.videoAcc5, 1);
  for (const p of report.predictions) {
    const expected = path.basename(p.path) === wrong.file ? 0 : clipsPerVideo;
    t.equal(p.clipHits1, expected, `${p.label}/${path.basename(p.path)}: ${expected} clips right`);
  }
  // metrics.ts: the mean over classes with videos of each class's video acc@1 (red: 2 of its 3 videos).
  const perClass = COLOURS.map((c) => (c === wrong.folder ? 2 / 3 : 1));
  t.equal(report.meanClassAcc1, perClass.reduce((total, a) => total + a, 0) / perClass.length, 'mean class accuracy');
  t.same(
    report.perClass.map((c) => [c.label, c.videos, c.acc1]),
    COLOURS.map((c, i) => [c, c === wrong.folder ? 3 : c === wrong.truth ? 1 : 2, perClass[i]]),
    'per-class videos and acc@1',
  );
  const expected = COLOURS.map((_, i) => COLOURS.map((__, j) => (i === j ? 2 : 0)));
  expected[COLOURS.indexOf(wrong.truth)][COLOURS.indexOf(wrong.truth)] = 1;
  expected[COLOURS.indexOf(wrong.folder)][COLOURS.indexOf(wrong.truth)] = 1;
  t.same(report.confusion, expected, 'confusion: one off-diagonal count, at [red][blue]');
});
