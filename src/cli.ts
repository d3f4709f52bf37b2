#!/usr/bin/env node
// The `torchvideo` command line: `demo` (the README's main job) and, with video support, `classify`.
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel } from './model';
import { Tensor } from './tensor';
import { softmax, topK } from './topk';
import { versions } from './versions';

const ARCHS = ['r3d_18', 'mc3_18', 'r2plus1d_18'] as const;

const USAGE = `Usage:
  torchvideo demo [--models DIR]           classify a random clip with each network, with timings
  torchvideo --version
`;

function randomClip(shape: number[]): Tensor {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = Math.random() * 2 - 1;
  return Tensor.from(data, shape);
}

async function demo(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { models: { type: 'string', default: 'models' } } });
  const modelsDir = path.resolve(values.models as string);
  console.log(`torchvideo ${versions.torchvideo} (LibTorch ${versions.libtorch}, FFmpeg ${versions.ffmpeg})`);
  for (const arch of ARCHS) {
    const loadStart = performance.now();
    const model = await loadModel(path.join(modelsDir, `${arch}.pt`));
    const loadMs = performance.now() - loadStart;
    const { clipLength, cropSize } = model.info.preprocessing;
    const clip = randomClip([1, 3, clipLength, cropSize[0], cropSize[1]]);
    const forwardStart = performance.now();
    const logits = await model.forward(clip);
    const forwardMs = performance.now() - forwardStart;
    console.log(`\n${arch} (${model.info.parameters.toLocaleString('en')} parameters, weights: ${model.info.weights ?? 'unknown'})`);
    console.log(`  load + warm-up ${(loadMs / 1000).toFixed(1)} s, forward ${forwardMs.toFixed(0)} ms for one ${clipLength}x${cropSize[0]}x${cropSize[1]} clip`);
    for (const [rank, p] of topK(softmax(logits.data() as Float32Array), model.info.labels, 5).entries()) {
      console.log(`  ${rank + 1}. ${p.label.padEnd(32)} ${(p.score * 100).toFixed(2)}%`);
    }
    if (model.info.weights?.startsWith('none')) {
      console.log('  (random weights give random labels: export pretrained ones to get real predictions)');
    }
    clip.dispose();
    logits.dispose();
    model.dispose();
  }
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'demo':
      return demo(rest);
    case '--version':
      console.log(versions.torchvideo);
      return 0;
    case undefined:
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`torchvideo: unknown command '${command}'\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`torchvideo: ${message}\n`);
    process.exitCode = 1;
  },
);
