import {Flags} from '@oclif/core'

import {BaseCommand} from '../../lib/base-command.js'
import {DEFAULT_LIMITS} from '../../lib/bigquery/insert-plan.js'
import {UsageError} from '../../lib/errors.js'
import {bigqueryFlags, sizeFlag} from '../../lib/flags.js'
import {runAnalyticsWorker, type AnalyticsWorkerResult} from '../../lib/workers/analytics-worker.js'
import {runWorkerCommand, summaryLine, workerFlags} from '../../lib/workers/worker-flags.js'
import {checkTable} from '../../lib/bigquery/names.js'

/** BigQuery's limit on one HTTP request (insertAll answers 400 "payload size exceeds the limit" above it). */
const BIGQUERY_MAX_REQUEST_BYTES = 10 * 1024 * 1024

export default class WorkerAnalytics extends BaseCommand<typeof WorkerAnalytics> {
  static override summary = 'Stream analytics events into BigQuery, at least once, deduplicated by a view'
  static override description =
    'Consumes the analytics topic (the event envelope, JSON or Avro) and streams each event into the BigQuery table ' +
    '<dataset>.events through insertAll, with the insert id topic-partition-offset. Requests are bounded by --max-rows ' +
    'and --max-bytes; one BigQuery refuses as too large is halved and sent again, never dropped. Quota, rate-limit, ' +
    '5xx and connection errors are retried with backoff while the partition is held; offsets are committed only once ' +
    'BigQuery accepted the rows. A row BigQuery refuses goes to <topic>.dlq with its reason, and the rest of its batch ' +
    'lands. Delivery into events is at least once (insert-id deduplication is best effort); the view events_dedup ' +
    'holds one row per Kafka record and is what analysts query. The dataset, the table (day-partitioned on ' +
    'occurred_at, clustered by type) and the view are created when missing. Same flags, metrics, health, shutdown and ' +
    'heap limits as kpipe worker events.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --dataset analytics --table events --max-rows 500 --max-bytes 9MB',
    'KPIPE_BQ_ENDPOINT= KPIPE_BQ_PROJECT=my-project <%= config.bin %> <%= command.id %>   # Google, with Application Default Credentials',
    '<%= config.bin %> <%= command.id %> --from-beginning --stop-when-caught-up --json',
  ]
  static override flags = {
    ...workerFlags('analytics'),
    ...bigqueryFlags,
    'bq-dataset': Flags.string({
      description: 'BigQuery dataset; --dataset for short (env KPIPE_BQ_DATASET; default analytics)',
      helpGroup: 'CONNECTION',
      aliases: ['dataset'],
    }),
    table: Flags.string({description: 'Table the events are streamed into; the view is <table>_dedup', default: 'events'}),
    'max-rows': Flags.integer({description: 'Rows per insertAll request (BigQuery recommends 500, allows 50,000)', default: DEFAULT_LIMITS.maxRows, min: 1, max: 50_000}),
    'max-bytes': sizeFlag({
      description: 'Bytes of serialised rows per insertAll request (BigQuery allows 10 MiB)',
      default: DEFAULT_LIMITS.maxBytes,
      defaultHelp: async () => '9MB',
    }),
  }

  async run(): Promise<AnalyticsWorkerResult> {
    // A bad table name is a usage error before anything connects (it reaches BigQuery's SQL).
    checkTable(this.flags.table)
    const resolved = this.kpipeConfig // configuration errors surface before any re-execution
    const maxBytes = this.flags['max-bytes']
    if (maxBytes < 1024 || maxBytes > BIGQUERY_MAX_REQUEST_BYTES) {
      throw new UsageError(`--max-bytes: ${maxBytes} is outside 1KiB to 10MiB, the sizes of request BigQuery takes.`)
    }
    const limits = {maxRows: this.flags['max-rows'], maxBytes}
    const result = await runWorkerCommand('analytics', resolved, this.flags, (options) => runAnalyticsWorker({...options, table: this.flags.table, limits}))
    this.note(`${summaryLine(result)} Table ${result.table}; analysts query ${result.view}.`)
    return result
  }
}
