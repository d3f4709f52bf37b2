// What every route of the service shares: the models served (each with its batcher and protocol spec),
// whether the server takes requests, and the signal that ends a request's work when its client goes away
// or the shutdown's grace period runs out.
import type { FastifyReply } from 'fastify';
import type { Batcher } from '../batcher';
import type { Model } from '../model';
import { ProtocolError, type ModelSpec } from './protocol';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's name in torchvideo_requests_total's endpoint label. */
    endpoint?: string;
  }
}

/** The one version each model has: the protocol's optional /versions/{v} path names it. */
export const MODEL_VERSION = '1';

export interface ServedModel {
  name: string;
  path: string;
  model: Model;
  batcher: Batcher;
  spec: ModelSpec;
}

export interface ServeContext {
  models: ReadonlyMap<string, ServedModel>;
  /** False from the start of shutdown: readiness answers 503 and new requests are refused. */
  isReady(): boolean;
  /** Aborts the work of every request still running when the shutdown's grace period ends. */
  stopSignal: AbortSignal;
  maxBodyBytes: number;
}

/**
 * The model a path names, with its optional version.
 * @throws ProtocolError 404 for a name that is not served or a version it does not have.
 */
export function lookupModel(context: ServeContext, name: string, version: string | undefined): ServedModel {
  const served = context.models.get(name);
  if (!served) {
    const names = [...context.models.keys()].map((n) => `'${n}'`).join(', ');
    throw new ProtocolError(`unknown model '${name}' (this server serves ${names})`, 404);
  }
  if (version !== undefined && version !== MODEL_VERSION) {
    throw new ProtocolError(`model '${name}' has no version '${version}' (its only version is '${MODEL_VERSION}')`, 404);
  }
  return served;
}

/** A client that closed its connection before the answer: its queued work is cancelled. */
export class ClientClosedError extends Error {
  constructor() {
    super('the client closed the connection before the answer');
    this.name = 'AbortError';
  }
}

/**
 * The signal a request's work runs under: aborted when the client disconnects before the reply is
 * written (its queued clips leave the batcher's queue and never run), or when the server's grace
 * period ends during shutdown.
 */
export function requestSignal(context: ServeContext, reply: FastifyReply): AbortSignal {
  const client = new AbortController();
  // The response's 'close' comes when it was sent, or when the connection went first: only the second
  // leaves it unfinished.
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) client.abort(new ClientClosedError());
  });
  return AbortSignal.any([client.signal, context.stopSignal]);
}
