import {Flags} from '@oclif/core'
import type pg from 'pg'

import {BaseCommand} from '../../lib/base-command.js'
import {formatDuration, ParseError} from '../../lib/durations.js'
import {UsageError} from '../../lib/errors.js'
import {durationFlag, postgresFlags} from '../../lib/flags.js'
import {formatLogLine} from '../../lib/logs/log-format.js'
import {LOG_LINE_LEVELS, type LogLineLevel} from '../../lib/logs/log-line.js'
import {parseAttrs, parseTimeBound, type FoundLog} from '../../lib/logs/search-query.js'
import {followLogs, LOGS_SEARCH_SCHEMA_VERSION, searchLogs, type SearchLogsOptions} from '../../lib/logs/search-service.js'
import {assertSchemaCurrent} from '../../lib/postgres/migrations.js'
import {createPgPool, pgDependencyError, withPgClient} from '../../lib/postgres/pool.js'

export default class LogsSearch extends BaseCommand<typeof LogsSearch> {
  static override summary = 'Search the stored logs by service, level, time range, correlation id, text and attributes'
  static override description =
    'Prints the newest matching lines of pipeline.logs, newest last (like tail), one per line: time (UTC), level, ' +
    'service, message and [correlation id], coloured by level on a terminal. Every filter is answered from an index. ' +
    '--level warn means warn, error and fatal; --grep is a case-insensitive substring (% and _ are plain characters); ' +
    '--attr k=v matches lines whose attribute k is v (repeatable: all must match). --since and --until take a duration ' +
    'meaning "that long ago" (15m, 2h, 7d) or an ISO-8601 time (UTC unless it has an offset); --until is exclusive. ' +
    '--follow keeps printing lines as they are stored, each once, including lines that arrive late with an older time, ' +
    'until Ctrl-C (exit 0). With --json, each line is one JSON object: ' +
    '{ts, level, service, message, correlationId, attrs, kafkaTopic, kafkaPartition, kafkaOffset}. ' +
    'No match is not an error: nothing is printed and the exit code is 0.'
  static override examples = [
    '<%= config.bin %> <%= command.id %> --level error --since 1h',
    '<%= config.bin %> <%= command.id %> --service checkout --service payments --grep "timed out" --since 30m',
    '<%= config.bin %> <%= command.id %> --correlation-id 7f3c9a2e --since 7d',
    '<%= config.bin %> <%= command.id %> --attr user=u-42 --attr status=500 --since 2024-05-01T00:00:00Z --until 2024-05-02',
    '<%= config.bin %> <%= command.id %> --service api --level warn --follow',
    "<%= config.bin %> <%= command.id %> --level error --since 1d --limit 1000 --json | jq -r '.message'",
  ]
  static override flags = {
    ...postgresFlags,
    service: Flags.string({description: 'Only this service (repeatable: any of them)', multiple: true}),
    level: Flags.string({description: 'This level and worse', options: [...LOG_LINE_LEVELS]}),
    since: Flags.string({description: 'Start: a duration ago (15m, 2h, 7d) or an ISO-8601 time', default: '1h'}),
    until: Flags.string({description: 'End, exclusive: a duration ago or an ISO-8601 time (default: now)'}),
    'correlation-id': Flags.string({description: 'Only lines with this correlation id'}),
    grep: Flags.string({description: 'Only lines whose message contains this text, ignoring case'}),
    attr: Flags.string({description: 'Only lines whose attribute KEY is VALUE, as KEY=VALUE (repeatable: all of them)', multiple: true}),
    limit: Flags.integer({description: 'At most this many lines (the newest); with --follow, of the first page', default: 100, min: 1, max: 100_000}),
    follow: Flags.boolean({char: 'f', description: 'Keep printing new lines as they are stored, until Ctrl-C', default: false}),
    interval: durationFlag({description: 'With --follow: time between polls', default: 1000, defaultHelp: async () => '1s'}),
  }

  /** One JSON object per line, errors included: this command's stdout is a stream of lines. */
  protected override logJson(json: unknown): void {
    process.stdout.write(`${JSON.stringify(json)}\n`)
  }

  /** Prints as it goes (a stream), so it returns nothing for oclif to print again under --json. */
  async run(): Promise<void> {
    const flags = this.flags
    const search = this.searchOptions()
    const json = this.jsonEnabled()
    const color = !json && process.stdout.isTTY === true && (process.stdout.hasColors?.() ?? false)
    const print = (logs: FoundLog[]) => {
      if (logs.length === 0) return
      const lines = logs.map((log) => (json ? JSON.stringify(log.record) : formatLogLine(log.record, {color})))
      process.stdout.write(`${lines.join('\n')}\n`)
    }
    // `| head` closes stdout early: that is the reader being done, not an error.
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(0)
    })

    const {url} = this.kpipeConfig.config.postgres
    const pool = createPgPool({url}, {max: 1, applicationName: 'kpipe logs search'})
    try {
      await withPgClient(pool, url, async (client) => {
        await assertSchemaCurrent(client, {expected: LOGS_SEARCH_SCHEMA_VERSION})
        if (flags.follow) return
        const found = await searchLogs(client, search)
        print(found)
        this.note(
          found.length === 0
            ? 'No log lines match.'
            : found.length === search.limit
              ? `${found.length} lines, newest last: the newest of possibly more (raise --limit or narrow the search).`
              : `${found.length} line${found.length === 1 ? '' : 's'}, newest last.`,
        )
      })
      if (flags.follow) await this.follow(pool, url, search, print)
    } finally {
      await pool.end().catch(() => undefined)
    }
  }

  /**
   * --follow: polls through the pool rather than one client, so that when PostgreSQL goes away
   * (a restart, a failover, the network) the follow waits and goes on where it was, as tail -F
   * does, instead of ending; it says so once on stderr, and again when PostgreSQL is back.
   */
  private async follow(pool: pg.Pool, url: string, search: SearchLogsOptions, print: (logs: FoundLog[]) => void): Promise<void> {
    const flags = this.flags
    const controller = new AbortController()
    let signals = 0
    const onSignal = () => {
      // A second Ctrl-C while a query hangs: leave now.
      if (++signals > 1) process.exit(130)
      controller.abort()
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    let outage = false
    try {
      const result = await followLogs(pool, {
        ...search,
        intervalMs: flags.interval,
        signal: controller.signal,
        onLogs: print,
        onPollError: (error) => {
          const dependency = pgDependencyError(error, url)
          if (dependency === undefined) return false
          // On stderr also under --json: stdout stays the lines, and a person watching should know.
          if (!outage) process.stderr.write(`${dependency.message.replace(/\.$/, '')}; still following, trying again every ${formatDuration(flags.interval)}.\n`)
          outage = true
          return true
        },
        onPollRecovered: () => {
          outage = false
          process.stderr.write('PostgreSQL answers again; following.\n')
        },
      })
      this.note(`Followed: ${result.shown} line${result.shown === 1 ? '' : 's'} (${result.late} arrived late).`)
    } catch (error) {
      throw pgDependencyError(error, url) ?? error
    } finally {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
  }

  private searchOptions(): SearchLogsOptions {
    const flags = this.flags
    const now = new Date()
    const since = timeBound('--since', flags.since, now)
    const until = flags.until === undefined ? undefined : timeBound('--until', flags.until, now)
    if (until && until.getTime() <= since.getTime()) {
      throw new UsageError(`--since (${since.toISOString()}) must be before --until (${until.toISOString()}).`)
    }
    let attrs: Record<string, string> | undefined
    try {
      attrs = flags.attr ? parseAttrs(flags.attr) : undefined
    } catch (error) {
      if (error instanceof ParseError) throw new UsageError(`--attr: ${error.message}.`, {hint: 'Write --attr KEY=VALUE, e.g. --attr user=u-42.'})
      throw error
    }
    return {
      since,
      until,
      services: flags.service,
      minLevel: flags.level as LogLineLevel | undefined,
      correlationId: flags['correlation-id'],
      grep: flags.grep,
      attrs,
      limit: flags.limit,
    }
  }
}

function timeBound(flag: string, input: string, now: Date): Date {
  try {
    return parseTimeBound(input, now)
  } catch (error) {
    if (error instanceof ParseError) throw new UsageError(`${flag}: ${error.message}.`, {hint: 'For example --since 15m, --since 2h or --since 2024-05-01T12:00:00Z.'})
    throw error
  }
}
