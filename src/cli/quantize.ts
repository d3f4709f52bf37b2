// torchvideo quantize --model ft/model.pt --precision int8 --calibrate DIR: a bf16 or int8 export of a
// network (a fine-tuned one from fineTune, or any of the three exports) from the shell. The conversion is
// PyTorch's (FX static quantization, bf16 freezing): this runs scripts/export_models.py --model with the
// Python that has torch, says so, and passes its output through. Calibration clips are decoded and
// preprocessed by torchvideo itself (scripts/calibration-clips.js, which the export runs).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { TorchVideoError } from '../errors';

export const QUANTIZE_USAGE = `torchvideo quantize --model MODEL.pt --precision bf16|int8 [--calibrate DATA|random] [--calibration-clips 64]
                   [--agreement-clips 32] [--out FILE.pt]   a low-precision export (runs PyTorch: $TORCHVIDEO_PYTHON, else /usr/bin/python3)`;

const EXPORT_SCRIPT = path.join(__dirname, '..', '..', 'scripts', 'export_models.py');

/** The Python with torch and torchvision: $TORCHVIDEO_PYTHON, else Debian's /usr/bin/python3, else python3. */
function python(): string {
  if (process.env.TORCHVIDEO_PYTHON) return process.env.TORCHVIDEO_PYTHON;
  return fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

function count(text: string | undefined, flag: string): string | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new RangeError(`expected --${flag} to be a positive integer, got '${text}'`);
  return text;
}

/** The export_models.py arguments for a command line, every flag checked first. */
export function quantizeArguments(argv: string[]): string[] {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        model: { type: 'string' },
        precision: { type: 'string' },
        calibrate: { type: 'string' },
        'calibration-clips': { type: 'string' },
        'agreement-clips': { type: 'string' },
        out: { type: 'string' },
      },
    });
  } catch (error) {
    throw new TypeError(`${(error as Error).message}\nUsage: ${QUANTIZE_USAGE}`, { cause: error });
  }
  const { values } = parsed;
  if (!values.model) throw new RangeError(`expected --model MODEL.pt (the float32 export to convert)\nUsage: ${QUANTIZE_USAGE}`);
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

/** Runs the export; resolves to its exit code. */
export async function runQuantize(argv: string[]): Promise<number> {
  const args = quantizeArguments(argv);
  const interpreter = python();
  process.stderr.write(
    `torchvideo: converting with PyTorch: ${interpreter} ${args.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}\n`,
  );
  return new Promise((resolve, reject) => {
    const child = spawn(interpreter, args, { stdio: 'inherit' });
    child.on('error', (error) =>
      reject(
        new TorchVideoError(`cannot run ${interpreter} (set TORCHVIDEO_PYTHON to a Python with torch): ${error.message}`, 'ERR_NATIVE'),
      ),
    );
    child.on('close', (code, signal) => resolve(code ?? 128 + (signal === 'SIGINT' ? 2 : 15)));
  });
}
