import {Flags} from '@oclif/core'
import cliProgress from 'cli-progress'

import {BaseCommand} from '../lib/base-command.js'
import {humanDuration, ParseError} from '../lib/durations.js'
import {CheckFailedError, UsageError} from '../lib/errors.js'
import {kafkaFlags} from '../lib/flags.js'
import {parseTimeBound} from '../lib/logs/search-query.js'
import {renderTable} from '../lib/output/table.js'
import {DEFAULT_MAX_ATTEMPTS, defaultReplayGroup, isFiltered, parseRate, type ReplayFilter, type ReplaySummary} from '../lib/dlq/replay-model.js'
import {replayDeadLetters, type ReplayProgress} from '../lib/dlq/replay-service.js'
import {groupFlag, topicFlag} from '../lib/kafka/names.js'

export default class ReplayDlq extends BaseCommand<typeof ReplayDlq> {
  static override summary = 'Re-publish dead letters to their original topic: filtered, rate-limited, resumable, exactly once'
  static override description =
    'Reads the dead-letter topic from where this replay\'s consumer group left off up to the end offsets taken at start ' +
    '(dead letters written meanwhile wait for the next run), and re-publishes each record with its original key, value ' +
    'and headers (dead-letter headers removed; kpipe.dlq.attempt and kpipe.replay.dlq.topic/partition/offset added) to ' +
    '--to or to the topic it came from. Understands the dead letters of kpipe (kpipe.dlq.*), Kafka Connect ' +
    '(__connect.errors.*; without its context headers --to is required) and Spring Kafka (kafka_dlt-*). A record that ' +
    'already failed --max-attempts times goes to <dlq>.parked instead (made when first needed). Each republished and ' +
    'parked record and the group\'s progress past it are one Kafka transaction, so a replay killed midway and run again ' +
    'publishes each dead letter once. Records a filter leaves out stay in the dead-letter topic for a later replay with ' +
    'another filter (the group remembers which ones it moved). --dry-run reads the same records, prints what would be ' +
    'done by original topic and error class with samples, and changes nothing. SIGINT/SIGTERM stop after the current ' +
    'transaction and print the summary so far.'
  static override examples = [
    '<%= config.bin %> <%= command.id %> --dlq events.dlq --dry-run',
    '<%= config.bin %> <%= command.id %> --dlq events.dlq --error-class validation --since 2h --rate 200/s',
    '<%= config.bin %> <%= command.id %> --dlq connect-dlq --to orders --limit 1000 --json',
    "<%= config.bin %> <%= command.id %> --dlq events.dlq --dry-run --json | jq '.byErrorClass'",
  ]
  static override flags = {
    ...kafkaFlags,
    dlq: topicFlag({description: 'Dead-letter topic to replay from', required: true}),
    to: topicFlag({description: 'Publish every record to this topic (default: each record\'s original topic)'}),
    'error-class': Flags.string({description: 'Only this error class (kpipe: decode, schema, validation, oversize, sink; Connect/Spring: the exception class, full or simple name); repeatable', multiple: true}),
    since: Flags.string({description: 'Only dead letters from this time on: a duration ago (15m, 2h, 7d) or an ISO-8601 time'}),
    until: Flags.string({description: 'Only dead letters before this time (exclusive): a duration ago or an ISO-8601 time'}),
    key: Flags.string({description: 'Only records with this key'}),
    grep: Flags.string({description: 'Only dead letters whose error message contains this text (case-insensitive)'}),
    limit: Flags.integer({description: 'Replay (or park) at most this many records, then stop', min: 1}),
    rate: Flags.string({description: 'At most this many records per second, e.g. 100/s'}),
    'max-attempts': Flags.integer({description: 'Park a record (to <dlq>.parked) once it failed this many times', min: 1, default: DEFAULT_MAX_ATTEMPTS}),
    group: groupFlag({description: 'Consumer group keeping the replay\'s progress (default kpipe-replay.<dlq>)'}),
    'dry-run': Flags.boolean({description: 'Show what would be replayed, by original topic and error class with samples; change nothing', default: false}),
  }

  async run(): Promise<ReplaySummary> {
    const {config} = this.kpipeConfig
    const {flags} = this
    const filter = this.filter()
    let rate: number | undefined
    if (flags.rate !== undefined) {
      rate = parseRate(flags.rate)
      if (rate === undefined) throw new UsageError(`--rate: "${flags.rate}" is not a rate.`, {hint: 'Write records per second, e.g. --rate 100/s or --rate 0.5/s.'})
    }
    const group = flags.group ?? defaultReplayGroup(flags.dlq)

    const controller = new AbortController()
    const onSignal = () => controller.abort()
    // Once: a second Ctrl-C ends the process the usual way, without waiting for the transaction.
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
    const progress = new ProgressView(Boolean(process.stderr.isTTY))
    let summary: ReplaySummary
    try {
      summary = await replayDeadLetters({
        kafka: config.kafka,
        dlq: flags.dlq,
        to: flags.to,
        filter,
        limit: flags.limit,
        rate,
        maxAttempts: flags['max-attempts'],
        group,
        dryRun: flags['dry-run'],
        debug: flags.debug,
        signal: controller.signal,
        onProgress: (p) => progress.update(p),
      })
    } finally {
      progress.stop()
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }

    this.log(summaryTables(summary))
    this.note(summaryLine(summary))
    if (summary.dryRun && summary.unroutable > 0 && flags.to === undefined) {
      this.note(`${summary.unroutable} dead letter${summary.unroutable === 1 ? ' does' : 's do'} not say which topic ${summary.unroutable === 1 ? 'it' : 'they'} came from: the replay needs --to for ${summary.unroutable === 1 ? 'it' : 'them'}.`)
    }
    if (summary.stoppedBy === 'progress-full') {
      throw new CheckFailedError('The replay stopped early: the filter leaves out records scattered among those it replays, and what was replayed past the first left-out one no longer fits in the group\'s commit.', {
        hint: 'Run it again with a narrower --since/--until, or replay the left-out records first (another --error-class, or no filter); nothing was published twice.',
        result: summary,
      })
    }
    return summary
  }

  private filter(): ReplayFilter {
    const {flags} = this
    const now = new Date()
    const sinceMs = flags.since === undefined ? undefined : timeBound('--since', flags.since, now)
    const untilMs = flags.until === undefined ? undefined : timeBound('--until', flags.until, now)
    if (sinceMs !== undefined && untilMs !== undefined && untilMs <= sinceMs) {
      throw new UsageError(`--since (${new Date(sinceMs).toISOString()}) must be before --until (${new Date(untilMs).toISOString()}).`)
    }
    const filter: ReplayFilter = {errorClasses: flags['error-class'], sinceMs, untilMs, key: flags.key, grep: flags.grep}
    return isFiltered(filter) ? filter : {}
  }
}

function timeBound(flag: string, input: string, now: Date): number {
  try {
    return parseTimeBound(input, now).getTime()
  } catch (error) {
    if (error instanceof ParseError) throw new UsageError(`${flag}: ${error.message}.`, {hint: 'For example --since 15m, --since 2h or --since 2024-05-01T12:00:00Z.'})
    throw error
  }
}

/** The progress bar on a terminal (records done / total, rate, time left); nothing otherwise. */
class ProgressView {
  private bar?: cliProgress.SingleBar
  private readonly startedAt = Date.now()

  constructor(private readonly tty: boolean) {}

  update(progress: ReplayProgress): void {
    if (!this.tty) return
    if (!this.bar) {
      if (progress.total === 0) return
      this.bar = new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format: '{bar} {value}/{total} offsets | {rate}/s | {left} left | replayed {replayed}, parked {parked}, skipped {skipped}',
          hideCursor: true,
          clearOnComplete: true,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      )
      this.bar.start(progress.total, 0, {rate: 0, left: '?', replayed: 0, parked: 0, skipped: 0})
    }
    const seconds = (Date.now() - this.startedAt) / 1000
    const rate = seconds > 0 ? Math.round((progress.replayed + progress.parked) / seconds) : 0
    // Time left from offsets gone through so far (skipped ones pass fast, so this errs long).
    const perSecond = seconds > 0 ? progress.done / seconds : 0
    const left = perSecond > 0 ? humanDuration(((progress.total - progress.done) / perSecond) * 1000) : '?'
    this.bar.update(progress.done, {rate, left, replayed: progress.replayed, parked: progress.parked, skipped: progress.skipped})
  }

  stop(): void {
    this.bar?.stop()
  }
}

function summaryLine(s: ReplaySummary): string {
  const verb = s.dryRun ? 'Dry run: would replay' : 'Replayed'
  const parked = s.dryRun ? `would park ${s.parked}` : `parked ${s.parked} (to ${s.parkedTopic})`
  const stop = s.stoppedBy === 'signal' ? ' Stopped by a signal after the last committed transaction; run it again to go on.' : s.stoppedBy === 'limit' ? ' Stopped at --limit.' : ''
  return (
    `${verb} ${s.replayed} of ${s.read} dead letter${s.read === 1 ? '' : 's'} read from ${s.dlq}${s.to ? ` to ${s.to}` : ''}; ${parked}; ` +
    `skipped ${s.skipped}${s.skipped > 0 ? ' (filtered out, left for a later replay)' : ''}${s.alreadyDone > 0 ? `; ${s.alreadyDone} already replayed earlier` : ''}` +
    `${s.unroutable > 0 ? `; ${s.unroutable} without an original topic` : ''} (group ${s.group}, ${(s.durationMs / 1000).toFixed(1)}s).${stop}`
  )
}

function summaryTables(s: ReplaySummary): string {
  if (s.replayed + s.parked + s.unroutable === 0) return s.read === 0 ? 'Nothing to replay.' : 'Nothing to replay: every dead letter read was filtered out.'
  const counts = (head: string, record: Record<string, number>) =>
    renderTable(
      [head, s.dryRun ? 'TO REPLAY OR PARK' : 'REPLAYED OR PARKED'],
      Object.entries(record)
        .sort(([, a], [, b]) => b - a)
        .map(([name, n]) => [name, n]),
    )
  const parts = [counts('ORIGINAL TOPIC', s.byOriginalTopic), counts('ERROR CLASS', s.byErrorClass)]
  if (s.dryRun && s.samples.length > 0) {
    parts.push(
      renderTable(
        ['OFFSET', 'KEY', 'ORIGINAL TOPIC', 'CLASS', 'ATTEMPT', 'ACTION', 'ERROR', 'VALUE'],
        s.samples.map((sample) => [
          `${sample.dlqPartition}@${sample.dlqOffset}`,
          sample.key,
          sample.originalTopic,
          sample.errorClass,
          sample.attempt,
          sample.action,
          cut(sample.errorMessage, 60),
          sample.valuePreview === null ? null : cut(sample.valuePreview, 40),
        ]),
      ),
    )
  }
  return parts.join('\n\n')
}

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`
}
