// The KServe v2 / Open Inference Protocol REST routes: health, server and model metadata, model
// readiness and inference (JSON, and Triton's binary tensor data and classification extensions).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Tensor } from '../tensor';
import { versions } from '../versions';
import { lookupModel, MODEL_VERSION, requestSignal, type ServeContext } from './context';
import { encodeInferResponse, headerLengthOf, outputsOf, parseInferRequest } from './protocol';

/** The extensions this server implements, as Triton names them in its server metadata. */
export const EXTENSIONS = ['binary_tensor_data', 'classification', 'schedule_policy'] as const;

/** Triton's platform name for TorchScript models. */
export const PLATFORM = 'pytorch_libtorch';

type ModelParams = { name: string; version?: string };

/** The logits of `clips` as a CPU float32 array of their own (the tensors freed). */
async function runClips(context: ServeContext, request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) {
  const served = lookupModel(context, request.params.name, request.params.version);
  const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
  const headerLength = headerLengthOf(request.headers['inference-header-content-length'], body.length);
  const parsed = parseInferRequest(body, headerLength, served.spec);
  // The parsed array is this request's own: the tensor takes it over without a copy.
  const clips = Tensor.from(parsed.data, parsed.shape, { transfer: true });
  let logits: Tensor;
  try {
    const { priority, timeoutMs } = parsed;
    logits = await served.batcher.forward(clips, { signal: requestSignal(context, reply), priority, timeoutMs });
  } finally {
    clips.dispose();
  }
  try {
    if (logits.device !== 'cpu') {
      const onDevice = logits;
      logits = await onDevice.to('cpu');
      onDevice.dispose();
    }
    // An array taken before dispose() stays valid (it holds the memory until collected).
    return { served, parsed, values: logits.data() as Float32Array };
  } finally {
    logits.dispose();
  }
}

/** Registers the v2 routes on `app`; inference bodies up to context.maxBodyBytes, read whole. */
export function registerV2Routes(app: FastifyInstance, context: ServeContext): void {
  app.get('/v2/health/live', { config: { endpoint: 'live' } }, async () => ({ live: true }));

  app.get('/v2/health/ready', { config: { endpoint: 'ready' } }, async (_request, reply) => {
    const ready = context.isReady();
    return reply.code(ready ? 200 : 503).send({ ready });
  });

  app.get('/v2', { config: { endpoint: 'server_metadata' } }, async () => ({
    name: 'torchvideo',
    version: versions.torchvideo,
    extensions: [...EXTENSIONS],
  }));

  const modelMetadata = async (request: FastifyRequest<{ Params: ModelParams }>) => {
    const { spec } = lookupModel(context, request.params.name, request.params.version);
    return {
      name: spec.name,
      versions: [MODEL_VERSION],
      platform: PLATFORM,
      inputs: [{ name: spec.inputName, datatype: 'FP32', shape: [-1, ...spec.clipShape] }],
      outputs: [{ name: spec.outputName, datatype: 'FP32', shape: [-1, spec.numClasses] }],
    };
  };
  app.get('/v2/models/:name', { config: { endpoint: 'model_metadata' } }, modelMetadata);
  app.get('/v2/models/:name/versions/:version', { config: { endpoint: 'model_metadata' } }, modelMetadata);

  const modelReady = async (request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) => {
    const { name } = lookupModel(context, request.params.name, request.params.version);
    const ready = context.isReady();
    return reply.code(ready ? 200 : 503).send({ name, ready });
  };
  app.get('/v2/models/:name/ready', { config: { endpoint: 'model_ready' } }, modelReady);
  app.get('/v2/models/:name/versions/:version/ready', { config: { endpoint: 'model_ready' } }, modelReady);

  // Inference bodies are bytes whatever their Content-Type (JSON, or JSON then binary tensor data;
  // Triton's clients send either type): this scope reads every body whole, up to the limit (413 beyond).
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: context.maxBodyBytes }, (_request, body, done) => done(null, body));
    const infer = async (request: FastifyRequest<{ Params: ModelParams }>, reply: FastifyReply) => {
      const { served, parsed, values } = await runClips(context, request, reply);
      const encoded = encodeInferResponse({ name: served.name, version: MODEL_VERSION }, parsed.id, outputsOf(parsed, values, served.spec));
      if (encoded.headerLength !== undefined) reply.header('inference-header-content-length', String(encoded.headerLength));
      return reply.type(encoded.contentType).send(encoded.body);
    };
    scope.post('/v2/models/:name/infer', { config: { endpoint: 'infer' } }, infer);
    scope.post('/v2/models/:name/versions/:version/infer', { config: { endpoint: 'infer' } }, infer);
  });
}
