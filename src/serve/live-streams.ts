// The live streams `torchvideo serve` runs for its clients (POST /v1/streams): each a classifyStream loop
// through its model's batcher, so the windows of every stream and the v2 requests share forward passes.
// Running streams are bounded by --max-streams; finished ones stay listed (their final state and their
// feed's last event) up to the same number, the oldest forgotten first.
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { classifyStream, redactSource, type ClassifyStreamOptions, type StreamResult } from '../stream';
import type { ServedModel } from './context';
import type { ServeMetrics } from './metrics';
import { EventFeed, formatEvent, KEEP_ALIVE_MS } from './sse';

export type LiveStreamState = 'running' | 'ended' | 'failed';

/** A stream as the routes report it. */
export interface LiveStreamInfo {
  id: string;
  model: string;
  /** The source without a URL's user:password. */
  source: string;
  state: LiveStreamState;
  /** Results delivered so far. */
  results: number;
  dropped: number;
  reconnects: number;
  error?: { code?: string; message: string };
}

/** The options a client may set (validated by the route before a stream starts). */
export type LiveStreamOptions = Omit<ClassifyStreamOptions, 'signal' | 'onEvent'>;

/** Why a stream stopped without its source ending: its feed's 'end' event says so. */
export type StopReason = 'deleted' | 'server shutting down';

class LiveStream {
  readonly id = randomUUID();
  readonly source: string;
  state: LiveStreamState = 'running';
  results = 0;
  dropped = 0;
  reconnects = 0;
  error: LiveStreamInfo['error'];
  readonly feed = new EventFeed();
  readonly controller = new AbortController();
  /** The last event of a finished stream, sent at once to a late subscriber. */
  final: string | undefined;
  /** Settles when the loop has stopped and its source is closed. */
  done: Promise<void> = Promise.resolve();

  constructor(
    readonly served: ServedModel,
    source: string,
  ) {
    this.source = redactSource(source);
  }

  info(): LiveStreamInfo {
    const { id, source, state, results, dropped, reconnects, error } = this;
    return { id, model: this.served.name, source, state, results, dropped, reconnects, ...(error ? { error } : {}) };
  }
}

export class LiveStreams {
  readonly #running = new Map<string, LiveStream>();
  // Insertion order is finishing order: the first key is the oldest, forgotten first.
  readonly #finished = new Map<string, LiveStream>();

  // A stream may be silent for long (opening, a stalled source, a long hop): its subscribers get a
  // comment now and then. Unreferenced: it never keeps the process alive; close() stops it.
  readonly #keepAlive = setInterval(() => {
    for (const stream of this.#running.values()) stream.feed.keepAlive();
  }, KEEP_ALIVE_MS).unref();

  constructor(
    readonly maxStreams: number,
    readonly metrics: ServeMetrics,
  ) {}

  get running(): number {
    return this.#running.size;
  }

  /** Starts a stream (the caller checked the options and the limit); returns its info at once. */
  start(served: ServedModel, source: string, options: LiveStreamOptions): LiveStreamInfo {
    const stream = new LiveStream(served, source);
    this.#running.set(stream.id, stream);
    this.metrics.setStreamsActive(served.name, this.#countRunning(served.name));
    stream.done = this.#run(stream, source, options);
    return stream.info();
  }

  #countRunning(model: string): number {
    let count = 0;
    for (const stream of this.#running.values()) if (stream.served.name === model) count++;
    return count;
  }

  async #run(stream: LiveStream, source: string, options: LiveStreamOptions): Promise<void> {
    const { served, controller } = stream;
    try {
      const results = classifyStream(served.batcher, source, { ...options, signal: controller.signal });
      for await (const result of results) this.#deliver(stream, result);
      this.#finish(stream, 'ended', 'end', { id: stream.id, state: 'ended', results: stream.results });
    } catch (error) {
      if (controller.signal.aborted) {
        this.#finish(stream, 'ended', 'end', { id: stream.id, state: 'ended', results: stream.results, reason: controller.signal.reason });
      } else {
        const code = (error as { code?: string }).code;
        stream.error = { ...(code ? { code } : {}), message: error instanceof Error ? error.message : String(error) };
        this.#finish(stream, 'failed', 'error', { id: stream.id, state: 'failed', error: stream.error });
      }
    }
  }

  #deliver(stream: LiveStream, result: StreamResult): void {
    stream.results++;
    this.metrics.countStreamResult(stream.served.name, Math.max(0, result.dropped - stream.dropped));
    stream.dropped = result.dropped;
    stream.reconnects = result.reconnects;
    stream.feed.send('result', result);
  }

  #finish(stream: LiveStream, state: LiveStreamState, event: string, data: unknown): void {
    stream.state = state;
    stream.final = formatEvent(event, data);
    stream.feed.close(event, data);
    this.#running.delete(stream.id);
    this.metrics.setStreamsActive(stream.served.name, this.#countRunning(stream.served.name));
    // A stream a DELETE stopped is forgotten; any other stays listed, within the bound.
    if (stream.controller.signal.reason === 'deleted') return;
    this.#finished.set(stream.id, stream);
    for (const id of this.#finished.keys()) {
      if (this.#finished.size <= this.maxStreams) break;
      this.#finished.delete(id);
    }
  }

  #find(id: string): LiveStream | undefined {
    return this.#running.get(id) ?? this.#finished.get(id);
  }

  get(id: string): LiveStreamInfo | undefined {
    return this.#find(id)?.info();
  }

  /** Running streams first (oldest first), then finished ones. */
  list(): LiveStreamInfo[] {
    return [...this.#running.values(), ...this.#finished.values()].map((stream) => stream.info());
  }

  /** How many follow `id`'s events; undefined for an unknown id. */
  subscribers(id: string): number | undefined {
    return this.#find(id)?.feed.size;
  }

  /**
   * Sends `id`'s events to `response` (already opened as an event stream): a finished stream's last
   * event at once, then the response ends. False for an unknown id.
   */
  subscribe(id: string, response: ServerResponse): boolean {
    const stream = this.#find(id);
    if (!stream) return false;
    if (stream.final !== undefined) response.end(stream.final);
    else stream.feed.subscribe(response);
    return true;
  }

  /** Stops `id` (its source closed, its feeds ended) and forgets it; false for an unknown id. */
  async delete(id: string): Promise<boolean> {
    const stream = this.#find(id);
    if (!stream) return false;
    stream.controller.abort('deleted' satisfies StopReason);
    await stream.done;
    this.#finished.delete(id);
    return true;
  }

  /** Stops every running stream and ends its feeds (the server's drain); resolves when all stopped. */
  async close(): Promise<void> {
    clearInterval(this.#keepAlive);
    const running = [...this.#running.values()];
    for (const stream of running) stream.controller.abort('server shutting down' satisfies StopReason);
    await Promise.all(running.map((stream) => stream.done));
  }
}
