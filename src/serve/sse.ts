// Server-Sent Events to many subscribers of one stream. Each subscriber is an HTTP response kept open;
// an event is written to every one of them. A subscriber that reads slower than the events come has its
// bytes pile up in its socket's buffer: past MAX_PENDING_BYTES it is closed (its client reconnects and
// starts from the newest event) rather than let one slow reader hold the server's memory.
import type { ServerResponse } from 'node:http';

/** How often an idle feed's subscribers get a comment line (proxies commonly cut a connection idle for 60 s). */
export const KEEP_ALIVE_MS = 15_000;

/** Bytes a subscriber may leave unread before it is closed (some thousands of results). */
export const MAX_PENDING_BYTES = 1 << 20;

/** One SSE message: `event: NAME` and the data as one JSON line. */
export function formatEvent(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Writes the SSE response head (the headers go out at once, so the client knows it is subscribed). */
export function openEventStream(response: ServerResponse): void {
  response.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    // A reverse proxy (nginx) would otherwise buffer the events.
    'x-accel-buffering': 'no',
  });
  response.flushHeaders();
}

export class EventFeed {
  readonly #subscribers = new Set<ServerResponse>();
  #closed = false;

  get size(): number {
    return this.#subscribers.size;
  }

  /** Adds an opened event stream; a client that disconnects is removed (nothing kept for it). */
  subscribe(response: ServerResponse): void {
    if (this.#closed) {
      response.end();
      return;
    }
    this.#subscribers.add(response);
    response.once('close', () => this.#subscribers.delete(response));
  }

  /** Writes one event to every subscriber, closing those too far behind. */
  send(name: string, data: unknown): void {
    const message = formatEvent(name, data);
    for (const response of this.#subscribers) {
      if (response.writableLength > MAX_PENDING_BYTES) {
        this.#subscribers.delete(response);
        response.destroy();
        continue;
      }
      response.write(message);
    }
  }

  /** Writes a comment line, which clients ignore: an idle connection is not cut by a proxy's timeout. */
  keepAlive(): void {
    for (const response of this.#subscribers) if (response.writableLength <= MAX_PENDING_BYTES) response.write(': keep-alive\n\n');
  }

  /** Writes a last event (if any) and ends every subscriber's response; later subscribers are ended at once. */
  close(name?: string, data?: unknown): void {
    if (name !== undefined) this.send(name, data);
    this.#closed = true;
    for (const response of this.#subscribers) response.end();
    this.#subscribers.clear();
  }
}
