// Bearer-token authentication (--token-file): every route but the two health probes requires
// `Authorization: Bearer <token>`, so a Kubernetes probe (which sends no credentials) still works while
// inference, metadata and metrics stay closed to whoever lacks the token.
import { createHash, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Paths served without a token: liveness and readiness (they reveal nothing but up/down). */
export const UNAUTHENTICATED_PATHS: ReadonlySet<string> = new Set(['/v2/health/live', '/v2/health/ready']);

/**
 * The token in `file`: its content without the trailing newline an editor or `echo` leaves.
 * @throws RangeError when the file is empty or the token holds whitespace or control characters
 *   (a header could not carry it); the fs error when it cannot be read.
 */
export function readTokenFile(file: string): string {
  const token = fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  if (token.length === 0) throw new RangeError(`expected --token-file '${file}' to hold a token, got an empty file`);
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new RangeError(`expected --token-file '${file}' to hold one token of printable ASCII without spaces (an HTTP header carries it)`);
  }
  return token;
}

// Compared as sha256 digests: timingSafeEqual needs equal lengths, and comparing digests keeps the
// token's length from showing in how long a wrong guess takes.
const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** True when `header` is `Bearer <token>` with exactly this token, compared in constant time. */
export function bearerMatches(header: string | undefined, expected: Buffer): boolean {
  const match = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header);
  if (!match) return false;
  return timingSafeEqual(digest(match[1]), expected);
}

/** An onRequest hook answering 401 to requests without the token (health probes exempt). */
export function requireBearer(token: string) {
  const expected = digest(token);
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const path = request.url.split('?', 1)[0];
    if (UNAUTHENTICATED_PATHS.has(path)) return;
    if (bearerMatches(request.headers.authorization, expected)) return;
    const error = request.headers.authorization === undefined ? 'missing Authorization: Bearer token' : 'wrong Authorization: Bearer token';
    reply.code(401).header('www-authenticate', 'Bearer').send({ error });
    return reply;
  };
}
