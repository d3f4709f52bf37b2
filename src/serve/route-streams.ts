// The live-stream routes: POST /v1/streams starts classifying a source through a served model's batcher;
// GET lists them or one, DELETE stops one, and GET /v1/streams/{id}/events follows one as Server-Sent
// Events (`result`, then `end` or `error`). The body is untrusted: every field's type and range is checked
// before anything starts, and a client may make the server open network URLs only; local files, devices
// and file:// need the operator's --allow-file-sources.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { describe } from '../validate';
import { lookupModel, type ServeContext, type ServedModel } from './context';
import type { LiveStreamOptions, LiveStreams } from './live-streams';
import { ProtocolError } from './protocol';
import { openEventStream } from './sse';

export interface StreamRouteOptions {
  streams: LiveStreams;
  /** Lets clients name local files (and devices) as sources: off unless the operator says so. */
  allowFileSources: boolean;
}

/** Largest POST /v1/streams body, in bytes: its fields are a few short strings and numbers. */
export const MAX_STREAM_BODY_BYTES = 16 * 1024;
const MAX_SOURCE_LENGTH = 4096;
const MAX_MODEL_NAME_LENGTH = 256;
/** Subscribers of one stream's events at once: 429 beyond. */
export const MAX_SUBSCRIBERS = 64;

// A client's stream is bounded tighter than classifyStream allows: a window holds clipLength decoded
// frames, and a server has many streams.
const LIMITS = {
  clipLength: 256,
  frameRate: 120,
  hopSec: 3600,
  average: 100,
  // A stalled source must free its slot: no 0 (never) here.
  stallTimeoutMs: { min: 100, max: 600_000 },
  reconnectCount: 1000,
  reconnectDelayMs: 600_000,
};

const NETWORK_URL = /^(https?|udp|tcp|rtsp|srt):\/\//i;
const FIELDS = [
  'model',
  'source',
  'hopSec',
  'clipLength',
  'frameRate',
  'topk',
  'average',
  'threshold',
  'realtime',
  'stallTimeoutMs',
  'reconnect',
];
const RECONNECT_FIELDS = ['retries', 'initialDelayMs', 'maxDelayMs'];

const bad = (name: string, what: string, value: unknown) => new ProtocolError(`expected ${name} to be ${what}, got ${describe(value)}`);

function integerField(body: Record<string, unknown>, name: string, min: number, max: number, prefix = ''): number | undefined {
  const value = body[name];
  if (value === undefined) return undefined;
  if (!(Number.isInteger(value) && (value as number) >= min && (value as number) <= max)) {
    throw bad(`${prefix}${name}`, `an integer in [${min}, ${max}]`, value);
  }
  return value as number;
}

function numberField(body: Record<string, unknown>, name: string, { min, max, open }: { min: number; max: number; open: boolean }) {
  const value = body[name];
  if (value === undefined) return undefined;
  const ok = typeof value === 'number' && (open ? value > min : value >= min) && value <= max;
  if (!ok) throw bad(name, `a number in ${open ? '(' : '['}${min}, ${max}]`, value);
  return value as number;
}

function stringField(body: Record<string, unknown>, name: string, maxLength: number): string {
  const value = body[name];
  if (typeof value !== 'string' || value.length === 0) throw bad(name, 'a non-empty string', value);
  if (value.length > maxLength) throw new ProtocolError(`expected ${name} to be at most ${maxLength} characters, got ${value.length}`);
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  if (/[\x00-\x1f\x7f]/.test(value)) throw new ProtocolError(`expected ${name} without control characters, got ${describe(value)}`);
  return value;
}

function reconnectField(value: unknown): LiveStreamOptions['reconnect'] {
  if (value === undefined || value === false) return value;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('reconnect', 'false or an object', value);
  const fields = value as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((key) => !RECONNECT_FIELDS.includes(key));
  if (unknown.length > 0) throw new ProtocolError(`unknown field reconnect.${unknown[0]} (expected ${RECONNECT_FIELDS.join(', ')})`);
  integerField(fields, 'retries', 0, LIMITS.reconnectCount, 'reconnect.');
  integerField(fields, 'initialDelayMs', 0, LIMITS.reconnectDelayMs, 'reconnect.');
  integerField(fields, 'maxDelayMs', 0, LIMITS.reconnectDelayMs, 'reconnect.');
  // Passed on as given: classifyStream owns the meaning and the defaults of reconnecting.
  return { ...fields };
}

/**
 * The model, source and options a POST /v1/streams body asks for.
 * @throws ProtocolError 400 naming a bad field, 404 for a model not served, 403 for a local source
 *   without --allow-file-sources.
 */
export function parseStreamRequest(
  body: unknown,
  context: ServeContext,
  allowFileSources: boolean,
): { served: ServedModel; source: string; options: LiveStreamOptions } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ProtocolError(`expected a JSON object as the body (Content-Type application/json), got ${describe(body)}`);
  }
  const fields = body as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((key) => !FIELDS.includes(key));
  if (unknown.length > 0) throw new ProtocolError(`unknown field '${unknown[0].slice(0, 64)}' (expected ${FIELDS.join(', ')})`);
  const model = stringField(fields, 'model', MAX_MODEL_NAME_LENGTH);
  const source = stringField(fields, 'source', MAX_SOURCE_LENGTH);
  const realtime = fields.realtime;
  if (realtime !== undefined && typeof realtime !== 'boolean') throw bad('realtime', 'a boolean', realtime);
  const served = lookupModel(context, model, undefined);
  const options: LiveStreamOptions = {
    hopSec: numberField(fields, 'hopSec', { min: 0, max: LIMITS.hopSec, open: true }),
    clipLength: integerField(fields, 'clipLength', 1, LIMITS.clipLength),
    frameRate: numberField(fields, 'frameRate', { min: 0, max: LIMITS.frameRate, open: true }),
    topk: integerField(fields, 'topk', 1, served.spec.numClasses),
    average: integerField(fields, 'average', 1, LIMITS.average),
    threshold: numberField(fields, 'threshold', { min: 0, max: 1, open: false }),
    realtime: realtime as boolean | undefined,
    stallTimeoutMs: integerField(fields, 'stallTimeoutMs', LIMITS.stallTimeoutMs.min, LIMITS.stallTimeoutMs.max),
    reconnect: reconnectField(fields.reconnect),
  };
  if (!NETWORK_URL.test(source) && !allowFileSources) {
    throw new ProtocolError(
      `the source must be an http, https, udp, tcp, rtsp or srt URL: this server opens no local files or devices (--allow-file-sources)`,
      403,
    );
  }
  // Fields left out take classifyStream's defaults (the model's clip length and frame rate).
  for (const key of Object.keys(options) as (keyof LiveStreamOptions)[]) if (options[key] === undefined) delete options[key];
  return { served, source, options };
}

type StreamRequest = FastifyRequest<{ Params: { id: string } }>;

/** Registers the live-stream routes on `app`. */
export function registerStreamRoutes(app: FastifyInstance, context: ServeContext, { streams, allowFileSources }: StreamRouteOptions): void {
  const unknownStream = (id: string) => new ProtocolError(`unknown stream '${id.slice(0, 64)}'`, 404);

  app.post('/v1/streams', { config: { endpoint: 'streams_start' }, bodyLimit: MAX_STREAM_BODY_BYTES }, async (request, reply) => {
    const { served, source, options } = parseStreamRequest(request.body, context, allowFileSources);
    if (streams.running >= streams.maxStreams) {
      throw new ProtocolError(`the server runs its limit of ${streams.maxStreams} streams (--max-streams); stop one or retry later`, 429);
    }
    return reply.code(201).send(streams.start(served, source, options));
  });

  app.get('/v1/streams', { config: { endpoint: 'streams_list' } }, async () => ({ streams: streams.list() }));

  app.get('/v1/streams/:id', { config: { endpoint: 'stream' } }, async (request: StreamRequest) => {
    const info = streams.get(request.params.id);
    if (!info) throw unknownStream(request.params.id);
    return info;
  });

  app.delete('/v1/streams/:id', { config: { endpoint: 'stream_stop' } }, async (request: StreamRequest, reply: FastifyReply) => {
    if (!(await streams.delete(request.params.id))) throw unknownStream(request.params.id);
    return reply.code(204).send();
  });

  app.get('/v1/streams/:id/events', { config: { endpoint: 'stream_events' } }, async (request: StreamRequest, reply: FastifyReply) => {
    const subscribers = streams.subscribers(request.params.id);
    if (subscribers === undefined) throw unknownStream(request.params.id);
    if (subscribers >= MAX_SUBSCRIBERS) {
      throw new ProtocolError(`stream '${request.params.id}' has its limit of ${MAX_SUBSCRIBERS} event subscribers`, 429);
    }
    // The response stays open for the events: Fastify lets go of it, the feed writes and ends it.
    reply.hijack();
    openEventStream(reply.raw);
    streams.subscribe(request.params.id, reply.raw);
  });
}
