// POST /v1/models/{name}/classify: a video file in (the raw body, or one file field of a multipart form),
// labels out, exactly as classifyVideo gives them. The body streams to a private temporary file (the
// decoder needs a seekable file: an MP4's index may come last), whose clips then go through the model's
// batcher with every other request's.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { classifyVideo } from '../classify';
import { lookupModel, requestSignal, type ServeContext } from './context';
import { bodyTooLarge } from './http-errors';
import { ProtocolError } from './protocol';

/** Bounds of the query's clips and topk (topk also at most the model's classes). */
export const MAX_CLIPS = 64;
const QUERY_KEYS = ['clips', 'topk'];

type ClassifyRequest = FastifyRequest<{ Params: { name: string }; Querystring: Record<string, string | string[]> }>;

function integerQuery(query: Record<string, string | string[]>, key: string, max: number): number | undefined {
  const text = query[key];
  if (text === undefined) return undefined;
  const value = typeof text === 'string' && /^\d{1,9}$/.test(text) ? Number(text) : NaN;
  if (!(value >= 1 && value <= max)) {
    throw new ProtocolError(`expected query parameter ${key} to be an integer in [1, ${max}], got ${JSON.stringify(text)}`);
  }
  return value;
}

const tooLarge = (maxBytes: number) => bodyTooLarge(maxBytes, 'the video');

// Counts the bytes going through and fails past `maxBytes`, so a body larger than the limit stops
// being written at the limit (the partial file is removed with its folder).
function byteLimit(maxBytes: number): Transform {
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      callback(bytes > maxBytes ? tooLarge(maxBytes) : null, chunk);
    },
  });
}

/** Writes `source` to a new file only this user can read (mode 0600, flag 'wx': never an existing file). */
async function saveTo(source: Readable, file: string, maxBytes: number, signal: AbortSignal): Promise<void> {
  await pipeline(source, byteLimit(maxBytes), fs.createWriteStream(file, { flags: 'wx', mode: 0o600 }), { signal });
}

// The one file of a multipart form (text fields before it are allowed and ignored). A second file is
// refused rather than guessed between; a form cut short is the client's error, not the server's.
async function receiveMultipart(request: ClassifyRequest, file: string, maxBytes: number, signal: AbortSignal): Promise<void> {
  let saved: string | undefined;
  try {
    for await (const part of request.files({ limits: { fileSize: maxBytes, files: 2, fields: 16, fieldSize: 64 * 1024 } })) {
      if (saved !== undefined) {
        part.file.resume();
        throw new ProtocolError(`expected one file field in the multipart form, got a second: '${part.fieldname}' after '${saved}'`);
      }
      await saveTo(part.file, file, maxBytes, signal);
      // Busboy stops a file at its fileSize limit and marks it truncated instead of failing.
      if (part.file.truncated) throw tooLarge(maxBytes);
      saved = part.fieldname;
    }
  } catch (error) {
    const known = error instanceof ProtocolError || (error as { statusCode?: unknown }).statusCode !== undefined || signal.aborted;
    if (known) throw error;
    throw new ProtocolError(`expected a well-formed multipart form: ${(error as Error).message}`);
  }
  if (saved === undefined) throw new ProtocolError('expected the multipart form to hold one file field (the video), got none');
}

async function receiveVideo(request: ClassifyRequest, file: string, maxBytes: number, signal: AbortSignal): Promise<void> {
  if (request.isMultipart()) {
    await receiveMultipart(request, file, maxBytes, signal);
  } else {
    const body = request.body as Readable | undefined;
    if (body) await saveTo(body, file, maxBytes, signal);
  }
  // Said as what it is, not as the decoder's failure to open an empty file.
  const size = await fs.promises.stat(file).then(
    (stats) => stats.size,
    () => 0,
  );
  if (size === 0) {
    throw new ProtocolError(
      'expected a video as the request body (Content-Type video/* or application/octet-stream, or a multipart file), got an empty body',
    );
  }
}

async function classifyUpload(context: ServeContext, request: ClassifyRequest, reply: FastifyReply) {
  const served = lookupModel(context, request.params.name, undefined);
  const unknown = Object.keys(request.query).filter((key) => !QUERY_KEYS.includes(key));
  if (unknown.length > 0) {
    throw new ProtocolError(`unknown query parameter ${unknown.map((k) => `'${k}'`).join(', ')} (expected clips, topk)`);
  }
  const clipsPerVideo = integerQuery(request.query, 'clips', MAX_CLIPS);
  const topk = integerQuery(request.query, 'topk', served.spec.numClasses);
  const declared = Number(request.headers['content-length']);
  if (declared > context.maxBodyBytes) throw tooLarge(context.maxBodyBytes);
  const signal = requestSignal(context, reply);
  // A folder of its own (mode 0700 from mkdtemp) under the system's temporary folder: no other user can
  // read the upload or swap the file between its write and its decoding.
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'torchvideo-serve-'));
  try {
    const file = path.join(dir, 'upload');
    await receiveVideo(request, file, context.maxBodyBytes, signal);
    return await classifyVideo(served.batcher, file, { clipsPerVideo, topk, signal });
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
}

/** Registers the video route on `app`. */
export function registerClassifyRoute(app: FastifyInstance, context: ServeContext): void {
  void app.register(async (scope) => {
    // The raw body stays a stream for the handler to write to disk, whatever its size.
    scope.removeAllContentTypeParsers();
    const passThrough = (_request: FastifyRequest, payload: Readable, done: (error: Error | null, body?: unknown) => void) =>
      done(null, payload);
    scope.addContentTypeParser('application/octet-stream', passThrough);
    scope.addContentTypeParser(/^video\/[\w.+-]+$/, passThrough);
    await scope.register(multipart, { limits: { fileSize: context.maxBodyBytes, files: 1 } });

    scope.post('/v1/models/:name/classify', { config: { endpoint: 'classify' } }, async (request: ClassifyRequest, reply: FastifyReply) => {
      try {
        return await classifyUpload(context, request, reply);
      } catch (error) {
        // Refused before the whole upload was read (a bad query, a model not served): close the
        // connection rather than let Node read the rest of the body to keep it alive.
        if (!request.raw.complete) reply.header('connection', 'close');
        throw error;
      }
    });
  });
}
