// torchvideo quantize --model ft/model.pt --precision int8 --calibrate DIR: a bf16 or int8 export of a
// network (a fine-tuned one from fineTune, or any of the three exports) from the shell. The conversion is
// PyTorch's (FX static quantization, bf16 freezing): this runs scripts/export_models.py --model with the
// Python that has torch, says so, and passes its output through. Calibration clips are decoded and
// preprocessed by torchvideo itself (scripts/calibration-clips.js, which the export runs).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TorchVideoError } from '../errors';
import { parseCommand, positiveIntegerFlag, printUsage, requiredFlag } from './args';
import { SIGNAL_EXIT_CODES, type StopSignal } from './signals';

export const QUANTIZE_USAGE = `torchvideo quantize --model MODEL.pt --precision bf16|int8 [--calibrate DATA|random] [--calibration-clips 64]
                   [--agreement-clips 32] [--out FILE.pt]   a low-precision export (runs PyTorch: $TORCHVIDEO_PYTHON, else /usr/bin/python3)`;

const EXPORT_SCRIPT = path.join(__dirname, '..', '..', 'scripts', 'export_models.py');

/** The Python with torch and torchvision: $TORCHVIDEO_PYTHON, else Debian's /usr/bin/python3, else python3. */
function python(): string {
  if (process.env.TORCHVIDEO_PYTHON) return process.env.TORCHVIDEO_PYTHON;
  return fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

const count = (text: string | undefined, flag: string) => positiveIntegerFlag(text, flag)?.toString();

/**
 * The export_models.py arguments for a command line, every flag checked first ('help' for --help).
 * @throws {RangeError} a bad or missing flag; {TypeError} an unknown one; {TorchVideoError} a missing file.
 */
export function quantizeArguments(argv: string[]): string[] | 'help' {
  const parsed = parseCommand(
    argv,
    {
      model: { type: 'string' },
      precision: { type: 'string' },
      calibrate: { type: 'string' },
      'calibration-clips': { type: 'string' },
      'agreement-clips': { type: 'string' },
      out: { type: 'string' },
    },
    QUANTIZE_USAGE,
  );
  if (parsed === 'help') return 'help';
  const { values, positionals } = parsed;
  if (positionals.length > 0) throw new RangeError(`unexpected argument '${positionals[0]}'\nUsage: ${QUANTIZE_USAGE}`);
  requiredFlag(values.model, '--model MODEL.pt (the float32 export to convert)', QUANTIZE_USAGE);
  if (values.precision !== 'bf16' && values.precision !== 'int8') {
    throw new RangeError(`expected --precision bf16 or int8, got ${values.precision === undefined ? 'nothing' : `'${values.precision}'`}`);
  }
  if (values.precision === 'int8' && values.calibrate === undefined) {
    throw new RangeError('int8 needs calibration clips: --calibrate DATA (a labelled set: root/<class>/<video>, CSV or list)');
  }
  if (values.precision === 'bf16' && (values.calibrate !== undefined || values['calibration-clips'] !== undefined)) {
    throw new RangeError('--calibrate and --calibration-clips are for int8: bf16 needs no calibration');
  }
  if (!fs.existsSync(values.model)) {
    const error = new TorchVideoError(`--model: no such file '${values.model}'`, 'ERR_FILE_NOT_FOUND');
    error.path = values.model;
    throw error;
  }
  if (values.calibrate !== undefined && values.calibrate !== 'random' && !fs.existsSync(values.calibrate)) {
    const error = new TorchVideoError(`--calibrate: no such dataset '${values.calibrate}'`, 'ERR_FILE_NOT_FOUND');
    error.path = values.calibrate;
    throw error;
  }
  const args = [EXPORT_SCRIPT, '--model', values.model, '--precision', values.precision];
  if (values.calibrate !== undefined) args.push('--calibrate', values.calibrate);
  const calibrationClips = count(values['calibration-clips'], 'calibration-clips');
  if (calibrationClips !== undefined) args.push('--calibration-clips', calibrationClips);
  const agreementClips = count(values['agreement-clips'], 'agreement-clips');
  if (agreementClips !== undefined) args.push('--agreement-clips', agreementClips);
  if (values.out !== undefined) args.push('--out-file', values.out);
  return args;
}

/**
 * Runs the export; resolves to its exit code (130 / 143 when SIGINT / SIGTERM stopped it: the signal is
 * passed on to the export, which leaves no partial file).
 * @throws see quantizeArguments; {TorchVideoError} ERR_NATIVE when the Python cannot start.
 */
export async function runQuantize(argv: string[]): Promise<number> {
  const args = quantizeArguments(argv);
  if (args === 'help') return printUsage(QUANTIZE_USAGE);
  const interpreter = python();
  process.stderr.write(
    `torchvideo: converting with PyTorch: ${interpreter} ${args.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}\n`,
  );
  // A SIGTERM meant for this command reaches the export too (Ctrl-C reaches both from the terminal): the
  // command ends with it, 130 or 143 as every long command does, not before its child.
  const child = spawn(interpreter, args, { stdio: 'inherit' });
  let received: StopSignal | undefined;
  const handlers = (Object.keys(SIGNAL_EXIT_CODES) as StopSignal[]).map((name) => {
    const handler = () => {
      received ??= name;
      child.kill(name);
    };
    process.on(name, handler);
    return [name, handler] as const;
  });
  try {
    return await new Promise((resolve, reject) => {
      child.on('error', (error) =>
        reject(
          new TorchVideoError(`cannot run ${interpreter} (set TORCHVIDEO_PYTHON to a Python with torch): ${error.message}`, 'ERR_NATIVE'),
        ),
      );
      child.on('close', (code, signal) => {
        if (received !== undefined) resolve(SIGNAL_EXIT_CODES[received]);
        else resolve(code ?? 128 + (signal === null ? 0 : (os.constants.signals[signal] ?? 0)));
      });
    });
  } finally {
    for (const [name, handler] of handlers) process.removeListener(name, handler);
  }
}
