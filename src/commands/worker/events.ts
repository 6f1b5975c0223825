import {Flags} from '@oclif/core'

import {BaseCommand} from '../../lib/base-command.js'
import {LOG_LEVELS} from '../../lib/config.js'
import {durationFlag, kafkaFlags, metricsFlags, postgresFlags, redisFlags, sizeFlag} from '../../lib/flags.js'
import {createLogger} from '../../lib/logging.js'
import {runEventsWorker, type EventsWorkerResult} from '../../lib/workers/events-worker.js'
import {ensureWorkerHeapLimits} from '../../lib/workers/heap.js'

export default class WorkerEvents extends BaseCommand<typeof WorkerEvents> {
  static override summary = 'Consume domain events into PostgreSQL and the Redis projections'
  static override description =
    'Consumes the events topic in batches, decodes and validates each record (JSON or Avro envelope), writes every ' +
    'batch to pipeline.events with one idempotent statement, updates the Redis projections (latest state per entity, ' +
    'per-minute counts per type) and commits offsets only after PostgreSQL and any dead-letter write acknowledged. ' +
    'Poison records go to <topic>.dlq with their reason. A failing PostgreSQL pauses consumption with retries; a ' +
    'failing Redis only marks the projections stale, in pipeline.projection_backlog before the offsets are committed, ' +
    'and they are caught up from PostgreSQL when Redis answers (by this worker or, after a crash, the next one). ' +
    'SIGTERM/SIGINT finish the in-flight batch, ' +
    'commit, leave the group and exit 0. Serves /metrics, /healthz and /readyz on --metrics-port; logs JSON on stderr. ' +
    'Runs with a small fixed V8 heap (--max-old-space-size=192 --max-semi-space-size=4) so memory stays flat, unless ' +
    'NODE_OPTIONS already sets heap sizes or KPIPE_WORKER_HEAP=default.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --group kpipe-events --concurrency 6 --metrics-port 9464',
    '<%= config.bin %> <%= command.id %> --from-beginning --stop-when-caught-up --json',
    'KPIPE_PG_URL=postgres://kpipe@db:5432/kpipe <%= config.bin %> <%= command.id %> --brokers kafka-1:9092',
  ]
  static override flags = {
    ...kafkaFlags,
    ...postgresFlags,
    ...redisFlags,
    ...metricsFlags,
    group: Flags.string({description: 'Consumer group', default: 'kpipe-events'}),
    topic: Flags.string({description: 'Topic to consume', default: 'events'}),
    'dlq-topic': Flags.string({description: 'Dead-letter topic (default <topic>.dlq)'}),
    'batch-size': Flags.integer({description: 'Records per PostgreSQL write', default: 2000, min: 1, max: 50_000}),
    // 6: the events topic's partitions all in one round of a fetch (kafkajs fetches again only
    // once every batch of the last fetch is done, so a partition left for a second wave idles the rest).
    concurrency: Flags.integer({description: 'Partitions processed at the same time', default: 6, min: 1, max: 64}),
    'from-beginning': Flags.boolean({description: 'Start at the earliest offset when the group has no committed offset', default: false}),
    'shutdown-timeout': durationFlag({description: 'Longest a graceful shutdown may take', default: 30_000, defaultHelp: async () => '30s'}),
    'session-timeout': durationFlag({
      description: 'Consumer group session timeout: how soon the group notices a worker that died without leaving',
      default: 30_000,
      defaultHelp: async () => '30s',
    }),
    'stop-when-caught-up': Flags.boolean({description: 'Exit 0 once every assigned partition has no lag', default: false}),
    'max-record-bytes': sizeFlag({description: 'Larger record values are dead-lettered as oversize', default: 1024 * 1024, defaultHelp: async () => '1MiB'}),
    'fetch-max-bytes': sizeFlag({
      description: 'Most bytes one fetch returns (all partitions); bounds memory',
      default: 6 * 1024 * 1024,
      defaultHelp: async () => '6MiB',
    }),
    'partition-fetch-max-bytes': sizeFlag({
      description: 'Most bytes one fetch returns per partition',
      default: 1024 * 1024,
      defaultHelp: async () => '1MiB',
    }),
    projections: Flags.boolean({description: 'Update the Redis projections (--no-projections: PostgreSQL only)', default: true, allowNo: true}),
    'log-level': Flags.string({description: 'Log level (env KPIPE_LOG_LEVEL; default info)', options: [...LOG_LEVELS]}),
  }

  async run(): Promise<EventsWorkerResult> {
    const {config} = this.kpipeConfig // configuration errors surface before any re-execution
    ensureWorkerHeapLimits()
    const flags = this.flags
    const logger = createLogger({level: flags.debug ? 'debug' : config.log.level, base: {worker: 'events'}})
    const controller = new AbortController()
    let signals = 0
    const onSignal = (signal: NodeJS.Signals) => {
      signals++
      if (signals > 1) {
        logger.warn({signal}, 'second signal: exiting now without waiting for the in-flight batch (it was not committed)')
        process.exit(130)
      }
      logger.info({signal}, 'shutting down gracefully')
      controller.abort()
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
    try {
      const result = await runEventsWorker({
        config,
        logger,
        topic: flags.topic,
        group: flags.group,
        dlqTopic: flags['dlq-topic'],
        batchSize: flags['batch-size'],
        concurrency: flags.concurrency,
        fromBeginning: flags['from-beginning'],
        metricsPort: config.metrics.port,
        shutdownTimeoutMs: flags['shutdown-timeout'],
        stopWhenCaughtUp: flags['stop-when-caught-up'],
        sessionTimeoutMs: flags['session-timeout'],
        fetchMaxBytes: flags['fetch-max-bytes'],
        partitionFetchMaxBytes: flags['partition-fetch-max-bytes'],
        maxRecordBytes: flags['max-record-bytes'],
        projections: flags.projections,
        signal: controller.signal,
        debug: flags.debug,
      })
      this.note(
        `Consumed ${result.consumed}, wrote ${result.written} (${result.inserted} new), dead-lettered ${result.deadLettered} ` +
          `to ${result.dlqTopic} in ${(result.durationMs / 1000).toFixed(1)}s (${result.recordsPerSec} records/s); stopped by ${result.stoppedBy}.` +
          (result.projectionsStale ? ' Redis projections are stale: the next worker catches them up at start-up, or run `kpipe cache rebuild`.' : ''),
      )
      return result
    } finally {
      process.off('SIGTERM', onSignal)
      process.off('SIGINT', onSignal)
      // Everything is closed by now; if a client library still holds the loop open, do not hang.
      setTimeout(() => process.exit(process.exitCode ?? 0), 3000).unref()
    }
  }
}
