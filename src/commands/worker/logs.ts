import {BaseCommand} from '../../lib/base-command.js'
import {durationFlag, postgresFlags} from '../../lib/flags.js'
import {runLogsWorker, type LogsWorkerResult} from '../../lib/workers/logs-worker.js'
import {runWorkerCommand, summaryLine, workerFlags} from '../../lib/workers/worker-flags.js'

export default class WorkerLogs extends BaseCommand<typeof WorkerLogs> {
  static override summary = 'Consume service logs into PostgreSQL, searchable with kpipe logs search'
  static override description =
    'Consumes the logs topic in batches and turns each record into one row of pipeline.logs: JSON lines of the ' +
    'common dialects (pino, bunyan, winston, zap, slog, ECS), logfmt, and plain text, with time, level (normalised to ' +
    'trace, debug, info, warn, error, fatal), service, message, correlation id and the remaining fields as attrs. ' +
    'Each batch is one idempotent statement on the Kafka coordinates, so a redelivery after a crash changes nothing; ' +
    'offsets are committed only after PostgreSQL and any dead-letter write acknowledged. Only what cannot be a log ' +
    'line (a null value, bytes that are not text, a value over --max-record-bytes) goes to <topic>.dlq. pipeline.logs ' +
    'is partitioned by UTC day: partitions are made ahead, and those older than --retention (logs.retention in ' +
    'kpipe.yaml, default 30d) are dropped, hourly, without DELETE scans. Same flags, metrics, health, shutdown and ' +
    'heap limits as kpipe worker events.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --retention 14d --metrics-port 9465',
    '<%= config.bin %> <%= command.id %> --from-beginning --stop-when-caught-up --json',
  ]
  static override flags = {
    // 256KiB: log lines compress ~8x; measured 183 MiB RSS instead of 284 MiB on zstd input, at the same rate.
    ...workerFlags('logs', {partitionFetchMaxBytes: 256 * 1024}),
    ...postgresFlags,
    retention: durationFlag({description: 'Drop day partitions of pipeline.logs older than this (logs.retention in kpipe.yaml; default 30d)'}),
  }

  async run(): Promise<LogsWorkerResult> {
    const resolved = this.kpipeConfig // configuration errors surface before any re-execution
    const retentionMs = this.flags.retention ?? resolved.config.logs.retentionMs
    const result = await runWorkerCommand('logs', resolved, this.flags, (options) => runLogsWorker({...options, retentionMs}))
    this.note(summaryLine(result) + (result.droppedPartitions.length > 0 ? ` Dropped ${result.droppedPartitions.length} expired day partition(s).` : ''))
    return result
  }
}
