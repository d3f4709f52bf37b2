'use strict';
// The KServe v2 message rules (src/serve/protocol.ts) without a server: every request outside the
// protocol or the model's metadata is refused with a ProtocolError naming what is wrong, JSON and binary
// inputs read the same numbers, and responses encode as the protocol text and Triton's extensions say.
const t = require('tap');
const {
  ProtocolError,
  parseInferRequest,
  headerLengthOf,
  encodeInferResponse,
  classificationStrings,
  formatFloat32,
  outputsOf,
} = require('../dist/internal.js');
const { binaryBody, parseInferResponse } = require('./helpers/kserve-client');

const SPEC = {
  name: 'tiny',
  inputName: 'clips',
  clipShape: [3, 2, 2, 2],
  outputName: 'logits',
  numClasses: 4,
  labels: ['a', 'b', 'c', 'd'],
  maxBatch: 4,
};
const CLIP = 3 * 2 * 2 * 2;
const values = (count, seed = 0) => Array.from({ length: count }, (_, i) => Math.fround(Math.sin(i + seed) * 3));
const input = (overrides = {}) => ({ name: 'clips', datatype: 'FP32', shape: [1, 3, 2, 2, 2], data: values(CLIP), ...overrides });
const jsonBody = (request) => Buffer.from(JSON.stringify(request));
const parseJson = (request) => parseInferRequest(jsonBody(request), undefined, SPEC);

t.test('a JSON request: flat and nested data read the same row-major numbers', async (t) => {
  const flat = parseJson({ id: 'r1', inputs: [input({ shape: [2, 3, 2, 2, 2], data: values(2 * CLIP) })] });
  t.equal(flat.id, 'r1', 'the id is kept to be echoed');
  t.same(flat.shape, [2, 3, 2, 2, 2]);
  t.same(Array.from(flat.data), values(2 * CLIP));
  // The same numbers nested as the shape.
  const nest = (items, shape) =>
    shape.length === 1
      ? items
      : Array.from({ length: shape[0] }, (_, i) =>
          nest(items.slice((i * items.length) / shape[0], ((i + 1) * items.length) / shape[0]), shape.slice(1)),
        );
  const nested = parseJson({ inputs: [input({ shape: [2, 3, 2, 2, 2], data: nest(values(2 * CLIP), [2, 3, 2, 2, 2]) })] });
  t.same(Array.from(nested.data), values(2 * CLIP), 'nested data flattens in row-major order');
  t.same(flat.outputs, [{ name: 'logits', binary: false }], 'no outputs asked: the one output, as JSON');
  t.equal(flat.id, 'r1');
  t.equal(parseJson({ inputs: [input()] }).id, undefined, 'no id, none echoed');
});

t.test('a binary request reads the bytes after the JSON, as the JSON form', async (t) => {
  const data = values(2 * CLIP, 5);
  const { body, headerLength } = binaryBody({ id: 'b', shape: [2, 3, 2, 2, 2], data, parameters: { binary_data_output: true } });
  const parsed = parseInferRequest(body, headerLengthOf(String(headerLength), body.length), SPEC);
  t.same(Array.from(parsed.data), data);
  t.same(parsed.outputs, [{ name: 'logits', binary: true }], 'binary_data_output: the output comes back binary');
  // An unaligned body (any offset of Node's buffer pool) reads the same.
  const shifted = Buffer.concat([Buffer.from([7]), body]).subarray(1);
  t.same(Array.from(parseInferRequest(shifted, headerLength, SPEC).data), data, 'an unaligned body reads the same');
});

t.test("Triton's schedule policy parameters: priority 1 is the high lane, timeout is in microseconds", async (t) => {
  t.match(parseJson({ inputs: [input()] }), { priority: 'normal', timeoutMs: undefined }, 'none given: normal, the server default timeout');
  t.match(parseJson({ parameters: { priority: 1, timeout: 250000 }, inputs: [input()] }), { priority: 'high', timeoutMs: 250 });
  t.match(
    parseJson({ parameters: { priority: 2, timeout: 0 }, inputs: [input()] }),
    { priority: 'normal', timeoutMs: undefined },
    'level 2 is below 1; timeout 0 is none',
  );
});

t.test('requested outputs: binary_data overrides binary_data_output; classification asks for top-k strings', async (t) => {
  const parsed = parseJson({
    parameters: { binary_data_output: true },
    inputs: [input()],
    outputs: [
      { name: 'logits', parameters: { binary_data: false } },
      { name: 'logits', parameters: { classification: 2 } },
    ],
  });
  t.same(parsed.outputs, [
    { name: 'logits', binary: false },
    { name: 'logits', binary: true, classification: 2 },
  ]);
});

// [what, request (or body and header), message the ProtocolError must match]
const BAD_REQUESTS = [
  ['a body that is not JSON', { body: Buffer.from('{"inputs": [') }, /expected the request body to be a JSON inference request/],
  ['a JSON array', { body: Buffer.from('[1, 2]') }, /expected the inference request to be a JSON object, got \[1,2\]/],
  ['no inputs', {}, /expected inputs to be an array of one input, 'clips', got nothing/],
  ['two inputs', { inputs: [input(), input()] }, /expected inputs to be an array of one input, 'clips', got 2 inputs/],
  ['an unknown input name', { inputs: [input({ name: 'video' })] }, /expected inputs\[0\]\.name to be 'clips' .* got "video"/],
  [
    'INT32 data for the FP32 input',
    { inputs: [input({ datatype: 'INT32' })] },
    /expected inputs\[0\]\.datatype to be 'FP32' .* got "INT32"/,
  ],
  ['FP64 data', { inputs: [input({ datatype: 'FP64' })] }, /datatype to be 'FP32' .* got "FP64"/],
  ['a datatype in lower case (strings are case-sensitive)', { inputs: [input({ datatype: 'fp32' })] }, /got "fp32"/],
  [
    'a shape of the wrong rank',
    { inputs: [input({ shape: [3, 2, 2, 2] })] },
    /expected inputs\[0\]\.shape to be \[B, 3, 2, 2, 2\] with B in \[1, 4\], got \[3, 2, 2, 2\]/,
  ],
  ['a wrong clip size', { inputs: [input({ shape: [1, 3, 2, 2, 3] })] }, /shape to be \[B, 3, 2, 2, 2\] .* got \[1, 3, 2, 2, 3\]/],
  ['one colour channel', { inputs: [input({ shape: [1, 1, 2, 2, 2] })] }, /got \[1, 1, 2, 2, 2\]/],
  ['a batch of 0', { inputs: [input({ shape: [0, 3, 2, 2, 2], data: [] })] }, /B in \[1, 4\], got \[0, 3, 2, 2, 2\]/],
  [
    'more clips than --max-batch',
    { inputs: [input({ shape: [5, 3, 2, 2, 2], data: values(5 * CLIP) })] },
    /B in \[1, 4\], got \[5, 3, 2, 2, 2\]/,
  ],
  ['a shape that is not integers', { inputs: [input({ shape: [1, 3, 2, 2, 2.5] })] }, /shape to be an array of non-negative integers/],
  [
    'a shape that is a string',
    { inputs: [input({ shape: '1,3,2,2,2' })] },
    /shape to be an array of non-negative integers .* got "1,3,2,2,2"/,
  ],
  [
    'data one element short',
    { inputs: [input({ data: values(CLIP - 1) })] },
    /expected inputs\[0\]\.data to hold 24 numbers \(shape \[1, 3, 2, 2, 2\]\), flat or nested as the shape, got an array of 23/,
  ],
  ['data one element long', { inputs: [input({ data: values(CLIP + 1) })] }, /to hold 24 numbers .* got an array of 25/],
  [
    'a string element',
    { inputs: [input({ data: [...values(CLIP - 1), '1.5'] })] },
    /expected inputs\[0\]\.data to hold FP32 numbers, got "1.5" at element 23/,
  ],
  ['a boolean element', { inputs: [input({ data: [true, ...values(CLIP - 1)] })] }, /hold FP32 numbers, got true at element 0/],
  [
    'nested data of the wrong shape',
    { inputs: [input({ data: [[[1, 2]]] })] },
    /expected inputs\[0\]\.data\[0\] to be an array of 3 \(shape \[1, 3, 2, 2, 2\]\), got an array of 1/,
  ],
  ['data that is not an array', { inputs: [input({ data: 'AAAA' })] }, /expected inputs\[0\]\.data to be an array of numbers, got "AAAA"/],
  [
    'neither data nor binary_data_size',
    { inputs: [input({ data: undefined })] },
    /expected inputs\[0\] to have data or parameters\.binary_data_size$/,
  ],
  [
    'binary_data_size without the header',
    { inputs: [input({ data: undefined, parameters: { binary_data_size: 96 } })] },
    /Inference-Header-Content-Length header is not/,
  ],
  [
    'an unknown output',
    { inputs: [input()], outputs: [{ name: 'probabilities' }] },
    /expected outputs\[0\]\.name to be 'logits' .* got "probabilities"/,
  ],
  [
    'classification 0',
    { inputs: [input()], outputs: [{ name: 'logits', parameters: { classification: 0 } }] },
    /classification to be a class count in \[1, 4\], got 0/,
  ],
  [
    'classification beyond the classes',
    { inputs: [input()], outputs: [{ name: 'logits', parameters: { classification: 5 } }] },
    /in \[1, 4\], got 5/,
  ],
  ['classification as a string', { inputs: [input()], outputs: [{ name: 'logits', parameters: { classification: '2' } }] }, /got "2"/],
  [
    'binary_data_output not a boolean',
    { parameters: { binary_data_output: 1 }, inputs: [input()] },
    /expected the request\.parameters\.binary_data_output to be a boolean, got 1/,
  ],
  [
    'binary_data not a boolean',
    { inputs: [input()], outputs: [{ name: 'logits', parameters: { binary_data: 'yes' } }] },
    /outputs\[0\]\.parameters\.binary_data to be a boolean, got "yes"/,
  ],
  ['an id that is a number', { id: 42, inputs: [input()] }, /expected id to be a string, got 42/],
  [
    'a priority below 0',
    { parameters: { priority: -1 }, inputs: [input()] },
    /expected the request\.parameters\.priority to be an integer >= 0, got -1/,
  ],
  ['a priority as a string', { parameters: { priority: '1' }, inputs: [input()] }, /priority to be an integer >= 0, got "1"/],
  [
    'a timeout that is not an integer',
    { parameters: { timeout: 1.5 }, inputs: [input()] },
    /expected the request\.parameters\.timeout to be an integer >= 0, got 1\.5/,
  ],
  ['parameters that are an array', { parameters: [], inputs: [input()] }, /expected the request\.parameters to be an object, got \[\]/],
];

t.test('each request outside the protocol is a 400 naming what is wrong', async (t) => {
  for (const [what, request, message] of BAD_REQUESTS) {
    const body = request.body ?? jsonBody(request);
    t.throws(() => parseInferRequest(body, undefined, SPEC), message, what);
    try {
      parseInferRequest(body, undefined, SPEC);
    } catch (error) {
      t.ok(error instanceof ProtocolError && error.status === 400, `${what}: a ProtocolError with status 400`);
    }
  }
});

t.test('binary data that does not add up is refused, naming both sizes', async (t) => {
  const data = values(CLIP);
  const { body, headerLength } = binaryBody({ shape: [1, 3, 2, 2, 2], data });
  t.throws(
    () => parseInferRequest(body.subarray(0, body.length - 4), headerLength, SPEC),
    /expected 96 bytes of binary data after the \d+-byte JSON .* got 92/,
  );
  t.throws(() => parseInferRequest(Buffer.concat([body, Buffer.alloc(4)]), headerLength, SPEC), /expected 96 bytes .* got 100/);
  const wrongSize = binaryBody({ shape: [1, 3, 2, 2, 2], data: values(CLIP - 1) });
  t.throws(
    () => parseInferRequest(wrongSize.body, wrongSize.headerLength, SPEC),
    /expected inputs\[0\]\.parameters\.binary_data_size to be 96 \(24 FP32 elements of shape \[1, 3, 2, 2, 2\]\), got 92/,
  );
  const jsonWithBytes = Buffer.concat([jsonBody({ inputs: [input()] }), Buffer.alloc(8)]);
  t.throws(
    () => parseInferRequest(jsonWithBytes, jsonWithBytes.length - 8, SPEC),
    /got 8 bytes after the JSON, but no input has parameters\.binary_data_size/,
  );
  const both = jsonBody({ inputs: [input({ parameters: { binary_data_size: 96 } })] });
  t.throws(
    () => parseInferRequest(Buffer.concat([both, Buffer.alloc(96)]), both.length, SPEC),
    /to have data or parameters\.binary_data_size, not both/,
  );
});

t.test('Inference-Header-Content-Length must be the JSON length within the body', async (t) => {
  t.equal(headerLengthOf(undefined, 10), undefined, 'absent: the whole body is JSON');
  t.equal(headerLengthOf('7', 10), 7);
  t.throws(() => headerLengthOf('11', 10), /an integer in \[1, 10\] \(the body's length\), got '11'/);
  t.throws(() => headerLengthOf('0', 10), /got '0'/);
  t.throws(() => headerLengthOf('-1', 10), /got '-1'/);
  t.throws(() => headerLengthOf('0x10', 10), /got '0x10'/);
  t.throws(() => headerLengthOf('', 10), /got ''/);
});

t.test("classification strings are Triton's value:index:label, the value being the logit", async (t) => {
  // The protocol text's own example: output [1.1, 3.3, 0.5, 2.4], classification 2 -> ["3.3:1", "2.4:3"].
  t.same(classificationStrings(Float32Array.from([1.1, 3.3, 0.5, 2.4]), 1, [], 2), ['3.3:1', '2.4:3'], 'without labels: value:index');
  t.same(classificationStrings(Float32Array.from([1.1, 3.3, 0.5, 2.4]), 1, ['w', 'x', 'y', 'z'], 2), ['3.3:1:x', '2.4:3:z']);
  t.same(
    classificationStrings(Float32Array.from([1, 5, 10, 4, 0, 0, -1, 2]), 2, [], 2),
    ['10:2', '5:1', '2:3', '0:0'],
    'per row, best first',
  );
  t.same(classificationStrings(Float32Array.from([2, 2, 1, 1]), 1, [], 2), ['2:0', '2:1'], 'ties: the lower index first');
  t.equal(formatFloat32(Math.fround(0.1)), '0.1', 'the shortest text that reads back as the same float32');
  t.equal(formatFloat32(Math.fround(-123.456)), '-123.456');
  t.equal(formatFloat32(Math.fround(1e-7)), '1e-7');
  for (const v of [Math.fround(Math.PI), Math.fround(-2.5e-12), Math.fround(3.4e38)])
    t.equal(Math.fround(Number(formatFloat32(v))), v, `${v} round-trips`);
});

t.test('responses: JSON data, or JSON then binary with its length in the header', async (t) => {
  const logits = Float32Array.from([0.5, -1, 2, 3, 1, 1, 0, -2]);
  const request = { id: 'x', shape: [2, 3, 2, 2, 2], data: new Float32Array(0), outputs: [{ name: 'logits', binary: false }] };
  const asJson = encodeInferResponse({ name: 'tiny', version: '1' }, 'x', outputsOf(request, logits, SPEC));
  t.equal(asJson.contentType, 'application/json');
  t.equal(asJson.headerLength, undefined, 'all JSON: no Inference-Header-Content-Length');
  t.same(JSON.parse(asJson.body), {
    model_name: 'tiny',
    model_version: '1',
    id: 'x',
    outputs: [{ name: 'logits', datatype: 'FP32', shape: [2, 4], data: [0.5, -1, 2, 3, 1, 1, 0, -2] }],
  });

  const mixed = {
    ...request,
    outputs: [
      { name: 'logits', binary: true },
      { name: 'logits', binary: true, classification: 1 },
    ],
  };
  const encoded = encodeInferResponse({ name: 'tiny', version: '1' }, undefined, outputsOf(mixed, logits, SPEC));
  t.equal(encoded.contentType, 'application/octet-stream');
  const { head, outputs } = parseInferResponse({
    body: encoded.body,
    headers: { 'inference-header-content-length': String(encoded.headerLength) },
  });
  t.notOk('id' in head, 'no id asked, none in the response');
  t.same(outputs[0].parameters, { binary_data_size: 32 });
  t.same(Array.from(outputs[0].values), Array.from(logits));
  t.same(outputs[1].shape, [2, 1]);
  t.equal(outputs[1].datatype, 'BYTES');
  t.same(outputs[1].values, ['3:3:d', '1:0:a'], 'BYTES in binary: 4-byte length then the string, per element');
});
