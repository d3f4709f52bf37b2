// The service's Prometheus metrics, in a registry of its own (not prom-client's global one: two servers
// in one process, or a host application's own metrics, must not collide). Batch metrics come from the
// batchers' onBatch reports; the queue gauge and the rejected / timed-out counters read batcher.stats()
// at each scrape, so they count what the batcher itself refused, whichever route asked.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BatchInfo, Batcher } from '../batcher';

// Seconds: from a fraction of a millisecond (a queue that never waits) to a minute (a CPU under load).
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

export class ServeMetrics {
  readonly registry = new Registry();
  readonly #batchers = new Map<string, Batcher>();
  // What stats() said at the last scrape, per model, so the counters move by the difference.
  readonly #seen = new Map<string, { rejected: number; timedOut: number }>();
  readonly #requests: Counter<'model' | 'endpoint' | 'status'>;
  readonly #queueDuration: Histogram<'model'>;
  readonly #computeDuration: Histogram<'model'>;
  readonly #batchSize: Histogram<'model'>;
  readonly #inFlight: Gauge;
  readonly #streamsActive: Gauge<'model'>;
  readonly #streamResults: Counter<'model'>;
  readonly #streamDropped: Counter<'model'>;

  constructor() {
    const registers = [this.registry];
    this.#requests = new Counter({
      name: 'torchvideo_requests_total',
      help: 'HTTP requests answered, by model, endpoint and status code',
      labelNames: ['model', 'endpoint', 'status'],
      registers,
    });
    this.#queueDuration = new Histogram({
      name: 'torchvideo_queue_duration_seconds',
      help: "Time a request's clips waited in the batcher's queue",
      labelNames: ['model'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.#computeDuration = new Histogram({
      name: 'torchvideo_compute_duration_seconds',
      help: 'Time of one batched forward pass',
      labelNames: ['model'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.#batchSize = new Histogram({
      name: 'torchvideo_batch_size',
      help: 'Clips in one batched forward pass',
      labelNames: ['model'],
      buckets: BATCH_BUCKETS,
      registers,
    });
    this.#inFlight = new Gauge({
      name: 'torchvideo_http_requests_in_flight',
      help: 'HTTP requests received and not yet answered (a drain waits for these)',
      registers,
    });
    this.#streamsActive = new Gauge({
      name: 'torchvideo_streams_active',
      help: 'Live streams running (POST /v1/streams), by model',
      labelNames: ['model'],
      registers,
    });
    this.#streamResults = new Counter({
      name: 'torchvideo_stream_results_total',
      help: 'Results the live streams delivered, by model',
      labelNames: ['model'],
      registers,
    });
    this.#streamDropped = new Counter({
      name: 'torchvideo_stream_dropped_windows_total',
      help: 'Windows of live streams dropped for a newer one (the model or the batcher fell behind), by model',
      labelNames: ['model'],
      registers,
    });
    const batchers = this.#batchers;
    new Gauge({
      name: 'torchvideo_queued_clips',
      help: "Clips waiting in the batcher's queue",
      labelNames: ['model'],
      registers,
      collect() {
        for (const [model, batcher] of batchers) if (!batcher.closed) this.set({ model }, batcher.stats().queuedClips);
      },
    });
    const seen = this.#seen;
    const counterOfStat = (name: string, help: string, stat: 'rejected' | 'timedOut') =>
      new Counter({
        name,
        help,
        labelNames: ['model'],
        registers,
        collect() {
          for (const [model, batcher] of batchers) {
            if (batcher.closed) continue;
            const last = seen.get(model) ?? { rejected: 0, timedOut: 0 };
            const now = batcher.stats()[stat];
            if (now > last[stat]) this.inc({ model }, now - last[stat]);
            seen.set(model, { ...last, [stat]: now });
          }
        },
      });
    counterOfStat('torchvideo_rejected_total', 'Requests refused at once because the queue was full (HTTP 503)', 'rejected');
    counterOfStat('torchvideo_timed_out_total', 'Requests that timed out while queued and never ran (HTTP 503)', 'timedOut');
  }

  /** Counts `batcher`'s queue and refusals under `model`; pass onBatch(model) to its options. */
  watch(model: string, batcher: Batcher): void {
    this.#batchers.set(model, batcher);
    // Every label set starts at 0, so a rate() over the first refusal sees it.
    (this.registry.getSingleMetric('torchvideo_rejected_total') as Counter<'model'>).inc({ model }, 0);
    (this.registry.getSingleMetric('torchvideo_timed_out_total') as Counter<'model'>).inc({ model }, 0);
    this.#streamsActive.set({ model }, 0);
    this.#streamResults.inc({ model }, 0);
    this.#streamDropped.inc({ model }, 0);
  }

  /** The batcher option that records `model`'s forward passes. */
  onBatch(model: string): (batch: BatchInfo) => void {
    return ({ clips, computeMs, queueMs }) => {
      this.#batchSize.observe({ model }, clips);
      this.#computeDuration.observe({ model }, computeMs / 1000);
      for (const ms of queueMs) this.#queueDuration.observe({ model }, ms / 1000);
    };
  }

  /** Counts a request refused before its body was read, its queue full (the batcher never saw it). */
  countRefusedEarly(model: string): void {
    (this.registry.getSingleMetric('torchvideo_rejected_total') as Counter<'model'>).inc({ model });
  }

  /** Sets the number of live streams running through `model`. */
  setStreamsActive(model: string, count: number): void {
    this.#streamsActive.set({ model }, count);
  }

  /** Counts one live-stream result of `model` and the windows dropped since that stream's last one. */
  countStreamResult(model: string, newlyDropped: number): void {
    this.#streamResults.inc({ model });
    this.#streamDropped.inc({ model }, newlyDropped);
  }

  /** Sets the number of requests in flight. */
  setInFlight(count: number): void {
    this.#inFlight.set(count);
  }

  /** Counts one answered request; `model` is '' for a name that is not served (labels stay bounded). */
  countRequest(model: string, endpoint: string, status: number): void {
    this.#requests.inc({ model, endpoint, status: String(status) });
  }
}
