'use strict';
// Where loadDataset keeps a dataset's metadata index: in the user's cache folder ($XDG_CACHE_HOME/torchvideo)
// or `indexDir`, one file per dataset keyed by its real path, never inside the dataset (which may be
// read-only or shared); a symlink planted at the index's name is neither read nor written through; an
// index an older release left beside the dataset is still read.
const fs = require('node:fs');
const path = require('node:path');
const t = require('tap');
const { loadDataset } = require('..');
const { fixture } = require('./helpers/fixtures');
const { tempDir } = require('./helpers/paths');

const root = tempDir('torchvideo-index-');
const cache = path.join(root, 'cache');
process.env.XDG_CACHE_HOME = cache;
t.teardown(() => {
  for (const dir of listing(root, true)) fs.chmodSync(path.join(root, dir), 0o755);
  fs.rmSync(root, { recursive: true, force: true });
});

// Every entry under `dir`, hidden ones included (folders only with `foldersOnly`).
function listing(dir, foldersOnly = false) {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => !foldersOnly || entry.isDirectory())
    .map((entry) => path.relative(dir, path.join(entry.parentPath ?? entry.path, entry.name)))
    .sort();
}

// A two-class set of real videos: root/<name>/{jump,run}/<video>.
function makeSet(name) {
  const dir = path.join(root, name);
  for (const [label, video] of [
    ['jump', 'h264.mp4'],
    ['run', 'five-frames.mp4'],
  ]) {
    fs.mkdirSync(path.join(dir, label), { recursive: true });
    fs.copyFileSync(fixture(video), path.join(dir, label, video));
  }
  return dir;
}

t.test('a read-only dataset loads, and nothing is written into it', async (t) => {
  const data = makeSet('read-only');
  const before = listing(data);
  // Read-only for every user but root (a root test still checks that nothing appeared).
  for (const dir of ['jump', 'run', '.']) fs.chmodSync(path.join(data, dir), 0o555);
  const dataset = await loadDataset(data);
  t.equal(dataset.videos.length, 2);
  t.same(dataset.failed, []);
  t.same(listing(data), before, 'the dataset folder is as it was');
  t.equal(path.dirname(dataset.indexPath), path.join(cache, 'torchvideo'), 'the index is in $XDG_CACHE_HOME/torchvideo');
  t.ok(fs.existsSync(dataset.indexPath), 'and written there');
  t.equal(fs.statSync(path.join(cache, 'torchvideo')).mode & 0o777, 0o700, 'the cache folder is private');
  const again = await loadDataset(data);
  t.equal(again.indexPath, dataset.indexPath, 'the same index the next time');
  t.same(
    again.videos.map((v) => v.info),
    dataset.videos.map((v) => v.info),
  );
});

t.test('datasets never share an index; indexDir puts it elsewhere', async (t) => {
  // Two folders of the same name in different places.
  const a = makeSet(path.join('one', 'set'));
  const b = makeSet(path.join('two', 'set'));
  const [first, second] = [await loadDataset(a), await loadDataset(b)];
  t.not(first.indexPath, second.indexPath, 'one index file per dataset');
  t.match(path.basename(first.indexPath), /^set-[0-9a-f]{32}\.index\.json$/, 'named after the dataset and a hash of its real path');
  // A symlink to a dataset is the dataset: the same index.
  fs.symlinkSync(a, path.join(root, 'link-to-one'));
  t.equal((await loadDataset(path.join(root, 'link-to-one'))).indexPath, first.indexPath, 'keyed by the real path');
  const indexDir = path.join(root, 'my-indexes');
  const elsewhere = await loadDataset(a, { indexDir });
  t.equal(path.dirname(elsewhere.indexPath), indexDir);
  t.ok(fs.existsSync(elsewhere.indexPath));
  await t.rejects(loadDataset(a, { indexDir: 3 }), { name: 'TypeError', message: /options.indexDir/ });
});

t.test('a symlink planted where the index goes is neither read nor written through', async (t) => {
  const data = makeSet('planted');
  const { indexPath, videos } = await loadDataset(data);
  // A forged index that would make the video look 12345 frames long, if read.
  const forged = path.join(root, 'forged-index.json');
  const video = videos[0];
  const entry = { ...video.info, frameCount: 12345 };
  const forgedText = JSON.stringify({ version: 2, videos: { [video.path]: entry } });
  fs.writeFileSync(forged, forgedText);
  fs.rmSync(indexPath);
  fs.symlinkSync(forged, indexPath);
  const dataset = await loadDataset(data);
  t.equal(dataset.videos[0].info.frameCount, video.info.frameCount, 'the real frame count: the link was not read');
  t.equal(fs.readFileSync(forged, 'utf8'), forgedText, "the link's target is unchanged");
  t.notOk(fs.lstatSync(indexPath).isSymbolicLink(), 'the index is a file of its own again');
});

t.test('an index an older release left inside the dataset is still read', async (t) => {
  const data = makeSet('legacy');
  // What the dataset would index to, from another cache.
  const { videos } = await loadDataset(data, { indexDir: path.join(root, 'other-cache') });
  const legacy = path.join(data, '.torchvideo-index.json');
  const marked = Object.fromEntries(videos.map((v) => [v.path, { ...v.info, codec: 'from-the-old-index' }]));
  fs.writeFileSync(legacy, JSON.stringify({ version: 2, videos: marked }));
  const legacyText = fs.readFileSync(legacy, 'utf8');
  const dataset = await loadDataset(data);
  t.same(
    dataset.videos.map((v) => v.info.codec),
    ['from-the-old-index', 'from-the-old-index'],
    'entries taken from the old index',
  );
  t.equal(fs.readFileSync(legacy, 'utf8'), legacyText, 'the old index is not rewritten');
  t.not(dataset.indexPath, legacy, 'the index is now in the cache');
});
