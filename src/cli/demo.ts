// torchvideo demo [videos...]: the README's main job. Classifies real video with each network (the given
// paths, else the clips in ../shared/videos when present plus clips made here with ffmpeg), then runs the
// offline fine-tuning demo (demo-finetune.ts) unless --skip-finetune.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { classifyVideos } from '../classify';
import { parseCommand, printUsage } from './args';
import { runFineTuneDemo } from './demo-finetune';
import { StopOnSignals } from './signals';
import { abortError } from '../abort';
import { loadModel } from '../model';
import { versions } from '../versions';

export const DEMO_USAGE = `torchvideo demo [video...] [--models DIR] [--device cpu|cuda] [--skip-finetune] [--out DIR]
                   classify real video with each network, then fine-tune one offline`;

const ARCHS = ['r3d_18', 'mc3_18', 'r2plus1d_18'];
const ROOT = path.resolve(__dirname, '..', '..');
const SHARED_VIDEOS = path.resolve(ROOT, '..', 'shared', 'videos');

// Synthetic but real encoded videos, made by the ffmpeg CLI from its built-in sources.
const GENERATED = [
  { name: 'testsrc2.mp4', source: 'testsrc2=size=320x240:rate=30', seconds: 4 },
  { name: 'mandelbrot.mkv', source: 'mandelbrot=size=320x240:rate=25', seconds: 4 },
  { name: 'life.avi', source: 'life=size=320x240:rate=25:mold=10:ratio=0.5', seconds: 4, codec: ['-c:v', 'mpeg4', '-q:v', '4'] },
];

function makeDemoVideos(dir: string): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const made: string[] = [];
  for (const video of GENERATED) {
    const file = path.join(dir, video.name);
    if (!fs.existsSync(file)) {
      const codec = video.codec ?? ['-c:v', 'libx264', '-pix_fmt', 'yuv420p'];
      try {
        execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', video.source, '-t', String(video.seconds), ...codec, file], {
          stdio: ['ignore', 'ignore', 'inherit'],
        });
      } catch {
        console.error(`demo: could not make ${video.name} with the ffmpeg CLI (apt-get install ffmpeg); skipping it`);
        continue;
      }
    }
    made.push(file);
  }
  return made;
}

function demoVideos(): string[] {
  const shared = fs.existsSync(SHARED_VIDEOS)
    ? fs
        .readdirSync(SHARED_VIDEOS)
        .filter((f) => /\.(mp4|mkv|avi|webm)$/i.test(f))
        .sort()
        .map((f) => path.join(SHARED_VIDEOS, f))
    : [];
  return [...shared, ...makeDemoVideos(path.join(ROOT, 'demo-videos'))];
}

/**
 * Runs the demo; resolves to the exit code (1 if a video failed; 130 / 143 when SIGINT / SIGTERM stopped it).
 * @throws {TypeError} an unknown flag; {TorchVideoError} a model that cannot load.
 */
export async function runDemo(argv: string[]): Promise<number> {
  const parsed = parseCommand(
    argv,
    {
      models: { type: 'string', default: path.join(ROOT, 'models') },
      device: { type: 'string', default: 'cpu' },
      'skip-finetune': { type: 'boolean', default: false },
      out: { type: 'string', default: path.join(ROOT, 'demo-out') },
    },
    DEMO_USAGE,
  );
  if (parsed === 'help') return printUsage(DEMO_USAGE);
  const { values, positionals } = parsed;
  const stop = new StopOnSignals();
  try {
    return await demo(values, positionals, stop.signal);
  } catch (error) {
    if ((error as Error).name !== 'AbortError') throw error;
    return stop.exitCode;
  } finally {
    if (stop.signal.aborted) process.stderr.write(`demo: interrupted (${stop.received ?? 'aborted'})\n`);
    stop.dispose();
  }
}

async function demo(
  values: { models: string; device: string; 'skip-finetune': boolean; out: string },
  positionals: string[],
  signal: AbortSignal,
): Promise<number> {
  const videos = positionals.length > 0 ? positionals : demoVideos();
  console.log(`torchvideo ${versions.torchvideo} (LibTorch ${versions.libtorch}, FFmpeg ${versions.ffmpeg})`);
  console.log(`classifying ${videos.length} videos with each network: 5 clips of 16 frames at 15 fps per video\n`);
  let failures = 0;
  let randomWeights = false;
  for (const arch of ARCHS) {
    if (signal.aborted) throw abortError('the demo was interrupted');
    const loadStart = performance.now();
    const model = await loadModel(path.join(values.models, `${arch}.pt`), { device: values.device });
    try {
      randomWeights ||= model.info.weights?.startsWith('none') ?? false;
      console.log(
        `${arch}: ${model.info.parameters.toLocaleString('en')} parameters, weights ${model.info.weights ?? 'unknown'}, ` +
          `loaded and warmed up in ${((performance.now() - loadStart) / 1000).toFixed(1)} s`,
      );
      let last = performance.now();
      for await (const result of classifyVideos(model, videos, { topk: 3 })) {
        // Between videos: the one being classified finishes, the rest are not started.
        if (signal.aborted) throw abortError('the demo was interrupted');
        const ms = performance.now() - last;
        last = performance.now();
        const name = path.basename(result.path).padEnd(34);
        if (result.error) {
          failures++;
          console.log(`  ${name} failed: ${result.error.message}`);
          continue;
        }
        const labels = (result.top ?? []).map((p) => `${p.label} ${(p.score * 100).toFixed(1)}%`).join(', ');
        console.log(`  ${name} ${ms.toFixed(0).padStart(5)} ms  ${labels}`);
      }
    } finally {
      model.dispose();
    }
    console.log();
  }
  if (randomWeights) {
    console.log(
      'Note: these exports have random weights, so the labels above are random. For real predictions export\n' +
        'pretrained weights: /usr/bin/python3 scripts/export_models.py --arch all --weights KINETICS400_V1 --force\n' +
        '(needs a download), or --weights /path/to/state_dict.pth for a local torchvision checkpoint.',
    );
  }
  if (failures > 0) return 1;
  if (values['skip-finetune']) return 0;
  console.log();
  return runFineTuneDemo(values.models, values.out, values.device, signal);
}
