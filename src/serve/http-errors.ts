// Which HTTP status each failure is, and the protocol's error body `{ "error": "..." }` for all of them.
import type { FastifyReply } from 'fastify';
import { TorchVideoError } from '../errors';
import { ProtocolError } from './protocol';

/** Status for a request whose client went away before the answer (nginx's convention; never sent). */
export const CLIENT_CLOSED = 499;

/** Seconds a client told 503 should wait before retrying. */
export const RETRY_AFTER_S = 1;

// An input the client sent that the network or decoder cannot take is the client's fault, not ours.
const CLIENT_VIDEO_CODES = new Set(['ERR_VIDEO_OPEN', 'ERR_NO_VIDEO_STREAM', 'ERR_VIDEO_DECODE']);

export interface HttpFailure {
  status: number;
  message: string;
  retryAfter?: number;
}

/** The 413 for a body past the server's limit, naming the limit and the flag that sets it. */
export function bodyTooLarge(maxBytes: number, what = 'the request body'): ProtocolError {
  return new ProtocolError(`${what} is larger than the server's limit of ${maxBytes} bytes (--max-body-mb ${maxBytes / 2 ** 20})`, 413);
}

/** The status and message `error` is answered with. */
export function failureOf(error: unknown): HttpFailure {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof ProtocolError) return { status: error.status, message };
  if (error instanceof Error && error.name === 'AbortError') {
    // Streams abort with an AbortError whose cause is the signal's reason: the shutdown's is a 503.
    if (error.cause instanceof Error) return failureOf(error.cause);
    return { status: CLIENT_CLOSED, message };
  }
  if (error instanceof TorchVideoError) {
    switch (error.code) {
      // The queue is full: refused at once, the model untouched; another replica, or this one in a
      // moment, can take it.
      case 'ERR_QUEUE_FULL':
        return { status: 503, message, retryAfter: RETRY_AFTER_S };
      // Timed out while queued: it never ran, so it is overload like a full queue, safe to retry, and
      // 503 tells a load balancer so. (504 is a gateway's answer about a server behind it; this is the
      // origin server.)
      case 'ERR_TIMEOUT':
        return { status: 503, message, retryAfter: RETRY_AFTER_S };
      // The batcher closed under the request: the server is shutting down.
      case 'ERR_DISPOSED':
        return { status: 503, message: 'the server is shutting down', retryAfter: RETRY_AFTER_S };
      default:
        if (CLIENT_VIDEO_CODES.has(error.code)) {
          // The server's temporary path means nothing to the client (and is none of its business).
          const text = error.path ? message.split(error.path).join('the uploaded file') : message;
          return { status: 400, message: `the uploaded video cannot be decoded: ${text}` };
        }
        return { status: 500, message: `${message} (${error.code})` };
    }
  }
  // Fastify's and its plugins' own errors carry their status (413 body too large, 415, 400 bad JSON);
  // first, as some of them are RangeErrors too.
  const statusCode = (error as { statusCode?: unknown }).statusCode;
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) return { status: statusCode, message };
  // The library's argument checks: a bad shape, dtype or value the client chose.
  if (error instanceof RangeError || error instanceof TypeError) return { status: 400, message };
  return { status: 500, message };
}

/** Sends `error` as `{ "error": message }` with its status (and Retry-After for 503). */
export function sendFailure(reply: FastifyReply, error: unknown): FastifyReply {
  const failure = failureOf(error);
  if (failure.retryAfter !== undefined) reply.header('retry-after', String(failure.retryAfter));
  // A 413 comes before the body was read: close the connection rather than read the rest of it.
  if (failure.status === 413) reply.header('connection', 'close');
  return reply.code(failure.status).send({ error: failure.message });
}
