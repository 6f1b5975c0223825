/**
 * The Prometheus metrics every worker exposes (DESIGN §4), on their own registry so tests and
 * several workers in one process do not collide. Names follow Prometheus conventions.
 */
import {collectDefaultMetrics, Counter, Gauge, Histogram, Registry} from 'prom-client'

import type {ErrorClass} from '../workers/types.js'

export interface WorkerMetrics {
  registry: Registry
  consumed: Counter<'topic'>
  written: Counter<'topic'>
  inserted: Counter<'topic'>
  deadLettered: Counter<'topic' | 'error_class'>
  sinkFailures: Counter<'topic'>
  commits: Counter<'topic'>
  rebalances: Counter<never>
  batchSize: Histogram<'topic'>
  sinkLatency: Histogram<'topic'>
  consumerLag: Gauge<'topic' | 'partition'>
  sinkUp: Gauge<never>
  consumerJoined: Gauge<never>
  redisUp: Gauge<never>
  redisStale: Gauge<never>
  projectionCatchUps: Counter<never>
  fetchPartitionMaxBytes: Gauge<never>
}

export function createWorkerMetrics(worker: string, options: {defaultMetrics?: boolean} = {}): WorkerMetrics {
  const registry = new Registry()
  registry.setDefaultLabels({worker})
  if (options.defaultMetrics ?? true) collectDefaultMetrics({register: registry, prefix: 'kpipe_'})
  const registers = [registry]
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
    rebalances: new Counter({name: 'kpipe_worker_rebalances_total', help: 'Consumer group joins (initial and rebalances)', registers}),
    batchSize: new Histogram({
      name: 'kpipe_worker_batch_size',
      help: 'Records per sink write',
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
    redisUp: new Gauge({name: 'kpipe_worker_redis_up', help: '1 when Redis answered the last projection update', registers}),
    redisStale: new Gauge({
      name: 'kpipe_worker_redis_projections_stale',
      help: '1 while Redis projections miss events that are in PostgreSQL (caught up automatically)',
      registers,
    }),
    projectionCatchUps: new Counter({
      name: 'kpipe_worker_projection_catch_ups_total',
      help: 'Offset ranges of projections rebuilt from PostgreSQL after a Redis outage',
      registers,
    }),
    fetchPartitionMaxBytes: new Gauge({
      name: 'kpipe_worker_fetch_partition_max_bytes',
      help: 'Bytes a fetch asks of each partition: the configured limit, lowered while records compress well',
      registers,
    }),
  }
  metrics.sinkUp.set(1)
  metrics.consumerJoined.set(0)
  metrics.redisUp.set(1)
  metrics.redisStale.set(0)
  return metrics
}

export function countDeadLetters(metrics: WorkerMetrics, topic: string, errorClass: ErrorClass, n = 1): void {
  metrics.deadLettered.inc({topic, error_class: errorClass}, n)
}
