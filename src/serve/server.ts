// `torchvideo serve`'s HTTP server: loads the models, gives each a dynamic batcher, and serves the KServe
// v2 routes, the video route and /metrics with Fastify. close() drains: readiness goes false at once, new
// requests are refused with 503, the ones in flight finish (within the grace period), then the batchers
// close and the models are freed.
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { TorchVideoError } from '../errors';
import { loadModel, type ModelPrecision } from '../model';
import { requireBearer, UNAUTHENTICATED_PATHS, readTokenFile } from './auth';
import type { ServeContext, ServedModel } from './context';
import { bodyTooLarge, CLIENT_CLOSED, RETRY_AFTER_S, sendFailure } from './http-errors';
import { ServeMetrics } from './metrics';
import type { ModelSpec } from './protocol';
import { LiveStreams } from './live-streams';
import { registerClassifyRoute } from './route-classify';
import { registerStreamRoutes } from './route-streams';
import { registerV2Routes } from './routes-v2';

export interface ServeModelSource {
  /** The name clients use in paths (/v2/models/{name}). */
  name: string;
  /** The TorchScript export. */
  path: string;
}

export interface ServeOptions {
  models: ServeModelSource[];
  device?: string;
  precision?: ModelPrecision;
  /** Default '127.0.0.1': nothing beyond this machine reaches the server unless asked for. */
  host?: string;
  /** Default 8000; 0 takes any free port (see Server.port). */
  port?: number;
  /** The batchers' maxBatchSize (default 32): also the most clips one infer request may send. */
  maxBatch?: number;
  maxDelayMs?: number;
  maxQueueClips?: number;
  /** Largest request body, in MiB (default 64): 413 beyond. */
  maxBodyMb?: number;
  /** How long a request may wait in a queue, in ms (default: no limit): 503 beyond, never run. */
  timeoutMs?: number;
  /** A file holding the bearer token every route but the health probes requires. */
  tokenFile?: string;
  /**
   * How long close() lets requests in flight finish, in seconds (default 30). Clips waiting for company
   * still wait up to maxDelayMs, so keep it above that.
   */
  graceS?: number;
  /** Live streams (POST /v1/streams) running at once (default 16): 429 beyond; 0 turns them off. */
  maxStreams?: number;
  /** Lets clients name local files and devices as stream sources (default false: network URLs only). */
  allowFileSources?: boolean;
}

export interface Server {
  app: FastifyInstance;
  /** The bound address, e.g. http://127.0.0.1:8000. */
  address: string;
  port: number;
  models: ReadonlyMap<string, ServedModel>;
  metrics: ServeMetrics;
  /** True from the start of close(). */
  readonly draining: boolean;
  /**
   * Drains and stops (idempotent): resolves to the number of requests still running when the grace
   * period ended (cancelled, answered 503), 0 when all finished.
   */
  close(): Promise<number>;
}

/** Live streams running at once unless --max-streams says otherwise. */
export const DEFAULT_MAX_STREAMS = 16;

/** The model names and exports must be distinct names safe in a URL path segment. */
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function checkSources(models: ServeModelSource[]): void {
  if (models.length === 0) throw new RangeError('expected at least one model to serve');
  const seen = new Set<string>();
  for (const { name } of models) {
    if (!MODEL_NAME.test(name)) throw new RangeError(`expected a model name of letters, digits, '_', '.' and '-', got '${name}'`);
    if (seen.has(name)) throw new RangeError(`expected distinct model names, got '${name}' twice`);
    seen.add(name);
  }
}

function specOf(served: Pick<ServedModel, 'name' | 'model'>, maxBatch: number): ModelSpec {
  const { preprocessing, numClasses, labels } = served.model.info;
  return {
    name: served.name,
    inputName: 'clips',
    clipShape: [3, preprocessing.clipLength, ...preprocessing.cropSize],
    outputName: 'logits',
    numClasses,
    labels,
    maxBatch,
  };
}

// Counts requests in flight, so a drain knows when the last one is done.
class InFlight {
  count = 0;
  #idle: (() => void)[] = [];

  constructor(readonly onChange: (count: number) => void) {}

  enter(): () => void {
    this.onChange(++this.count);
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.onChange(--this.count);
      if (this.count === 0) for (const resolve of this.#idle.splice(0)) resolve();
    };
  }

  idle(): Promise<void> {
    return this.count === 0 ? Promise.resolve() : new Promise((resolve) => this.#idle.push(resolve));
  }
}

const delay = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms).unref();
  });

function formatAddress(address: string, port: number): string {
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
}

/**
 * Loads the models and starts serving them.
 * @throws RangeError for bad options (a model name, a token file without a token); what loadModel
 *   throws for an export; the listen error (EADDRINUSE, EACCES).
 */
export async function createServer(options: ServeOptions): Promise<Server> {
  checkSources(options.models);
  const host = options.host ?? '127.0.0.1';
  const maxBodyBytes = Math.floor((options.maxBodyMb ?? 64) * 2 ** 20);
  const graceMs = (options.graceS ?? 30) * 1000;
  const token = options.tokenFile === undefined ? undefined : readTokenFile(options.tokenFile);
  const metrics = new ServeMetrics();
  const models = new Map<string, ServedModel>();
  const stop = new AbortController();
  let draining = false;

  const disposeAll = async () => {
    await Promise.all([...models.values()].map((served) => served.batcher.close()));
    for (const served of models.values()) served.model.dispose();
  };
  try {
    for (const source of options.models) {
      const model = await loadModel(source.path, { device: options.device, precision: options.precision });
      const batcher = model.batcher({
        maxBatchSize: options.maxBatch,
        maxDelayMs: options.maxDelayMs,
        maxQueueClips: options.maxQueueClips,
        defaultTimeoutMs: options.timeoutMs,
        onBatch: metrics.onBatch(source.name),
      });
      const partial = { name: source.name, path: path.resolve(source.path), model, batcher };
      models.set(source.name, { ...partial, spec: specOf(partial, batcher.options.maxBatchSize) });
      metrics.watch(source.name, batcher);
    }
  } catch (error) {
    await disposeAll();
    throw error;
  }

  const context: ServeContext = { models, isReady: () => !draining, stopSignal: stop.signal, maxBodyBytes };
  const inFlight = new InFlight((count) => metrics.setInFlight(count));
  const app = Fastify({ logger: false, bodyLimit: maxBodyBytes, return503OnClosing: true, forceCloseConnections: 'idle' });

  // Every request is counted in flight until its response closes (sent, or its client gone), and
  // counted in torchvideo_requests_total then.
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const leave = inFlight.enter();
    reply.raw.once('close', () => {
      leave();
      const endpoint = request.routeOptions.config.endpoint ?? 'not_found';
      const name = (request.params as { name?: string } | undefined)?.name;
      const model = name !== undefined && models.has(name) ? name : '';
      metrics.countRequest(model, endpoint, reply.raw.writableFinished ? reply.statusCode : CLIENT_CLOSED);
    });
  });
  if (token !== undefined) app.addHook('onRequest', requireBearer(token));
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    if (!draining || UNAUTHENTICATED_PATHS.has(request.url.split('?', 1)[0])) return;
    reply.code(503).header('retry-after', String(RETRY_AFTER_S)).header('connection', 'close');
    reply.send({ error: 'the server is shutting down' });
    return reply;
  });
  // Overload is answered before the body is read: a full queue refuses any request (each holds a clip at
  // least), so a client under overload waits for no upload and the model is never touched. The body left
  // unread means the connection cannot be reused: it is closed.
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const endpoint = request.routeOptions.config.endpoint;
    if (endpoint !== 'infer' && endpoint !== 'classify') return;
    const served = models.get((request.params as { name?: string } | undefined)?.name ?? '');
    if (served === undefined || served.batcher.queuedClips < served.batcher.options.maxQueueClips) return;
    metrics.countRefusedEarly(served.name);
    reply.code(503).header('retry-after', String(RETRY_AFTER_S)).header('connection', 'close');
    reply.send({
      error: `the model '${served.name}' is overloaded: its queue holds ${served.batcher.options.maxQueueClips} clips; retry later`,
    });
    return reply;
  });
  app.setErrorHandler((error, _request, reply) =>
    // Fastify's own 413 says only "too large": say the limit and the flag that sets it.
    sendFailure(reply, (error as { code?: string }).code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? bodyTooLarge(maxBodyBytes) : error),
  );
  app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: `no route ${request.method} ${request.url.split('?', 1)[0]}` }));

  registerV2Routes(app, context);
  registerClassifyRoute(app, context);
  const streams = new LiveStreams(options.maxStreams ?? DEFAULT_MAX_STREAMS, metrics);
  registerStreamRoutes(app, context, { streams, allowFileSources: options.allowFileSources ?? false });
  app.get('/metrics', { config: { endpoint: 'metrics' } }, async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });

  try {
    await app.listen({ host, port: options.port ?? 8000 });
  } catch (error) {
    await app.close();
    await disposeAll();
    throw error;
  }
  // A TCP listener's address is always an AddressInfo (a string only for a pipe or socket file).
  const bound = app.server.address() as AddressInfo;

  let closing: Promise<number> | undefined;
  const close = async (): Promise<number> => {
    draining = true;
    // Streams never end by themselves: stopped first, their feeds ended (each an open response, counted
    // in flight), so that the wait below is for the requests alone.
    await streams.close();
    let cut = 0;
    if (inFlight.count > 0) {
      const finished = await Promise.race([inFlight.idle().then(() => true), delay(graceMs).then(() => false)]);
      if (!finished) {
        cut = inFlight.count;
        // Out of time: what still runs is cancelled (its queued clips never run) and answered 503;
        // what cannot answer (a body still uploading) has its connection closed.
        stop.abort(new TorchVideoError('the server is shutting down', 'ERR_DISPOSED'));
        await Promise.race([inFlight.idle(), delay(1000)]);
        app.server.closeAllConnections();
      }
    }
    await app.close();
    await disposeAll();
    return cut;
  };

  return {
    app,
    address: formatAddress(bound.address, bound.port),
    port: bound.port,
    models,
    metrics,
    get draining() {
      return draining;
    },
    close: () => (closing ??= close()),
  };
}
