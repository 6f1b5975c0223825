/**
 * `kpipe worker events` as a worker definition on the shared runner: the events decoder, and a
 * sink that upserts pipeline.events (PostgreSQL, the truth) and updates the Redis projections
 * (the cache), with the projection catch-up as its finishing step. Knows nothing of oclif.
 */
import type {Pool} from 'pg'

import {redactUrl} from '../config.js'
import {errorMessage} from '../errors.js'
import type {Logger} from '../logging.js'
import {PgProjectionBacklog} from '../postgres/projection-backlog.js'
import {decodeEventRecord} from '../records/decode.js'
import type {EventEnvelope} from '../records/envelope.js'
import {createRedis, redisRefusal} from '../redis/client.js'
import {PgProjectionSource} from '../redis/projection-source.js'
import {createProjectionMetrics, Projector} from '../redis/projector.js'
import {EventsSink} from './events-sink.js'
import {PgEventStore} from './pg-event-store.js'
import {runWorker, type WorkerDefinition, type WorkerRunOptions} from './runner.js'
import type {RecordDecoder, WorkerSummary} from './types.js'

export interface EventsWorkerOptions extends WorkerRunOptions {
  /** Skip the Redis projections (benchmarking the PostgreSQL path alone). */
  projections?: boolean
}

export interface EventsWorkerResult extends WorkerSummary {
  dlqTopic: string
  /** True when Redis projections still miss events at exit (`kpipe cache rebuild` fixes it). */
  projectionsStale: boolean
}

export function eventDecoder(maxBytes: number): RecordDecoder<EventEnvelope> {
  return (record) => {
    const result = decodeEventRecord(record.value, {maxBytes})
    return result.ok ? {ok: true, value: result.event} : result
  }
}

export function eventsWorker(options: {projections: boolean; topic: string; redisUrl: string}): WorkerDefinition<EventEnvelope, {projectionsStale: boolean}> {
  let projector: Projector | undefined
  let log: Logger | undefined
  return {
    name: 'events',
    decode: eventDecoder,
    describe: (event) => ({eventId: event.eventId, correlationId: event.correlationId ?? undefined, type: event.type}),
    // One connection per partition in flight, plus one for the projector's backlog.
    postgres: {poolSize: (concurrency) => Math.max(2, concurrency + 1)},
    async openSink({pool, logger, metrics, onClose}) {
      log = logger
      const store = new PgEventStore(pool as Pool)
      if (!options.projections) return new EventsSink({store})
      const redis = createRedis({url: options.redisUrl})
      onClose(async () => redis.disconnect())
      projector = new Projector({redis, source: new PgProjectionSource(pool as Pool), backlog: new PgProjectionBacklog(pool as Pool, {topics: [options.topic]}), logger, metrics: createProjectionMetrics(metrics.registry)})
      redis.on('error', () => undefined) // its state is reported by the projector
      try {
        await redis.connect()
      } catch (error) {
        // Unreachable is a cache outage the worker rides out; a refused password or certificate is
        // a configuration error that never heals: exit 3 now rather than run with stale projections.
        const refusal = redisRefusal(error, options.redisUrl)
        if (refusal) throw refusal
        logger.warn({redis: redactUrl(options.redisUrl), err: errorMessage(error)}, 'Redis is unreachable: projections start stale and catch up when it answers')
      }
      // Ranges an earlier worker could not project (it died while Redis was unreachable).
      await projector.loadBacklog().catch((error: unknown) => logger.warn({err: errorMessage(error)}, 'could not read the projection backlog; will retry'))
      projector.start()
      return new EventsSink({store, projector})
    },
    async finish(_summary, deadline) {
      const stale = projector
      if (!stale) return {projectionsStale: false}
      // One last try before leaving, within the shutdown bound: the backlog is durable in
      // PostgreSQL, so what this does not finish the next worker does at start-up.
      if (stale.isStale && !(await deadline.bound(() => stale.catchUp()))) {
        log?.warn('the final projection catch-up did not finish before the shutdown timeout')
      }
      if (stale.isStale) {
        log?.warn(
          {ranges: stale.staleRanges().length},
          'exiting with stale Redis projections: PostgreSQL keeps what they miss and the next worker catches it up at start-up (or run `kpipe cache rebuild`)',
        )
      }
      return {projectionsStale: stale.isStale}
    },
  }
}

export async function runEventsWorker(options: EventsWorkerOptions): Promise<EventsWorkerResult> {
  return runWorker(eventsWorker({projections: options.projections !== false, topic: options.topic, redisUrl: options.config.redis.url}), options)
}
