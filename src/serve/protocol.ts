// The KServe v2 / Open Inference Protocol's REST inference messages, with Triton's binary tensor data and
// classification extensions: pure functions from bytes to a checked request and from logits to a response
// body, so every rule of the protocol text is in one place and testable without a server.
//
// Request body: the JSON $inference_request, followed, when the Inference-Header-Content-Length header
// gives the JSON's length, by the binary data of the inputs that carry parameters.binary_data_size, in
// input order. Response: JSON, or JSON followed by the binary data of outputs asked for as binary
// (parameters.binary_data on the output, else parameters.binary_data_output on the request), with the
// JSON's length in Inference-Header-Content-Length.

/** A request the protocol does not allow: the server answers `status` with `{ "error": message }`. */
export class ProtocolError extends Error {
  readonly status: number;

  constructor(message: string, status = 400) {
    super(message);
    this.name = 'ProtocolError';
    this.status = status;
  }
}

/** What one model takes and gives, as its metadata reports it. */
export interface ModelSpec {
  name: string;
  /** The input tensor's name and its shape after the batch dimension: [3, T, H, W]. */
  inputName: string;
  clipShape: readonly number[];
  outputName: string;
  numClasses: number;
  labels: readonly string[];
  /** Clips in one request at most (the batcher's maxBatchSize). */
  maxBatch: number;
}

/** A requested output and how it is to be returned. */
export interface RequestedOutput {
  name: string;
  binary: boolean;
  /** Top-k classes as "value:index:label" strings instead of the logits (the classification extension). */
  classification?: number;
}

export interface InferRequest {
  id?: string;
  /** The clips, float32, row-major, with their shape [B, 3, T, H, W]. */
  data: Float32Array;
  shape: number[];
  outputs: RequestedOutput[];
  /** Triton's schedule policy extension: priority 1 (the highest level) is 'high', any other 'normal'. */
  priority: 'high' | 'normal';
  /** Its timeout parameter (microseconds) in ms; undefined: the server's --timeout-ms. */
  timeoutMs?: number;
}

export interface InferOutput {
  name: string;
  shape: number[];
  datatype: 'FP32' | 'BYTES';
  data: Float32Array | string[];
  binary: boolean;
}

export interface EncodedResponse {
  body: Buffer;
  contentType: 'application/json' | 'application/octet-stream';
  /** The JSON's length in bytes when binary data follows it (the Inference-Header-Content-Length header). */
  headerLength?: number;
}

const FP32_BYTES = 4;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * The Inference-Header-Content-Length header's value: the JSON's length in a body that carries binary
 * data after it (undefined when the header is absent: the whole body is JSON).
 * @throws ProtocolError when it is not a decimal integer in [1, bodyLength].
 */
export function headerLengthOf(header: string | string[] | undefined, bodyLength: number): number | undefined {
  if (header === undefined) return undefined;
  const text = Array.isArray(header) ? header.join(',') : header;
  const value = /^\d{1,15}$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!(value >= 1 && value <= bodyLength)) {
    throw new ProtocolError(
      `expected the Inference-Header-Content-Length header to be the JSON's length, an integer in [1, ${bodyLength}] (the body's length), got '${text}'`,
    );
  }
  return value;
}

function parseJson(bytes: Buffer): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new ProtocolError(`expected the request body to be a JSON inference request: ${(error as Error).message}`);
  }
  if (!isObject(parsed)) throw new ProtocolError(`expected the inference request to be a JSON object, got ${describeValue(parsed)}`);
  return parsed;
}

function parametersOf(value: unknown, where: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (!isObject(value)) throw new ProtocolError(`expected ${where}.parameters to be an object, got ${describeValue(value)}`);
  return value;
}

function booleanParameter(parameters: Record<string, unknown>, key: string, where: string): boolean | undefined {
  const value = parameters[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean')
    throw new ProtocolError(`expected ${where}.parameters.${key} to be a boolean, got ${describeValue(value)}`);
  return value;
}

// Triton's schedule policy parameters (int64 in the protocol): priority levels and timeouts in microseconds.
function nonNegativeIntegerParameter(parameters: Record<string, unknown>, key: string): number | undefined {
  const value = parameters[key];
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    throw new ProtocolError(`expected the request.parameters.${key} to be an integer >= 0, got ${describeValue(value)}`);
  }
  return value as number;
}

function checkShape(value: unknown, spec: ModelSpec, where: string): number[] {
  const expected = `[B, ${spec.clipShape.join(', ')}] with B in [1, ${spec.maxBatch}]`;
  if (!Array.isArray(value) || !value.every((size) => Number.isSafeInteger(size) && size >= 0)) {
    throw new ProtocolError(`expected ${where}.shape to be an array of non-negative integers ${expected}, got ${describeValue(value)}`);
  }
  const shape = value as number[];
  const matches = shape.length === spec.clipShape.length + 1 && spec.clipShape.every((size, i) => shape[i + 1] === size);
  if (!matches || shape[0] < 1 || shape[0] > spec.maxBatch) {
    throw new ProtocolError(`expected ${where}.shape to be ${expected}, got [${shape.join(', ')}]`);
  }
  return shape;
}

// Row-major elements of JSON tensor data, flat or nested as the shape (the protocol allows both).
function flattenData(data: unknown, shape: number[], where: string): Float32Array {
  const count = shape.reduce((product, size) => product * size, 1);
  if (!Array.isArray(data)) throw new ProtocolError(`expected ${where}.data to be an array of numbers, got ${describeValue(data)}`);
  const out = new Float32Array(count);
  let filled = 0;
  const badElement = (value: unknown): never => {
    throw new ProtocolError(`expected ${where}.data to hold FP32 numbers, got ${describeValue(value)} at element ${filled}`);
  };
  if (data.length === count && (count === 0 || !Array.isArray(data[0]))) {
    for (const value of data) {
      if (typeof value !== 'number') badElement(value);
      out[filled++] = value as number;
    }
    return out;
  }
  if (data.length !== shape[0] || !Array.isArray(data[0])) {
    throw new ProtocolError(
      `expected ${where}.data to hold ${count} numbers (shape [${shape.join(', ')}]), flat or nested as the shape, got an array of ${data.length}`,
    );
  }
  const walk = (node: unknown, depth: number, path: string): void => {
    if (depth === shape.length) {
      if (typeof node !== 'number') badElement(node);
      out[filled++] = node as number;
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[depth]) {
      const got = Array.isArray(node) ? `an array of ${node.length}` : describeValue(node);
      throw new ProtocolError(`expected ${where}.data${path} to be an array of ${shape[depth]} (shape [${shape.join(', ')}]), got ${got}`);
    }
    node.forEach((child, i) => walk(child, depth + 1, `${path}[${i}]`));
  };
  walk(data, 0, '');
  return out;
}

function parseOutputs(value: unknown, spec: ModelSpec, binaryDefault: boolean): RequestedOutput[] {
  if (value === undefined) return [{ name: spec.outputName, binary: binaryDefault }];
  if (!Array.isArray(value)) throw new ProtocolError(`expected outputs to be an array, got ${describeValue(value)}`);
  return value.map((output, i) => {
    const where = `outputs[${i}]`;
    if (!isObject(output)) throw new ProtocolError(`expected ${where} to be an object, got ${describeValue(output)}`);
    if (output.name !== spec.outputName) {
      throw new ProtocolError(
        `expected ${where}.name to be '${spec.outputName}' (model '${spec.name}' has one output), got ${describeValue(output.name)}`,
      );
    }
    const parameters = parametersOf(output.parameters, where);
    const binary = booleanParameter(parameters, 'binary_data', where) ?? binaryDefault;
    const classification = parameters.classification;
    if (classification === undefined) return { name: spec.outputName, binary };
    if (!Number.isSafeInteger(classification) || (classification as number) < 1 || (classification as number) > spec.numClasses) {
      throw new ProtocolError(
        `expected ${where}.parameters.classification to be a class count in [1, ${spec.numClasses}], got ${describeValue(classification)}`,
      );
    }
    return { name: spec.outputName, binary, classification: classification as number };
  });
}

/**
 * The checked inference request in `body` (JSON, or JSON then binary tensor data when `headerLength`
 * is given) for the model `spec`.
 * @throws ProtocolError (400) for anything outside the protocol or the model's metadata: bad JSON, a
 *   missing or unknown input or output, a datatype other than FP32, a shape other than the model's,
 *   data whose length or elements do not match, binary sizes that do not add up to the bytes sent.
 */
export function parseInferRequest(body: Buffer, headerLength: number | undefined, spec: ModelSpec): InferRequest {
  const json = parseJson(headerLength === undefined ? body : body.subarray(0, headerLength));
  const binary = headerLength === undefined ? Buffer.alloc(0) : body.subarray(headerLength);
  if (json.id !== undefined && typeof json.id !== 'string')
    throw new ProtocolError(`expected id to be a string, got ${describeValue(json.id)}`);
  const parameters = parametersOf(json.parameters, 'the request');
  const binaryOutput = booleanParameter(parameters, 'binary_data_output', 'the request') ?? false;
  const priority = nonNegativeIntegerParameter(parameters, 'priority');
  const timeoutUs = nonNegativeIntegerParameter(parameters, 'timeout');
  const inputs = json.inputs;
  if (!Array.isArray(inputs) || inputs.length !== 1) {
    const got = Array.isArray(inputs) ? `${inputs.length} inputs` : describeValue(inputs);
    throw new ProtocolError(`expected inputs to be an array of one input, '${spec.inputName}', got ${got}`);
  }
  const input: unknown = inputs[0];
  const where = 'inputs[0]';
  if (!isObject(input)) throw new ProtocolError(`expected ${where} to be an object, got ${describeValue(input)}`);
  if (input.name !== spec.inputName) {
    throw new ProtocolError(
      `expected ${where}.name to be '${spec.inputName}' (model '${spec.name}''s input), got ${describeValue(input.name)}`,
    );
  }
  if (input.datatype !== 'FP32') {
    throw new ProtocolError(
      `expected ${where}.datatype to be 'FP32' (input '${spec.inputName}' is float32), got ${describeValue(input.datatype)}`,
    );
  }
  const shape = checkShape(input.shape, spec, where);
  const count = shape.reduce((product, size) => product * size, 1);
  const binarySize = parametersOf(input.parameters, where).binary_data_size;
  let data: Float32Array;
  if (binarySize !== undefined) {
    if (headerLength === undefined) {
      throw new ProtocolError(
        `${where}.parameters.binary_data_size is given but the Inference-Header-Content-Length header is not: the JSON's length is needed to find the binary data`,
      );
    }
    if (input.data !== undefined) throw new ProtocolError(`expected ${where} to have data or parameters.binary_data_size, not both`);
    if (binarySize !== count * FP32_BYTES) {
      throw new ProtocolError(
        `expected ${where}.parameters.binary_data_size to be ${count * FP32_BYTES} (${count} FP32 elements of shape [${shape.join(', ')}]), got ${describeValue(binarySize)}`,
      );
    }
    if (binary.length !== binarySize) {
      throw new ProtocolError(
        `expected ${binarySize} bytes of binary data after the ${headerLength}-byte JSON (${where}.parameters.binary_data_size), got ${binary.length}`,
      );
    }
    // Copied into an aligned array of its own: the body's bytes may sit at any offset of Node's pool.
    data = new Float32Array(count);
    Buffer.from(data.buffer).set(binary);
  } else {
    if (input.data === undefined) throw new ProtocolError(`expected ${where} to have data or parameters.binary_data_size`);
    if (binary.length !== 0) {
      throw new ProtocolError(`got ${binary.length} bytes after the JSON, but no input has parameters.binary_data_size`);
    }
    data = flattenData(input.data, shape, where);
  }
  return {
    id: json.id as string | undefined,
    data,
    shape,
    outputs: parseOutputs(json.outputs, spec, binaryOutput),
    // Lower values are higher levels, 0 the default; the batcher has two lanes: level 1 and the rest.
    priority: priority === 1 ? 'high' : 'normal',
    // 0 is no timeout of the request's own, as in Triton.
    timeoutMs: timeoutUs ? timeoutUs / 1000 : undefined,
  };
}

/**
 * A float32's shortest decimal text that reads back as the same float32 ("3.3", not 3.299999952316284):
 * what the classification strings hold, as Triton prints them.
 */
export function formatFloat32(value: number): string {
  const target = Math.fround(value);
  if (!Number.isFinite(target)) return String(target);
  for (let digits = 1; digits <= 9; digits++) {
    const text = String(Number(target.toPrecision(digits)));
    if (Math.fround(Number(text)) === target) return text;
  }
  return String(target);
}

/**
 * The classification extension's output for logits (rows x numClasses): per row the `k` highest logits,
 * best first (ties: lower index first), each "value:index:label", value being the logit.
 */
export function classificationStrings(logits: Float32Array, rows: number, labels: readonly string[], k: number): string[] {
  const classes = logits.length / rows;
  const out: string[] = [];
  for (let row = 0; row < rows; row++) {
    const values = logits.subarray(row * classes, (row + 1) * classes);
    const order = Array.from({ length: classes }, (_, i) => i).sort((a, b) => values[b] - values[a] || a - b);
    for (const index of order.slice(0, k)) {
      const label = labels[index];
      out.push(`${formatFloat32(values[index])}:${index}${label === undefined ? '' : `:${label}`}`);
    }
  }
  return out;
}

/** The outputs asked for, from the logits (rows x numClasses) of one request. */
export function outputsOf(request: InferRequest, logits: Float32Array, spec: ModelSpec): InferOutput[] {
  const rows = request.shape[0];
  return request.outputs.map((output) => {
    if (output.classification === undefined) {
      return { name: output.name, shape: [rows, spec.numClasses], datatype: 'FP32', data: logits, binary: output.binary };
    }
    const strings = classificationStrings(logits, rows, spec.labels, output.classification);
    return { name: output.name, shape: [rows, output.classification], datatype: 'BYTES', data: strings, binary: output.binary };
  });
}

// Binary tensor data: FP32 little-endian (as the machine's Float32Array on little-endian hosts, which is
// every host LibTorch runs on here); BYTES elements each a 4-byte little-endian length then the bytes.
function binaryOf(output: InferOutput): Buffer {
  if (output.datatype === 'FP32') {
    const values = output.data as Float32Array;
    return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
  }
  const parts: Buffer[] = [];
  for (const text of output.data as string[]) {
    const bytes = Buffer.from(text, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32LE(bytes.length);
    parts.push(length, bytes);
  }
  return Buffer.concat(parts);
}

/**
 * The $inference_response for `outputs`, with binary data after the JSON for outputs asked for as binary.
 * model_version is given as the protocol asks of servers that have versions.
 */
export function encodeInferResponse(
  model: { name: string; version: string },
  id: string | undefined,
  outputs: InferOutput[],
): EncodedResponse {
  const binaries: Buffer[] = [];
  const json = {
    model_name: model.name,
    model_version: model.version,
    ...(id === undefined ? {} : { id }),
    outputs: outputs.map((output) => {
      const head = { name: output.name, datatype: output.datatype, shape: output.shape };
      if (!output.binary) {
        const data = output.datatype === 'FP32' ? Array.from(output.data as Float32Array) : output.data;
        return { ...head, data };
      }
      const bytes = binaryOf(output);
      binaries.push(bytes);
      return { ...head, parameters: { binary_data_size: bytes.length } };
    }),
  };
  const text = Buffer.from(JSON.stringify(json), 'utf8');
  if (binaries.length === 0) return { body: text, contentType: 'application/json' };
  return { body: Buffer.concat([text, ...binaries]), contentType: 'application/octet-stream', headerLength: text.length };
}
