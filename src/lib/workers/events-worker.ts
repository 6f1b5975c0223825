/**
 * `kpipe worker events` as a service: start-up checks, then the engine with the events sink
 * (PostgreSQL + Redis projections), metrics and health, until a signal, caught-up or a fatal
 * error. Knows nothing of oclif.
 */
import type {Pool} from 'pg'

import type {KpipeConfig} from '../config.js'
import {redactUrl} from '../config.js'
import {DeadLetterProducer, deadLetterTopic} from '../dlq/dead-letter.js'
import {ConfigError, DependencyError, errorMessage} from '../errors.js'
import {COMMAND_RETRY, WORKER_RETRY, createKafka} from '../kafka/client.js'
import type {Logger} from '../logging.js'
import {startHealthServer, type HealthServer} from '../metrics/server.js'
import {createWorkerMetrics} from '../metrics/worker-metrics.js'
import {createPgPool} from '../postgres/pool.js'
import {assertSchemaCurrent} from '../postgres/migrations.js'
import {PgProjectionBacklog} from '../postgres/projection-backlog.js'
import {decodeEventRecord} from '../records/decode.js'
import type {EventEnvelope} from '../records/envelope.js'
import {createRedis} from '../redis/client.js'
import {PgProjectionSource} from '../redis/projection-source.js'
import {Projector} from '../redis/projector.js'
import {registerCompressionCodecs} from './codecs.js'
import {WorkerEngine} from './engine.js'
import {EventsSink} from './events-sink.js'
import {PgEventStore} from './pg-event-store.js'
import type {RecordDecoder, WorkerSummary} from './types.js'

export interface EventsWorkerOptions {
  config: KpipeConfig
  logger: Logger
  topic: string
  group: string
  batchSize: number
  concurrency: number
  fromBeginning: boolean
  /** 0 disables the metrics and health endpoints. */
  metricsPort: number
  shutdownTimeoutMs: number
  stopWhenCaughtUp: boolean
  sessionTimeoutMs?: number
  fetchMaxBytes?: number
  partitionFetchMaxBytes?: number
  maxRecordBytes: number
  /** Default `<topic>.dlq`. */
  dlqTopic?: string
  /** Skip the Redis projections (benchmarking the PostgreSQL path alone). */
  projections?: boolean
  signal?: AbortSignal
  debug?: boolean
  /** Told once the health server listens (its port, when 0 asked for any free one). */
  onListening?(port: number): void
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

export async function runEventsWorker(options: EventsWorkerOptions): Promise<EventsWorkerResult> {
  const {config, logger, topic} = options
  const dlqTopic = options.dlqTopic ?? deadLetterTopic(topic)
  registerCompressionCodecs()
  const kafkaLog = (entry: {level: 'error' | 'warn' | 'info' | 'debug'; namespace: string; message: string; extra: Record<string, unknown>}) =>
    logger[entry.level]({kafkajs: entry.namespace, ...entry.extra}, entry.message)

  await checkTopics(config, [topic, dlqTopic], logger)

  const pool = createPgPool(config.postgres, {
    max: Math.max(2, options.concurrency + 1),
    applicationName: 'kpipe worker events',
    // A hung server must not hold a batch forever: the statement fails and is retried.
    statementTimeoutMs: 60_000,
    onIdleError: (error) => logger.warn({err: error.message}, 'an idle PostgreSQL connection failed; it will be replaced'),
  })
  const closers: (() => Promise<unknown>)[] = [() => pool.end()]
  let health: HealthServer | undefined
  try {
    await checkPostgres(pool, config.postgres.url)
    await assertSchemaCurrent(pool)

    const metrics = createWorkerMetrics('events')
    const redis = options.projections === false ? undefined : createRedis(config.redis)
    let projector: Projector | undefined
    if (redis) {
      closers.unshift(async () => redis.disconnect())
      projector = new Projector({redis, source: new PgProjectionSource(pool), backlog: new PgProjectionBacklog(pool, {topics: [topic]}), logger, metrics})
      redis.on('error', () => undefined) // its state is reported by the projector
      try {
        await redis.connect()
      } catch (error) {
        logger.warn({redis: redactUrl(config.redis.url), err: errorMessage(error)}, 'Redis is unreachable: projections start stale and catch up when it answers')
      }
      // Ranges an earlier worker could not project (it died while Redis was unreachable).
      await projector.loadBacklog().catch((error: unknown) => logger.warn({err: errorMessage(error)}, 'could not read the projection backlog; will retry'))
      projector.start()
    }

    const kafka = createKafka(config.kafka, {retry: WORKER_RETRY, onLog: kafkaLog, debug: options.debug})
    const deadLetters = new DeadLetterProducer(kafka, 'events')
    await deadLetters.connect()
    const sink = new EventsSink({store: new PgEventStore(pool), projector})
    closers.unshift(() => sink.close())
    const engine = new WorkerEngine<EventEnvelope>({
      worker: 'events',
      kafka,
      topic,
      dlqTopic,
      group: options.group,
      batchSize: options.batchSize,
      concurrency: options.concurrency,
      fromBeginning: options.fromBeginning,
      decode: eventDecoder(options.maxRecordBytes),
      sink,
      deadLetters,
      metrics,
      logger,
      stopWhenCaughtUp: options.stopWhenCaughtUp,
      sessionTimeoutMs: options.sessionTimeoutMs,
      maxBytes: options.fetchMaxBytes,
      maxBytesPerPartition: options.partitionFetchMaxBytes,
      shutdownTimeoutMs: options.shutdownTimeoutMs,
      signal: options.signal,
      describe: (event) => ({eventId: event.eventId, correlationId: event.correlationId ?? undefined, type: event.type}),
    })
    if (options.metricsPort > 0 || options.onListening) {
      health = await startHealthServer({port: options.metricsPort, registry: metrics.registry, readiness: () => engine.readiness()})
      logger.info({port: health.port}, 'serving /metrics, /healthz and /readyz')
      options.onListening?.(health.port)
    }
    const summary = await engine.run()
    if (projector?.isStale) await projector.catchUp() // one last try before leaving
    const projectionsStale = projector?.isStale ?? false
    if (projectionsStale) {
      logger.warn(
        {ranges: projector!.staleRanges().length},
        'exiting with stale Redis projections: PostgreSQL keeps what they miss and the next worker catches it up at start-up (or run `kpipe cache rebuild`)',
      )
    }
    return {...summary, dlqTopic, projectionsStale}
  } finally {
    await health?.close()
    for (const close of closers) await close().catch(() => undefined)
  }
}

async function checkTopics(config: KpipeConfig, topics: string[], logger: Logger): Promise<void> {
  const kafka = createKafka(config.kafka, {retry: COMMAND_RETRY, onLog: (e) => logger.debug({kafkajs: e.namespace}, e.message)})
  const admin = kafka.admin()
  try {
    await admin.connect()
    const existing = new Set(await admin.listTopics())
    const missing = topics.filter((t) => !existing.has(t))
    if (missing.length > 0) {
      throw new ConfigError(`The topic${missing.length > 1 ? 's' : ''} ${missing.join(', ')} do${missing.length > 1 ? '' : 'es'} not exist on the cluster.`, {
        hint: 'Create them with `kpipe topics apply` (or `kpipe topic create`), or point --topic at an existing topic.',
      })
    }
  } finally {
    await admin.disconnect().catch(() => undefined)
  }
}

async function checkPostgres(pool: Pool, url: string): Promise<void> {
  try {
    await pool.query('SELECT 1')
  } catch (error) {
    const code = (error as {code?: string}).code
    if (code === '28P01' || code === '28000' || code === '3D000') throw error // classified by the base command
    throw new DependencyError('postgres', `PostgreSQL is unreachable at ${redactUrl(url)} (${errorMessage(error)}).`, {
      hint: 'Check --pg-url / KPIPE_PG_URL, or start the local stack with ./scripts/stack up.',
      cause: error,
    })
  }
}

