// A minimal KServe v2 / Open Inference Protocol client for the serving tests, written from the protocol
// text (kserve open-inference-protocol inference_rest.md) and Triton's binary tensor data extension
// (extension_binary_data.md), not from the server's code: a JSON $inference_request, or the JSON followed
// by each binary input's bytes with the JSON's length in Inference-Header-Content-Length; responses split
// the same way, FP32 binary data little-endian, BYTES elements each a 4-byte little-endian length then
// the bytes.
'use strict';
const { execFileSync } = require('node:child_process');
const http = require('node:http');
const path = require('node:path');
const { PYTHON } = require('./python-reference');
const { ROOT, tempDir } = require('./paths');

/** One HTTP request with node:http (no keep-alive pool: a test's sockets close with its requests). */
function request(address, method, urlPath, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(urlPath, address), { method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const json = (response) => JSON.parse(response.body.toString('utf8'));

/** The tensor's bytes as the protocol sends them: little-endian float32, row-major. */
function fp32Bytes(values) {
  const array = values instanceof Float32Array ? values : Float32Array.from(values);
  return Buffer.from(array.buffer, array.byteOffset, array.byteLength);
}

/** Decodes one output's binary data (FP32 or BYTES). */
function decodeBinary(datatype, bytes) {
  if (datatype === 'FP32') return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  if (datatype === 'BYTES') {
    const out = [];
    for (let at = 0; at < bytes.length;) {
      const length = bytes.readUInt32LE(at);
      out.push(bytes.subarray(at + 4, at + 4 + length).toString('utf8'));
      at += 4 + length;
    }
    return out;
  }
  throw new Error(`the test client does not decode ${datatype}`);
}

/**
 * Splits an inference response: the JSON, and each output's data (from JSON, or from the binary part in
 * output order when it carries parameters.binary_data_size).
 */
function parseInferResponse(response) {
  const header = response.headers['inference-header-content-length'];
  const jsonLength = header === undefined ? response.body.length : Number(header);
  const head = JSON.parse(response.body.subarray(0, jsonLength).toString('utf8'));
  let at = jsonLength;
  const outputs = (head.outputs ?? []).map((output) => {
    const size = output.parameters?.binary_data_size;
    if (size === undefined) return { ...output, values: output.datatype === 'FP32' ? Float32Array.from(output.data) : output.data };
    const values = decodeBinary(output.datatype, response.body.subarray(at, at + size));
    at += size;
    return { ...output, values };
  });
  if (at !== response.body.length) throw new Error(`response has ${response.body.length - at} bytes past its outputs`);
  return { head, outputs };
}

/** POST /v2/models/{model}/infer with the input as JSON data (flat unless `nested`). */
function inferJson(address, model, { id, shape, data, outputs, parameters, inputName = 'clips', datatype = 'FP32' }) {
  const body = JSON.stringify({
    ...(id === undefined ? {} : { id }),
    ...(parameters ? { parameters } : {}),
    inputs: [{ name: inputName, shape, datatype, data: Array.from(data) }],
    ...(outputs ? { outputs } : {}),
  });
  return request(address, 'POST', `/v2/models/${model}/infer`, { headers: { 'content-type': 'application/json' }, body });
}

/** The binary request body (JSON then the input's bytes) and its Inference-Header-Content-Length. */
function binaryBody({ id, shape, data, outputs, parameters, inputName = 'clips', datatype = 'FP32' }) {
  const bytes = fp32Bytes(data);
  const head = Buffer.from(
    JSON.stringify({
      ...(id === undefined ? {} : { id }),
      ...(parameters ? { parameters } : {}),
      inputs: [{ name: inputName, shape, datatype, parameters: { binary_data_size: bytes.length } }],
      ...(outputs ? { outputs } : {}),
    }),
  );
  return { body: Buffer.concat([head, bytes]), headerLength: head.length };
}

/** POST /v2/models/{model}/infer with the input as binary tensor data. */
function inferBinary(address, model, tensor, headers = {}) {
  const { body, headerLength } = binaryBody(tensor);
  return request(address, 'POST', `/v2/models/${model}/infer`, {
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(headerLength), ...headers },
    body,
  });
}

/** The tiny classifier (test/py/make_tiny_classifier.py) in a new temporary folder: its .pt path. */
function makeTinyModel() {
  const file = path.join(tempDir('torchvideo-tiny-'), 'tiny.pt');
  execFileSync(PYTHON, [path.join(ROOT, 'test', 'py', 'make_tiny_classifier.py'), '--out', file], { stdio: 'inherit' });
  return file;
}

module.exports = { request, json, fp32Bytes, parseInferResponse, inferJson, inferBinary, binaryBody, makeTinyModel };
