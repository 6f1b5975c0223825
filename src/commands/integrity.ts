import {Flags} from '@oclif/core'

import {BaseCommand} from '../lib/base-command.js'
import {deadLetterTopic} from '../lib/dlq/dead-letter.js'
import {ParseError} from '../lib/durations.js'
import {CheckFailedError, UsageError} from '../lib/errors.js'
import {bigqueryFlags, kafkaFlags, postgresFlags} from '../lib/flags.js'
import {checkIntegrity, SINK_DEFAULTS, SINKS, type IntegrityResult, type IntegrityTarget} from '../lib/integrity/integrity-service.js'
import {renderIntegrity, verdict} from '../lib/integrity/integrity-table.js'
import type {SinkName} from '../lib/integrity/reconcile.js'
import {parseTimeBound} from '../lib/logs/search-query.js'
import {existingGroupFlag, topicFlag} from '../lib/kafka/names.js'

export default class Integrity extends BaseCommand<typeof Integrity> {
  static override summary = 'Reconcile Kafka offsets against sink rows and dead letters: find gaps, duplicates and orphans'
  static override description =
    'For each sink (PostgreSQL pipeline.events, pipeline.logs, BigQuery) and each partition of its topic, checks that ' +
    'every offset from the log start (or the first offset at or after --since) up to the consumer group\'s committed ' +
    'offset is accounted for by exactly one sink row or one dead letter (matched by kpipe.dlq.original.*). Missing ' +
    'offsets are listed as ranges; an offset claimed twice (a row and a dead letter, two rows of the logs table; in ' +
    'BigQuery two records with one event id) is a duplicate (a record dead-lettered twice is counted once: dead ' +
    'letters are written at least once); a row at an offset that cannot exist ' +
    '(beyond the log end, negative, in a partition the topic does not have) is an orphan. In pipeline.events, which ' +
    'keeps one row per event id, a record whose event id is stored at another offset (a producer retry, a replay) is ' +
    'superseded, not missing. What cannot be checked is reported as unchecked, never as good or bad: records deleted ' +
    'by retention, transaction markers and aborted records, compacted topics, partitions the group never committed. ' +
    'Rows are read as ranges by set-based queries; only offsets nothing accounts for are read back from Kafka. ' +
    'Exit 0 when all holds, 1 on any mismatch (--json still prints the report), 2 on bad flags, 3 when Kafka, ' +
    'PostgreSQL or BigQuery cannot be reached. Without --sink, every sink whose topic exists and whose worker ' +
    'group has committed offsets is checked.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --sink postgres --since 1d',
    '<%= config.bin %> <%= command.id %> --sink logs --topic app-logs --group logs-prod --json | jq \'.sinks[0].missing\'',
    '<%= config.bin %> <%= command.id %> --sink bigquery --bq-dataset analytics --table events',
  ]
  static override flags = {
    ...kafkaFlags,
    ...postgresFlags,
    ...bigqueryFlags,
    sink: Flags.string({description: 'Which sink to check (default: all whose topic and group exist)', options: [...SINKS, 'all'], default: 'all'}),
    topic: topicFlag({description: "The topic the sink's worker consumes (default events, logs, analytics); needs --sink"}),
    group: existingGroupFlag({description: "The worker's consumer group (default kpipe-events, kpipe-logs, kpipe-analytics); needs --sink"}),
    'dlq-topic': topicFlag({description: 'Dead-letter topic (default <topic>.dlq); needs --sink'}),
    since: Flags.string({description: 'Check from the first offset at or after this time: a duration ago (2h, 1d) or an ISO-8601 time'}),
    table: Flags.string({description: 'BigQuery table the analytics worker writes', default: 'events'}),
  }

  async run(): Promise<IntegrityResult> {
    const {flags} = this
    const {config} = this.kpipeConfig
    const result = await checkIntegrity({
      config,
      targets: this.targets(),
      sinceMs: flags.since === undefined ? undefined : since(flags.since),
      bigqueryTable: flags.table,
      debug: flags.debug,
    })
    this.log(renderIntegrity(result))
    if (!result.ok) throw new CheckFailedError(verdict(result), {result, hint: 'The table above names each missing range, duplicate and orphan; --json lists them all.'})
    return result
  }

  private targets(): IntegrityTarget[] {
    const {flags} = this
    const single = flags.sink !== 'all'
    for (const flag of ['topic', 'group', 'dlq-topic'] as const) {
      if (flags[flag] !== undefined && !single) {
        throw new UsageError(`--${flag} names one sink's ${flag.replace('-', ' ')}: give --sink postgres, logs or bigquery with it.`)
      }
    }
    const sinks: SinkName[] = single ? [flags.sink as SinkName] : [...SINKS]
    return sinks.map((sink) => {
      const topic = flags.topic ?? SINK_DEFAULTS[sink].topic
      return {sink, topic, group: flags.group ?? SINK_DEFAULTS[sink].group, dlqTopic: flags['dlq-topic'] ?? deadLetterTopic(topic), explicit: single}
    })
  }
}

function since(input: string): number {
  try {
    return parseTimeBound(input, new Date()).getTime()
  } catch (error) {
    if (error instanceof ParseError) throw new UsageError(`--since: ${error.message}.`, {hint: 'For example --since 2h, --since 7d or --since 2024-05-01T12:00:00Z.'})
    throw error
  }
}
