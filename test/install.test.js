'use strict';
// The install fallback works for a consumer: `npm pack`, install the tarball into a fresh folder outside
// the repository (no prebuilds, none of our devDependencies), and the package builds its addon with
// what a consumer has (cmake, a compiler, the system's LibTorch and FFmpeg, its own dependencies),
// loads, and runs a forward that equals PyTorch's.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const t = require('tap');
const { ROOT, modelPath, tempDir } = require('./helpers/paths');
const { pytorchLogits } = require('./helpers/python-reference');
const { maxAbsDiff, randomFloats } = require('./helpers/numbers');

t.test('npm pack, then npm install of the tarball in a fresh folder builds from source and runs', async (t) => {
  const dir = tempDir('torchvideo-consumer-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const [packed] = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--pack-destination', dir], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  const files = packed.files.map((f) => f.path);
  t.ok(
    files.includes('dist/index.js') && files.includes('CMakeLists.txt') && files.includes('scripts/build-addon.js'),
    'the tarball holds the build inputs',
  );
  t.notOk(
    files.some((f) => f.startsWith('build/') || f.startsWith('models/') || f.startsWith('test/')),
    'and no build output, exports or tests',
  );

  const consumer = path.join(dir, 'app');
  fs.mkdirSync(consumer);
  fs.writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  // TORCHVIDEO_BUILD_FROM_SOURCE: a prebuilds/ folder left by `npm run prebuilds` must not hide the fallback.
  // cmake-js must build from node-api-headers without downloading Node's headers: their mirror is
  // unreachable (a download fails the install) and their folder (npm's nodedir) must stay absent.
  const nodeHeaders = path.join(dir, 'node-headers');
  const env = {
    ...process.env,
    TORCHVIDEO_BUILD_FROM_SOURCE: '1',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_nodedir: nodeHeaders,
    NVM_NODEJS_ORG_MIRROR: 'http://127.0.0.1:9/no-downloads',
  };
  execFileSync('npm', ['install', '--prefer-offline', '--foreground-scripts', path.join(dir, packed.filename)], {
    cwd: consumer,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 20 * 60 * 1000,
  });
  const installed = path.join(consumer, 'node_modules', 'torchvideo');
  t.ok(fs.existsSync(path.join(installed, 'build', 'Release', 'torchvideo.node')), 'the addon was built at install');
  t.ok(fs.existsSync(path.join(consumer, 'node_modules', 'cmake-js', 'package.json')), 'cmake-js came as a dependency');
  const cache = fs.readFileSync(path.join(installed, 'build', 'CMakeCache.txt'), 'utf8');
  t.match(cache, /^CMAKE_JS_VERSION:\w+=\d/m, 'the addon was configured by cmake-js');
  t.match(cache, /^CMAKE_JS_INC:\w+=[^\n]*node-api-headers/m, 'against the node-api-headers package');
  t.notOk(fs.existsSync(nodeHeaders), 'no Node headers were downloaded');

  const shape = [1, 3, 4, 32, 32];
  const input = randomFloats(
    shape.reduce((a, b) => a * b, 1),
    11,
  );
  const inputFile = path.join(dir, 'input.bin');
  fs.writeFileSync(inputFile, Buffer.from(input.buffer));
  const script = `
    const fs = require('node:fs');
    const { loadModel, Tensor } = require('torchvideo');
    (async () => {
      const model = await loadModel(${JSON.stringify(modelPath('mc3_18'))}, { warmup: false });
      const bytes = fs.readFileSync(${JSON.stringify(inputFile)});
      const x = Tensor.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4), ${JSON.stringify(shape)});
      process.stdout.write(JSON.stringify(Array.from((await model.forward(x)).data())));
    })();`;
  const env2 = { ...process.env };
  delete env2.TORCHVIDEO_ADDON;
  const logits = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: consumer, env: env2, encoding: 'utf8' }));
  t.equal(logits.length, 400, '400 logits');
  // The package's surface is its root and the CLI: internals cannot be required, and the type
  // declarations name no native type.
  const probe = `
    const out = {};
    for (const id of ['torchvideo/dist/native.js', 'torchvideo/dist/internal.js', 'torchvideo/dist/video', 'torchvideo/build/Release/torchvideo.node']) {
      try { require(id); out[id] = 'loaded'; } catch (e) { out[id] = e.code; }
    }
    process.stdout.write(JSON.stringify(out));`;
  const reached = JSON.parse(execFileSync(process.execPath, ['-e', probe], { cwd: consumer, env: env2, encoding: 'utf8' }));
  for (const [id, outcome] of Object.entries(reached)) t.equal(outcome, 'ERR_PACKAGE_PATH_NOT_EXPORTED', `${id} is not exported`);
  const declarations = fs.readFileSync(path.join(installed, 'dist', 'index.d.ts'), 'utf8');
  const allDeclarations = fs
    .readdirSync(path.join(installed, 'dist'))
    .filter((f) => f.endsWith('.d.ts') && f !== 'native.d.ts' && f !== 'internal.d.ts')
    .map((f) => fs.readFileSync(path.join(installed, 'dist', f), 'utf8'))
    .join('\n');
  t.notMatch(declarations, /native/i, 'index.d.ts exports nothing native');
  t.notMatch(
    allDeclarations,
    /nativeHandle|readClips|readClipBatch|NativeModel|NativeVideoReader|NativeTensor/,
    'no native type or handle in the public declarations',
  );

  const reference = pytorchLogits('mc3_18', input, shape, { optimize: true });
  const diff = maxAbsDiff(Float32Array.from(logits), reference);
  t.ok(diff <= 1e-5, `logits equal PyTorch's (max abs diff ${diff.toExponential(2)})`);
});
