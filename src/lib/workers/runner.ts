/**
 * The one runner every worker starts through (STYLE habit 14): start-up checks (topics, the
 * sink's store), the dead-letter producer sized to its topic, compression codecs, the health
 * server, the engine, and closing in order within the shutdown bound. A worker is a definition:
 * its decoder, how to open its sink, and what to add to the summary. Knows nothing of oclif.
 */
import type {Admin} from 'kafkajs'
import type {Pool} from 'pg'

import type {KpipeConfig} from '../config.js'
import {redactUrl} from '../config.js'
import {Deadline} from '../deadline.js'
import {DEFAULT_MAX_MESSAGE_BYTES, DeadLetterProducer, deadLetterTopic} from '../dlq/dead-letter.js'
import {ConfigError, DependencyError, errorMessage} from '../errors.js'
import {COMMAND_RETRY, WORKER_RETRY, createKafka, kafkaPrincipal} from '../kafka/client.js'
import type {Logger} from '../logging.js'
import {startHealthServer, type HealthServer} from '../metrics/server.js'
import {createWorkerMetrics, type WorkerMetrics} from '../metrics/worker-metrics.js'
import {assertSchemaCurrent} from '../postgres/migrations.js'
import {createPgPool, pgDependencyError} from '../postgres/pool.js'
import {registerCompressionCodecs} from './codecs.js'
import {WorkerEngine} from './engine.js'
import type {RecordDecoder, Sink, WorkerSummary} from './types.js'

/** What every worker command passes: its flags, resolved. */
export interface WorkerRunOptions {
  config: KpipeConfig
  logger: Logger
  topic: string
  group: string
  batchSize: number
  concurrency: number
  fromBeginning: boolean
  /** 0 disables the metrics and health endpoints. */
  metricsPort: number
  metricsHost?: string
  shutdownTimeoutMs: number
  stopWhenCaughtUp: boolean
  sessionTimeoutMs?: number
  fetchMaxBytes?: number
  partitionFetchMaxBytes?: number
  maxRecordBytes: number
  /** Default `<topic>.dlq`. */
  dlqTopic?: string
  signal?: AbortSignal
  debug?: boolean
  /** Told once the health server listens (its port, when 0 asked for any free one). */
  onListening?(port: number): void
  /** Told when the shutdown began, with its deadline (the command's hard stop uses it). */
  onStopping?(deadline: Deadline): void
}

/** What a worker's sink gets to build itself with. */
export interface SinkContext {
  /** The PostgreSQL pool, when the definition asked for one (checked and migrated). */
  pool?: Pool
  logger: Logger
  metrics: WorkerMetrics
  /** Registers a closer, run after the engine stopped, in reverse order of registration. */
  onClose(close: () => Promise<unknown>): void
}

/** A worker: a decoder, a sink and what it adds to the summary. */
export interface WorkerDefinition<T, Extra extends object> {
  /** `events`, `logs`, `analytics`: logs, metrics, the kpipe.dlq.worker header. */
  name: string
  decode(maxRecordBytes: number): RecordDecoder<T>
  describe?(value: T): Record<string, unknown>
  /** PostgreSQL pool for the sink, checked for reachability and schema before anything starts. */
  postgres?: {poolSize(concurrency: number): number; statementTimeoutMs?: number}
  openSink(context: SinkContext): Promise<Sink<T>>
  /**
   * Runs after the engine stopped, within what is left of the shutdown bound (it may be cut
   * short: what it does must already be durable elsewhere); returns the summary's extra fields.
   */
  finish?(summary: WorkerSummary, deadline: Deadline): Promise<Extra>
}

export type WorkerResult<Extra extends object> = WorkerSummary & {dlqTopic: string} & Extra

export async function runWorker<T, Extra extends object>(definition: WorkerDefinition<T, Extra>, options: WorkerRunOptions): Promise<WorkerResult<Extra>> {
  const {config, logger, topic} = options
  const dlqTopic = options.dlqTopic ?? deadLetterTopic(topic)
  registerCompressionCodecs()
  const kafkaLog = (entry: {level: 'error' | 'warn' | 'info' | 'debug'; namespace: string; message: string; extra: Record<string, unknown>}) =>
    logger[entry.level]({kafkajs: entry.namespace, ...entry.extra}, entry.message)

  const dlqMaxBytes = await checkTopics(config, topic, dlqTopic, logger)

  const closers: (() => Promise<unknown>)[] = []
  let health: HealthServer | undefined
  let engine: WorkerEngine<T> | undefined
  try {
    let pool: Pool | undefined
    if (definition.postgres) {
      const created = createPgPool(config.postgres, {
        max: definition.postgres.poolSize(options.concurrency),
        applicationName: `kpipe worker ${definition.name}`,
        // A hung server must not hold a batch forever: the statement fails and is retried.
        statementTimeoutMs: definition.postgres.statementTimeoutMs ?? 60_000,
        onIdleError: (error) => logger.warn({err: error.message}, 'an idle PostgreSQL connection failed; it will be replaced'),
      })
      pool = created
      closers.push(() => created.end())
      await checkPostgres(created, config.postgres.url)
    }

    const metrics = createWorkerMetrics({worker: definition.name, topic})
    const sink = await definition.openSink({pool, logger, metrics, onClose: (close) => closers.push(close)})
    closers.push(() => sink.close())

    const kafka = createKafka(config.kafka, {retry: WORKER_RETRY, onLog: kafkaLog, debug: options.debug})
    const deadLetters = new DeadLetterProducer(kafka, definition.name, {retry: WORKER_RETRY, principal: kafkaPrincipal(config.kafka)})
    deadLetters.setMaxMessageBytes(dlqTopic, dlqMaxBytes)
    await deadLetters.connect()
    engine = new WorkerEngine<T>({
      worker: definition.name,
      kafka,
      topic,
      dlqTopic,
      group: options.group,
      batchSize: options.batchSize,
      concurrency: options.concurrency,
      fromBeginning: options.fromBeginning,
      decode: definition.decode(options.maxRecordBytes),
      sink,
      deadLetters,
      metrics,
      logger,
      stopWhenCaughtUp: options.stopWhenCaughtUp,
      sessionTimeoutMs: options.sessionTimeoutMs,
      maxBytes: options.fetchMaxBytes,
      maxBytesPerPartition: options.partitionFetchMaxBytes,
      shutdownTimeoutMs: options.shutdownTimeoutMs,
      describe: definition.describe,
      principal: kafkaPrincipal(config.kafka),
    })
    const running = engine
    const onAbort = () => {
      running.stop('signal')
      options.onStopping?.(running.shutdownDeadline())
    }
    if (options.signal?.aborted) onAbort()
    options.signal?.addEventListener('abort', onAbort, {once: true})
    if (options.metricsPort > 0 || options.onListening) {
      health = await startHealthServer({
        port: options.metricsPort,
        host: options.metricsHost ?? config.metrics.host,
        registry: metrics.registry,
        readiness: () => running.readiness(),
      })
      logger.info({port: health.port, host: health.host}, 'serving /metrics, /healthz and /readyz')
      options.onListening?.(health.port)
    }
    const summary = await engine.run()
    const deadline = engine.shutdownDeadline()
    const extra = definition.finish ? await definition.finish(summary, deadline) : ({} as Extra)
    return {...summary, dlqTopic, ...extra}
  } finally {
    // Everything after the engine shares the shutdown bound; what is cut short is durable.
    const deadline = engine?.shutdownDeadline() ?? new Deadline(options.shutdownTimeoutMs)
    if (health) await deadline.bound(() => health!.close())
    for (const close of closers.reverse()) {
      if (!(await deadline.bound(close))) {
        logger.warn({timeLeftMs: deadline.left()}, 'the shutdown timeout cut closing short; nothing uncommitted was acknowledged, so the next worker redoes it')
        break
      }
    }
  }
}

/**
 * The topic and its dead-letter topic must exist; returns the dead-letter topic's
 * max.message.bytes, which sizes the dead-letter requests.
 */
async function checkTopics(config: KpipeConfig, topic: string, dlqTopic: string, logger: Logger): Promise<number> {
  const kafka = createKafka(config.kafka, {retry: COMMAND_RETRY, onLog: (e) => logger.debug({kafkajs: e.namespace}, e.message)})
  const admin = kafka.admin()
  try {
    await admin.connect()
    const existing = new Set(await admin.listTopics())
    const missing = [topic, dlqTopic].filter((t) => !existing.has(t))
    if (missing.length > 0) {
      // Under ACLs a broker lists only the topics the principal may DESCRIBE.
      const principal = kafkaPrincipal(config.kafka) ?? (config.kafka.ssl ? "kpipe's principal" : undefined)
      const hidden = principal ? ` (or ${principal} lacks DESCRIBE on ${missing.length > 1 ? 'them' : 'it'})` : ''
      throw new ConfigError(`The topic${missing.length > 1 ? 's' : ''} ${missing.join(', ')} do${missing.length > 1 ? '' : 'es'} not exist on the cluster${hidden}.`, {
        hint: 'Create them with `kpipe topics apply` (or `kpipe topic create`), or point --topic / --dlq-topic at existing topics.',
      })
    }
    const sizes = await maxMessageBytes(admin, [topic, dlqTopic]).catch((error: unknown) => {
      logger.warn({err: errorMessage(error)}, 'could not read max.message.bytes of the topics; assuming the default 1 MiB')
      return new Map<string, number>()
    })
    const source = sizes.get(topic) ?? DEFAULT_MAX_MESSAGE_BYTES
    const dlq = sizes.get(dlqTopic) ?? DEFAULT_MAX_MESSAGE_BYTES
    if (dlq < source) {
      logger.warn(
        {topic, dlqTopic, topicMaxMessageBytes: source, dlqMaxMessageBytes: dlq},
        `${dlqTopic} takes smaller records than ${topic}: a large poison record cannot be dead-lettered and would stop the worker; raise its max.message.bytes`,
      )
    }
    return dlq
  } finally {
    await admin.disconnect().catch(() => undefined)
  }
}

async function maxMessageBytes(admin: Admin, topics: string[]): Promise<Map<string, number>> {
  const {resources} = await admin.describeConfigs({
    includeSynonyms: false,
    resources: topics.map((name) => ({type: 2 /* TOPIC */, name, configNames: ['max.message.bytes']})),
  })
  const sizes = new Map<string, number>()
  for (const resource of resources) {
    const value = resource.configEntries.find((entry) => entry.configName === 'max.message.bytes')?.configValue
    if (value !== undefined && /^\d+$/.test(value)) sizes.set(resource.resourceName, Number(value))
  }
  return sizes
}

async function checkPostgres(pool: Pool, url: string): Promise<void> {
  try {
    await pool.query('SELECT 1')
  } catch (error) {
    throw (
      pgDependencyError(error, url) ??
      new DependencyError('postgres', `PostgreSQL is unreachable at ${redactUrl(url)} (${errorMessage(error)}).`, {
        hint: 'Check --pg-url / KPIPE_PG_URL, or start the local stack with ./scripts/stack up.',
        cause: error,
      })
    )
  }
  await assertSchemaCurrent(pool)
}
