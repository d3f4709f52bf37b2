import * as os from 'node:os';
import { abortable, abortReason, checkSignal } from './abort';
import { Batcher, type BatcherOptions } from './batcher';
import { TorchVideoError, withCallSite } from './errors';
import { checkSha256, verifyPinnedSha256, verifySha256 } from './checksum';
import { warnDeprecated } from './deprecated';
import { native, type NativeModel, type NativePreprocessOptions } from './native';
import * as fs from 'node:fs';
import { DEFAULT_PREPROCESSING, readSidecar, type Precision, type Preprocessing } from './sidecar';
import { Tensor, nativeTensorOf } from './tensor';
import { checkBoolean, checkDevice, checkInteger, checkOptions, checkString, describe } from './validate';

export interface LoadModelOptions {
  /** 'cpu' (default), 'cuda' or 'cuda:N'. */
  device?: string;
  /** Freeze and optimize the module for inference (default true); false keeps the plain scripted module. */
  optimize?: boolean;
  /** Run the network twice at load so the first real call is fast (default true). */
  warmup?: boolean;
  /** LibTorch intra-op threads for this model's forward passes (default: the machine's cores). */
  threads?: number;
  /**
   * @deprecated Use `precision: 'fp16'` (`half: true` is that, with a one-time DeprecationWarning
   * TORCHVIDEO_DEP_HALF; `half: false` asks for nothing).
   */
  half?: boolean;
  /**
   * What the network computes in; float32 input and logits whatever it is. Default: the export's own
   * precision, from its sidecar ('fp32', or 'bf16' / 'int8' for `torchvideo quantize` exports).
   * - 'fp16': a float32 export in float16 on CUDA (weights converted at load).
   * - 'bf16': a float32 export in bfloat16 (weights converted at load): about 1.5-1.8x faster on CPUs with
   *   AVX512-BF16; or a bf16 export.
   * - 'int8': an int8 export only (CPU); a float32 export is quantized first with `torchvideo quantize`.
   */
  precision?: ModelPrecision;
  /**
   * The sha256 (64 hex digits) of the export that the caller trusts, checked before the file is loaded.
   * The sidecar's own sha256 proves the file is intact, not where it came from: whoever can replace the
   * export can replace its sidecar too. An export is code (TorchScript), so pin the hash you got from a
   * source you trust.
   */
  expectSha256?: string;
  /**
   * Check the export against the sha256 its sidecar records, when it records one (default true).
   * false skips reading the file twice, for speed.
   */
  verify?: boolean;
  /** Aborts the load: rejects at once with the signal's reason; a load already running finishes and its model is freed. */
  signal?: AbortSignal;
}

export interface ForwardOptions {
  /**
   * Aborts this forward: rejects at once with the signal's reason (an AbortError by default). A forward
   * still queued behind others never runs; one already running finishes and its logits are freed.
   */
  signal?: AbortSignal;
}

export interface ModelInfo {
  /** 'r3d_18', 'mc3_18', 'r2plus1d_18', or 'unknown' for another network. */
  arch: string;
  numClasses: number;
  /** One name per class: the sidecar's labels, else 'class_<i>'. */
  labels: string[];
  /** Parameters of the exported module. */
  parameters: number;
  device: string;
  optimized: boolean;
  /** How inputs must be prepared: from the sidecar, else torchvision's defaults for these networks. */
  preprocessing: Preprocessing;
  /** The weights the export was made from, as its sidecar records them. */
  weights?: string;
  /** What the network computes in: 'fp32', 'fp16' (CUDA, converted at load), 'bf16' (an export, or converted at load) or 'int8'. */
  precision: ModelPrecision;
}

/** What a loaded network computes in: an export's own precision, or 'fp16' / 'bf16' converted at load. */
export type ModelPrecision = Precision | 'fp16';
const PRECISIONS: readonly ModelPrecision[] = ['fp32', 'fp16', 'bf16', 'int8'];

// The model's native handle for the rest of the package (evaluation's device preprocessing), set by
// Model's static block: users never see it.
let nativeModelOf: (model: Model) => NativeModel;

/** A loaded network. forward() runs off the JS thread: on the model's own executor on the CPU, the device's on CUDA. */
export class Model {
  #native: NativeModel | undefined;
  readonly info: Readonly<ModelInfo>;

  /** @internal Use loadModel(). */
  constructor(handle: NativeModel, info: ModelInfo) {
    this.#native = handle;
    this.info = Object.freeze(info);
  }

  #handle(): NativeModel {
    if (!this.#native) throw new TorchVideoError('model is disposed', 'ERR_DISPOSED');
    return this.#native;
  }

  get disposed(): boolean {
    return this.#native === undefined;
  }

  /**
   * Logits for a batch of clips: `input` is float32 (B, 3, T, H, W), or an array of clips
   * (3, T, H, W) stacked into one batch (a one-clip array is a batch of 1), or of batches
   * (B_i, 3, T, H, W), concatenated. Returns float32 (B, numClasses) on the model's device.
   * @throws TypeError (rejects) when input is not a Tensor / array of Tensors, or not float32.
   * @throws RangeError (rejects) for a wrong rank, a channel count other than 3, clips of different
   *   shapes, or a CPU input holding NaN or Infinity (named by position).
   * @throws TorchVideoError (rejects) ERR_DISPOSED after dispose(), ERR_FORWARD when LibTorch fails.
   * @throws TypeError (rejects) when options.signal is not an AbortSignal.
   * @throws AbortError (rejects; the signal's reason) when options.signal aborts before the logits arrive.
   */
  async forward(input: Tensor | Tensor[], options: ForwardOptions = {}): Promise<Tensor> {
    const callSite = new Error();
    const signal = checkSignal(checkOptions(options).signal);
    const handle = this.#handle();
    const nativeInput = Array.isArray(input) ? input.map((clip, i) => nativeTensorOf(clip, `input[${i}]`)) : nativeTensorOf(input, 'input');
    const logits = abortable(
      signal,
      (cancel) => handle.forward(nativeInput, cancel ? { cancel } : undefined),
      (dropped) => dropped.dispose(),
    );
    return new Tensor(await withCallSite(logits, callSite));
  }

  /**
   * A dynamic batcher over this network: concurrent callers' clips run as shared forward passes on the
   * model's executor, each caller getting its own rows (see Batcher). It runs in turn with this
   * model's own forward() calls. The model's dispose() makes its forward() reject with ERR_DISPOSED;
   * what is queued still runs (the batcher holds the network until closed).
   * @throws TypeError / RangeError for bad options.
   * @throws TorchVideoError ERR_DISPOSED after dispose().
   */
  batcher(options: BatcherOptions = {}): Batcher {
    return new Batcher(this, this.#handle(), options);
  }

  static {
    nativeModelOf = (model) => model.#handle();
  }

  /**
   * Releases the network. Forward passes already running finish first (they hold the network);
   * calls after this reject with ERR_DISPOSED. Idempotent.
   */
  dispose(): void {
    this.#native?.dispose();
    this.#native = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * Loads a TorchScript export (scripts/export_models.py) and its `<name>.json` sidecar when present.
 * Loading, freezing and warm-up run off the JS thread.
 * @throws TypeError / RangeError (rejects) for bad arguments (`expectSha256` not 64 hex digits).
 * @throws RangeError (rejects) for a precision the export or device cannot run: 'fp16' off CUDA, 'int8'
 *   with a float export (quantize it with `torchvideo quantize`), another precision than a bf16 / int8
 *   export's own, `half` and `precision` that disagree.
 * @throws AbortError (rejects; the signal's reason) when options.signal aborts before the model is ready.
 * @throws TorchVideoError (rejects) ERR_FILE_NOT_FOUND, ERR_NOT_A_FILE, ERR_MODEL_LOAD (not a
 *   TorchScript file, empty or truncated, a sha256 that differs from `expectSha256` (both named) or from
 *   the sidecar's, parameters holding NaN/Inf, a module that is not a classifier of (B, 3, T, H, W) clips),
 *   ERR_DEVICE_UNAVAILABLE (CUDA asked for and absent).
 */
export async function loadModel(path: string, options: LoadModelOptions = {}): Promise<Model> {
  const callSite = new Error();
  checkString(path, 'path');
  const opts = checkOptions(options);
  const device = opts.device === undefined ? 'cpu' : checkDevice(opts.device, 'options.device');
  const optimize = checkBoolean(opts.optimize, 'options.optimize', true);
  const warmup = checkBoolean(opts.warmup, 'options.warmup', true);
  const threads = checkInteger(opts.threads, 'options.threads', defaultThreads(), { min: 1, max: 1024 });
  const verify = checkBoolean(opts.verify, 'options.verify', true);
  const expectSha256 = checkSha256(opts.expectSha256, 'options.expectSha256');
  const asked = precisionAsked(opts);
  const signal = checkSignal(opts.signal);
  if (signal?.aborted) throw abortReason(signal);
  const sidecar = readSidecar(path);
  const exported = sidecar?.precision ?? 'fp32';
  checkPrecision(path, asked, exported, device);
  // The pinned hash first: a file the caller does not trust is not read any further.
  if (expectSha256 !== undefined) await withCallSite(verifyPinnedSha256(path, expectSha256, 'ERR_MODEL_LOAD'), callSite);
  if (verify && sidecar?.sha256) await withCallSite(verifySha256(path, sidecar.sha256), callSite);
  const preprocessing = sidecar?.preprocessing ?? { ...DEFAULT_PREPROCESSING };
  const precision: ModelPrecision = asked ?? exported;
  const half = precision === 'fp16';
  const bf16 = precision === 'bf16' && exported === 'fp32';
  if (precision === 'bf16' && device === 'cpu') warnWithoutBf16Instructions();
  const [cropHeight, cropWidth] = preprocessing.cropSize;
  const handle = await withCallSite(
    abortable(
      signal,
      (cancel) =>
        native.Model.load(path, {
          device,
          optimize,
          warmup,
          half,
          bf16,
          quantized: exported === 'int8',
          threads,
          warmupShape: [1, 3, preprocessing.clipLength, cropHeight, cropWidth],
          ...(cancel ? { cancel } : {}),
        }),
      (dropped) => dropped.dispose(),
    ),
    callSite,
  );
  const nativeInfo = handle.info;
  // Known after load: from the network's fc layer, or from the output of the run at load.
  const numClasses = nativeInfo.numClasses as number;
  const labels =
    sidecar?.labels && sidecar.labels.length === numClasses
      ? [...sidecar.labels]
      : Array.from({ length: numClasses }, (_, i) => `class_${i}`);
  return new Model(handle, {
    arch: nativeInfo.arch !== 'unknown' ? nativeInfo.arch : (sidecar?.arch ?? 'unknown'),
    numClasses,
    labels,
    parameters: nativeInfo.parameters,
    device: nativeInfo.device,
    optimized: nativeInfo.optimized,
    preprocessing,
    weights: sidecar?.weights,
    precision,
  });
}

/**
 * `precision`, or what the deprecated `half` says ('fp16' for true), checked.
 * @throws TypeError for `half` not a boolean; RangeError for a precision outside the four, or `half: true`
 *   with another precision.
 */
function precisionAsked(opts: Partial<LoadModelOptions>): ModelPrecision | undefined {
  const asked = opts.precision;
  if (asked !== undefined && !PRECISIONS.includes(asked)) {
    throw new RangeError(`expected options.precision to be 'fp32', 'fp16', 'bf16' or 'int8', got ${describe(asked)}`);
  }
  if (opts.half === undefined) return asked;
  const half = checkBoolean(opts.half, 'options.half', false);
  if (half && asked !== undefined && asked !== 'fp16') {
    throw new RangeError(
      `expected options.precision or its old form options.half, not both: half: true is precision 'fp16', got precision '${asked}'`,
    );
  }
  if (!half && asked === 'fp16') {
    throw new RangeError("expected options.precision or its old form options.half, not both: half: false contradicts precision 'fp16'");
  }
  warnDeprecated(
    "options.half is deprecated: use options.precision 'fp16' (half: true) or leave it out (half: false)",
    'TORCHVIDEO_DEP_HALF',
  );
  return half ? 'fp16' : asked;
}

/**
 * @throws RangeError for a precision the export or the device cannot run, naming what would.
 */
function checkPrecision(path: string, asked: ModelPrecision | undefined, exported: Precision, device: string): void {
  if (asked === 'int8' && exported !== 'int8') {
    throw new RangeError(
      `expected an int8 export for options.precision 'int8': '${path}' is exported in ${exported}; quantize it first with \`torchvideo quantize --model ${path} --precision int8 --calibrate DATA\``,
    );
  }
  if (asked !== undefined && exported !== 'fp32' && asked !== exported) {
    throw new RangeError(`expected options.precision to be '${exported}' or unset: '${path}' is exported in ${exported}`);
  }
  if (asked === 'fp16' && !device.startsWith('cuda')) {
    throw new RangeError(
      `expected a CUDA device for options.precision 'fp16' (float16 runs on CUDA), got device '${device}' (on the CPU, use 'bf16')`,
    );
  }
  if (exported === 'int8' && device !== 'cpu') {
    throw new RangeError(
      `expected options.device 'cpu' for '${path}': it is exported in int8, which runs on oneDNN's CPU quantized engine only (on ${device}, load its float32 export, with precision 'fp16' or 'bf16')`,
    );
  }
}

let warnedBf16 = false;
/**
 * bfloat16 on a CPU without AVX512-BF16 (or AMX) is emulated by oneDNN: correct, but slower than float32.
 * Said once per process, as a warning, so a user who asked for speed learns why there is none.
 */
function warnWithoutBf16Instructions(): void {
  if (warnedBf16 || process.platform !== 'linux') return;
  let flags: string;
  try {
    // Always the real file: no environment variable redirects it (a test preloads a fake fs instead).
    flags = /^flags\s*:(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '';
  } catch {
    return;
  }
  if (/\b(avx512_bf16|amx_bf16)\b/.test(flags)) return;
  warnedBf16 = true;
  process.emitWarning(
    'this CPU has no AVX512-BF16 or AMX instructions: bf16 models run emulated, slower than float32',
    'TorchVideoPrecisionWarning',
  );
}

/**
 * @internal Logits of decoded frames: each of `frames` is uint8 (K, T, H, W, 3), preprocessed on the
 * model's device (after the copy, on a GPU) into K * crops clips.
 */
export async function forwardFrames(
  model: Model,
  frames: Tensor[],
  preprocess: NativePreprocessOptions,
  signal?: AbortSignal,
): Promise<Tensor> {
  const callSite = new Error();
  const input = frames.map((clip, i) => nativeTensorOf(clip, `input[${i}]`));
  const handle = nativeModelOf(model);
  const logits = abortable(
    signal,
    (cancel) => handle.forward(input, cancel ? { preprocess, cancel } : { preprocess }),
    (dropped) => dropped.dispose(),
  );
  return new Tensor(await withCallSite(logits, callSite));
}

/** @internal LibTorch intra-op threads when none are asked for: the machine's cores. */
export function defaultThreads(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** @internal */
export function checkModel(value: unknown, name = 'model'): Model {
  if (!(value instanceof Model)) throw new TypeError(`expected ${name} to be a Model, got ${describe(value)}`);
  return value;
}
