'use strict';
// The addon loader: TORCHVIDEO_ADDON picks another build, and a build that cannot load says what to do.
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const t = require('tap');

const root = path.resolve(__dirname, '..');
const loadIn = (env) =>
  spawnSync(process.execPath, ['-e', "console.log(require('.').versions.libtorch)"], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });

t.test('TORCHVIDEO_ADDON loads the build it names', async (t) => {
  const result = loadIn({ TORCHVIDEO_ADDON: path.join(root, 'build', 'Release', 'torchvideo.node') });
  t.equal(result.status, 0, result.stderr);
  t.match(result.stdout, /^\d+\.\d+\.\d+/, 'and the package works (LibTorch version printed)');
});

t.test('a TORCHVIDEO_ADDON that cannot load names itself and lists fixes', async (t) => {
  const missing = path.join(root, 'no-such-build', 'torchvideo.node');
  const result = loadIn({ TORCHVIDEO_ADDON: missing });
  t.not(result.status, 0);
  t.match(result.stderr, `could not load the native addon from TORCHVIDEO_ADDON=${missing}`);
  t.match(result.stderr, /Possible solutions:\n- Build it: npm run build/);
});

t.test('a TORCHVIDEO_ADDON that is not a .node file is refused before loading', async (t) => {
  const result = loadIn({ TORCHVIDEO_ADDON: path.join(root, 'package.json') });
  t.not(result.status, 0);
  t.match(result.stderr, /TORCHVIDEO_ADDON=.*package\.json: TORCHVIDEO_ADDON must name a compiled addon file ending in \.node/);
});
