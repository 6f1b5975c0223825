/**
 * What every worker command shares: its flags (the same names and defaults for events, logs and
 * analytics), the translation of those flags into the runner's options, and signal handling with
 * a hard bound on the shutdown. Commands spread the flags and call `runWorkerCommand`.
 */
import {Flags} from '@oclif/core'

import type {KpipeConfig, ResolvedConfig} from '../config.js'
import {LOG_LEVELS} from '../config.js'
import type {Deadline} from '../deadline.js'
import {durationFlag, kafkaFlags, metricsFlags, sizeFlag} from '../flags.js'
import {createLogger, type Logger} from '../logging.js'
import {ensureWorkerHeapLimits} from './heap.js'
import type {WorkerRunOptions} from './runner.js'
import type {WorkerSummary} from './types.js'
import {groupFlag, topicFlag} from '../kafka/names.js'

/**
 * Each worker's metrics port when none is configured, so that the three workers run side by side
 * on one host without flags (the Prometheus convention of one well-known port per exporter).
 */
export const DEFAULT_METRICS_PORTS: Record<string, number> = {events: 9464, logs: 9465, analytics: 9466}

/**
 * The flags of every worker; `name` gives the defaults of --group and --topic. Memory follows
 * the records a fetch decodes; the engine lowers the per-partition limit while records compress
 * (fetch-sizer.ts), and the logs worker starts from a smaller one (bench/README.md, logs-drain).
 */
export function workerFlags(name: string, defaults: {partitionFetchMaxBytes?: number} = {}) {
  const partitionFetch = defaults.partitionFetchMaxBytes ?? 1024 * 1024
  return {
    ...kafkaFlags,
    ...metricsFlags,
    group: groupFlag({description: 'Consumer group', default: `kpipe-${name}`}),
    topic: topicFlag({description: 'Topic to consume', default: name}),
    'dlq-topic': topicFlag({description: 'Dead-letter topic (default <topic>.dlq)'}),
    'batch-size': Flags.integer({description: 'Records per sink write', default: 2000, min: 1, max: 50_000}),
    // 6: the events topic's partitions all in one round of a fetch (kafkajs fetches again only
    // once every batch of the last fetch is done, so a partition left for a second wave idles the rest).
    concurrency: Flags.integer({description: 'Partitions processed at the same time', default: 6, min: 1, max: 64}),
    'from-beginning': Flags.boolean({description: 'Start at the earliest offset when the group has no committed offset', default: false}),
    'shutdown-timeout': durationFlag({
      description: 'Longest a graceful shutdown may take, from the signal to the exit',
      default: 30_000,
      defaultHelp: async () => '30s',
    }),
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
      description: 'Most bytes one fetch asks of each partition (as stored); lowered while records compress, so a fetch decodes to about this much',
      default: partitionFetch,
      defaultHelp: async () => (partitionFetch % (1024 * 1024) === 0 ? `${partitionFetch / 1024 / 1024}MiB` : `${partitionFetch / 1024}KiB`),
    }),
    'log-level': Flags.string({description: 'Log level (env KPIPE_LOG_LEVEL; default info)', options: [...LOG_LEVELS]}),
  }
}

/** The parsed values of workerFlags(). */
export interface WorkerFlagValues {
  group: string
  topic: string
  'dlq-topic'?: string
  'batch-size': number
  concurrency: number
  'from-beginning': boolean
  'shutdown-timeout': number
  'session-timeout': number
  'stop-when-caught-up': boolean
  'max-record-bytes': number
  'fetch-max-bytes': number
  'partition-fetch-max-bytes': number
  debug: boolean
}

/**
 * Runs a worker the way every worker command does: the fixed small heap (re-executing the
 * process if needed), a JSON logger, SIGTERM/SIGINT for a graceful shutdown, a second signal or
 * the end of --shutdown-timeout for a hard one.
 */
export async function runWorkerCommand<R extends WorkerSummary>(
  name: string,
  {config, sources}: ResolvedConfig,
  flags: WorkerFlagValues,
  run: (options: WorkerRunOptions) => Promise<R>,
): Promise<R> {
  ensureWorkerHeapLimits()
  const logger = createLogger({level: flags.debug ? 'debug' : config.log.level, base: {worker: name}})
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
  let hardStop: NodeJS.Timeout | undefined
  const onStopping = (deadline: Deadline) => {
    // The promise of --shutdown-timeout: whatever still runs at the deadline is abandoned. It
    // was not committed, so the next worker reads it again.
    hardStop ??= setTimeout(() => {
      logger.warn({shutdownTimeoutMs: flags['shutdown-timeout']}, 'shutdown timeout reached: exiting now; uncommitted work is left to the next worker')
      process.exit(0)
    }, deadline.left())
    hardStop.unref()
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  try {
    const metricsPort = sources['metrics.port'] === 'default' ? (DEFAULT_METRICS_PORTS[name] ?? config.metrics.port) : config.metrics.port
    return await run({...workerRunOptions(config, flags, logger, controller.signal, onStopping), metricsPort})
  } finally {
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
    // Everything is closed by now; if a client library still holds the loop open, do not hang.
    setTimeout(() => process.exit(process.exitCode ?? 0), 1000).unref()
  }
}

function workerRunOptions(config: KpipeConfig, flags: WorkerFlagValues, logger: Logger, signal: AbortSignal, onStopping: (deadline: Deadline) => void): WorkerRunOptions {
  return {
    config,
    logger,
    topic: flags.topic,
    group: flags.group,
    dlqTopic: flags['dlq-topic'],
    batchSize: flags['batch-size'],
    concurrency: flags.concurrency,
    fromBeginning: flags['from-beginning'],
    metricsPort: config.metrics.port,
    metricsHost: config.metrics.host,
    shutdownTimeoutMs: flags['shutdown-timeout'],
    stopWhenCaughtUp: flags['stop-when-caught-up'],
    sessionTimeoutMs: flags['session-timeout'],
    fetchMaxBytes: flags['fetch-max-bytes'],
    partitionFetchMaxBytes: flags['partition-fetch-max-bytes'],
    maxRecordBytes: flags['max-record-bytes'],
    signal,
    debug: flags.debug,
    onStopping,
  }
}

/** The one summary line a worker prints on stderr when it exits. */
export function summaryLine(result: WorkerSummary & {dlqTopic: string}): string {
  return (
    `Consumed ${result.consumed}, wrote ${result.written} (${result.inserted} new), dead-lettered ${result.deadLettered} ` +
    `to ${result.dlqTopic} in ${(result.durationMs / 1000).toFixed(1)}s (${result.recordsPerSec} records/s); stopped by ${result.stoppedBy}.`
  )
}
