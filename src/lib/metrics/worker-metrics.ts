/**
 * The Prometheus metrics every worker exposes (DESIGN §4), on their own registry so tests and
 * several workers in one process do not collide. Names follow Prometheus' naming guide: a
 * `kpipe_worker_` prefix, `_total` on counters, base units (`_seconds`, `_bytes`) in the name,
 * and labels of bounded sets only (the worker's topic, its partitions, an error class); process
 * and Node.js metrics keep prom-client's standard names so stock dashboards read them.
 */
import {collectDefaultMetrics, Counter, Gauge, Histogram, Registry} from 'prom-client'

import {ERROR_CLASSES, type ErrorClass} from '../workers/types.js'

export interface WorkerMetrics {
  registry: Registry
  consumed: Counter<'topic'>
  written: Counter<'topic'>
  inserted: Counter<'topic'>
  deadLettered: Counter<'topic' | 'error_class'>
  sinkFailures: Counter<'topic'>
  commits: Counter<'topic'>
  rebalances: Counter<never>
  batchRecords: Histogram<'topic'>
  sinkLatency: Histogram<'topic'>
  consumerLag: Gauge<'topic' | 'partition'>
  sinkUp: Gauge<never>
  consumerJoined: Gauge<never>
  fetchPartitionMaxBytes: Gauge<never>
  ready: Gauge<never>
  /** kpipe_worker_ready follows this (what /readyz answers), read at each scrape; 0 until set. */
  reportReadiness(readiness: () => {ready: boolean}): void
}

export interface WorkerMetricsOptions {
  /** `events`, `logs`, `analytics`: the `worker` label of every series. */
  worker: string
  /** The worker's one topic: its series exist from the start, at 0. */
  topic: string
  /** prom-client's process and Node.js metrics; on unless told. */
  defaultMetrics?: boolean
}

export function createWorkerMetrics(options: WorkerMetricsOptions): WorkerMetrics {
  const registry = new Registry()
  registry.setDefaultLabels({worker: options.worker})
  if (options.defaultMetrics ?? true) collectDefaultMetrics({register: registry})
  const registers = [registry]
  let readiness: () => {ready: boolean} = () => ({ready: false})
  const metrics: WorkerMetrics = {
    registry,
    consumed: new Counter({name: 'kpipe_worker_records_consumed_total', help: 'Records read from Kafka', labelNames: ['topic'], registers}),
    written: new Counter({name: 'kpipe_worker_records_written_total', help: 'Records acknowledged by the sink', labelNames: ['topic'], registers}),
    inserted: new Counter({
      name: 'kpipe_worker_records_inserted_total',
      help: 'Records the sink stored for the first time (the rest were redeliveries)',
      labelNames: ['topic'],
      registers,
    }),
    deadLettered: new Counter({
      name: 'kpipe_worker_records_dead_lettered_total',
      help: 'Records sent to the dead-letter topic, by error class',
      labelNames: ['topic', 'error_class'],
      registers,
    }),
    sinkFailures: new Counter({name: 'kpipe_worker_sink_failures_total', help: 'Failed sink writes (each is retried)', labelNames: ['topic'], registers}),
    commits: new Counter({name: 'kpipe_worker_offset_commits_total', help: 'Offset commits after acknowledged writes', labelNames: ['topic'], registers}),
    rebalances: new Counter({name: 'kpipe_worker_rebalances_total', help: 'Group joins: each rebalance the worker took part in, its first join included', registers}),
    // Records, not bytes: "size" alone reads as bytes in Prometheus names.
    batchRecords: new Histogram({
      name: 'kpipe_worker_batch_records',
      help: 'Records per batch handed to the sink',
      labelNames: ['topic'],
      buckets: [1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10_000],
      registers,
    }),
    sinkLatency: new Histogram({
      name: 'kpipe_worker_sink_latency_seconds',
      help: 'Duration of one sink write (successful or not)',
      labelNames: ['topic'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    consumerLag: new Gauge({
      name: 'kpipe_worker_consumer_lag',
      help: 'Records behind the high watermark, per assigned partition',
      labelNames: ['topic', 'partition'],
      registers,
    }),
    sinkUp: new Gauge({name: 'kpipe_worker_sink_up', help: '1 when the last sink write succeeded, 0 while it is failing', registers}),
    consumerJoined: new Gauge({name: 'kpipe_worker_consumer_joined', help: '1 while the consumer is a member of its group', registers}),
    fetchPartitionMaxBytes: new Gauge({
      name: 'kpipe_worker_fetch_partition_max_bytes',
      help: 'Bytes a fetch asks of each partition: the configured limit, lowered while records compress well',
      registers,
    }),
    // Read when scraped, from the same function as /readyz, so the two never disagree.
    ready: new Gauge({
      name: 'kpipe_worker_ready',
      help: '1 while /readyz answers 200 (in its group, sink writing, not shutting down), 0 otherwise',
      registers,
      collect() {
        this.set(readiness().ready ? 1 : 0)
      },
    }),
    reportReadiness(source) {
      readiness = source
    },
  }
  metrics.sinkUp.set(1)
  metrics.consumerJoined.set(0)
  // Every series the worker can have, at 0, so that rate() and increase() see the first records
  // (a series born at 1 looks like one that always was 1).
  const topic = {topic: options.topic}
  for (const counter of [metrics.consumed, metrics.written, metrics.inserted, metrics.sinkFailures, metrics.commits]) counter.inc(topic, 0)
  for (const errorClass of ERROR_CLASSES) metrics.deadLettered.inc({...topic, error_class: errorClass}, 0)
  metrics.batchRecords.zero(topic)
  metrics.sinkLatency.zero(topic)
  return metrics
}

export function countDeadLetters(metrics: WorkerMetrics, topic: string, errorClass: ErrorClass, n = 1): void {
  metrics.deadLettered.inc({topic, error_class: errorClass}, n)
}
