/**
 * `kpipe worker logs` as a worker definition on the shared runner: the log-line parser, a sink
 * writing pipeline.logs, and the retention of its day partitions (made ahead, dropped once older
 * than `logs.retention`) on a timer beside it. Knows nothing of oclif.
 */
import type {Pool} from 'pg'

import {errorMessage} from '../errors.js'
import {logDecoder} from '../logs/log-parse.js'
import type {LogLine} from '../logs/log-line.js'
import type {Logger} from '../logging.js'
import {createPartitionsAhead, dropExpiredPartitions, LogsWriter} from '../postgres/logs-store.js'
import {LogsSink} from './logs-sink.js'
import {runWorker, type WorkerDefinition, type WorkerRunOptions} from './runner.js'
import type {WorkerSummary} from './types.js'

export interface LogsWorkerOptions extends WorkerRunOptions {
  /** Day partitions whose whole day is older than this are dropped; `logs.retention`. */
  retentionMs: number
  /** How often the retention pass runs; hourly. */
  retentionEveryMs?: number
}

export interface LogsWorkerResult extends WorkerSummary {
  dlqTopic: string
  /** Day partitions this worker dropped as older than the retention. */
  droppedPartitions: string[]
}

/** Makes tomorrow's partitions ahead and drops the expired ones; a failure waits for the next pass. */
export class LogRetention {
  readonly dropped: string[] = []
  private timer?: NodeJS.Timeout
  private running?: Promise<void>

  constructor(
    private readonly pool: Pool,
    private readonly options: {retentionMs: number; everyMs: number; logger: Logger; onDropped?(): void},
  ) {}

  start(): void {
    this.running = this.pass()
    this.timer = setInterval(() => {
      this.running = this.pass()
    }, this.options.everyMs)
    this.timer.unref()
  }

  async pass(now: Date = new Date()): Promise<void> {
    const {logger, retentionMs} = this.options
    try {
      await createPartitionsAhead(this.pool, {days: 2, now})
      const {dropped} = await dropExpiredPartitions(this.pool, {retentionMs, now})
      if (dropped.length > 0) {
        this.dropped.push(...dropped)
        this.options.onDropped?.()
        logger.info({dropped, retentionMs}, `dropped ${dropped.length} day partition(s) of pipeline.logs older than the retention`)
      }
    } catch (error) {
      logger.warn({err: errorMessage(error)}, 'the logs retention pass failed; it runs again later')
    }
  }

  /** Resolves when the pass under way (if any) is over. */
  async settled(): Promise<void> {
    await this.running
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
    await this.running
  }
}

export function logsWorker(options: {retentionMs: number; retentionEveryMs: number}): WorkerDefinition<LogLine, {droppedPartitions: string[]}> {
  let retention: LogRetention | undefined
  return {
    name: 'logs',
    decode: logDecoder,
    describe: (line) => ({service: line.service, level: line.level, correlationId: line.correlationId ?? undefined}),
    postgres: {poolSize: (concurrency) => Math.max(2, concurrency + 1)},
    async openSink({pool, logger, onClose}) {
      const writer = new LogsWriter(pool as Pool)
      retention = new LogRetention(pool as Pool, {
        retentionMs: options.retentionMs,
        everyMs: options.retentionEveryMs,
        logger,
        // A dropped day may be one the writer had cached; it asks PostgreSQL again.
        onDropped: () => writer.partitions.forget(),
      })
      retention.start()
      const running = retention
      onClose(() => running.stop())
      return new LogsSink({
        write: (rows) => writer.write(rows),
        probe: async () => {
          await (pool as Pool).query('SELECT 1 FROM pipeline.logs LIMIT 0')
        },
      })
    },
    async finish(_summary, deadline) {
      // A short run (--stop-when-caught-up) can end before its first retention pass does.
      if (retention) await deadline.bound(() => retention!.settled())
      return {droppedPartitions: retention?.dropped ?? []}
    },
  }
}

export async function runLogsWorker(options: LogsWorkerOptions): Promise<LogsWorkerResult> {
  return runWorker(logsWorker({retentionMs: options.retentionMs, retentionEveryMs: options.retentionEveryMs ?? 3_600_000}), options)
}
