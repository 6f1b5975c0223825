/**
 * Runs `kpipe logs search` on PostgreSQL: one search, or a search then --follow.
 *
 * --follow polls (every second by default) for the lines after the position of the last line it
 * showed, (ts, kafka_topic, kafka_partition, kafka_offset): every line newer than that is shown
 * once, in order, and none is skipped. That alone would miss lines that arrive later with an
 * older ts: a logs-worker partition lagging behind the others, a producer that sends late, a
 * replay. So each poll also asks for the lines at or before that position that were *written*
 * since the previous poll (ingested_at, with an overlap of `lateOverlapMs`, 10 s by default, for
 * write transactions still open when that poll ran), shows those not shown yet (de-duplicated by
 * their Kafka coordinates), out of ts order, since they came late.
 *
 * The trade-off: ingested_at is the start of the writing transaction, so a late line whose write
 * took longer than the overlap between its start and its commit is not shown by --follow (it is
 * in the table; a new search finds it). Lines already stored before --follow started are not
 * shown beyond the first page (that is `--limit`), as with `tail -f`.
 */
import {setTimeout as sleep} from 'node:timers/promises'

import type {Queryable} from '../postgres/migrations.js'
import {buildSearchQuery, toFoundLog, type FoundLog, type LogCursor, type LogSearchFilters, type LogSearchQuery, type LogSearchRow} from './search-query.js'

/** The schema version `logs search` needs: pipeline.logs partitioned, with its trigram index. */
export const LOGS_SEARCH_SCHEMA_VERSION = 3

export interface SearchLogsOptions extends LogSearchFilters {
  limit: number
  schema?: string
}

/** The newest `limit` matching lines, oldest first (newest last, like `tail`). */
export async function searchLogs(db: Queryable, options: SearchLogsOptions): Promise<FoundLog[]> {
  return runQuery(db, {...options, order: 'newest'})
}

export interface FollowLogsOptions extends SearchLogsOptions {
  /** Called with each group of lines to show, in the order to show them. */
  onLogs: (logs: FoundLog[]) => void
  /** Ends the follow (after the query under way, if any). */
  signal: AbortSignal
  /** Time between polls; 1 s by default. */
  intervalMs?: number
  /** How far back each poll re-reads what was written since the previous one; 10 s by default. */
  lateOverlapMs?: number
  /** Rows per query while catching up; 1000 by default. */
  pageSize?: number
  /**
   * A poll after the first page failed: return true to try again after the interval, with what
   * was shown kept (the lines of a poll cut short are shown once, by the next), or false to end
   * the follow with the error. Without it, every failure ends the follow.
   */
  onPollError?: (error: unknown) => boolean
  /** A poll succeeded after one or more failed. */
  onPollRecovered?: () => void
}

export interface FollowLogsResult {
  /** Lines shown, the first page included. */
  shown: number
  /** Of those, lines that arrived with a ts before a line already shown. */
  late: number
}

/** Shows the newest `limit` lines, then every line that arrives, until `signal` aborts. */
export async function followLogs(db: Queryable, options: FollowLogsOptions): Promise<FollowLogsResult> {
  const intervalMs = options.intervalMs ?? 1000
  const overlapMs = options.lateOverlapMs ?? 10_000
  const pageSize = options.pageSize ?? 1000
  const {onLogs, signal} = options
  const filters: SearchLogsOptions = {
    since: options.since,
    until: options.until,
    services: options.services,
    minLevel: options.minLevel,
    correlationId: options.correlationId,
    grep: options.grep,
    attrs: options.attrs,
    limit: options.limit,
    schema: options.schema,
  }
  let shown = 0
  let late = 0
  // Kafka coordinates of the lines shown that a late query could still return, with when each
  // was written; entries older than the watermark are forgotten (the query cannot return them).
  const seen = new Map<string, number>()
  const show = (logs: FoundLog[]) => {
    if (logs.length === 0) return
    for (const log of logs) seen.set(coordinates(log.cursor), log.ingestedAtUs)
    shown += logs.length
    onLogs(logs)
  }

  // Everything written from here on arrived after --follow started; what was written before
  // and is not on the first page stays unshown (as with tail -f), so no overlap reaches back
  // past this point.
  const startUs = await databaseNow(db)
  let watermarkUs = startUs
  const first = await searchLogs(db, filters)
  show(first)
  let cursor: LogCursor | undefined = first.at(-1)?.cursor

  let failing = false
  while (!signal.aborted) {
    try {
      await sleep(intervalMs, undefined, {signal})
    } catch {
      break // aborted while waiting
    }
    try {
      await poll()
    } catch (error) {
      if (signal.aborted) break
      if (!options.onPollError?.(error)) throw error
      failing = true
      continue
    }
    if (failing) options.onPollRecovered?.()
    failing = false
  }
  return {shown, late}

  // One poll: late lines, then new ones. The cursor, the watermark and the lines seen move only
  // as lines are shown, so a poll that fails midway is simply run again.
  async function poll(): Promise<void> {
    const pollStartUs = await databaseNow(db)

    // Late lines first: they are older than anything the new-lines query returns.
    if (cursor) {
      let after: LogCursor | undefined
      for (;;) {
        const page = await runQuery(db, {...filters, order: 'oldest', limit: pageSize, upTo: cursor, after, ingestedSinceUs: watermarkUs})
        const unseen = page.filter((log) => !seen.has(coordinates(log.cursor)))
        late += unseen.length
        show(unseen)
        if (page.length < pageSize) break
        after = page.at(-1)!.cursor
      }
    }
    // New lines, after the last one shown, in order.
    for (;;) {
      const page = await runQuery(db, {...filters, order: 'oldest', limit: pageSize, after: cursor})
      show(page)
      if (page.length > 0) cursor = page.at(-1)!.cursor
      if (page.length < pageSize) break
    }

    watermarkUs = Math.max(startUs, pollStartUs - overlapMs * 1000)
    for (const [key, ingestedAtUs] of seen) if (ingestedAtUs < watermarkUs) seen.delete(key)
  }
}

async function runQuery(db: Queryable, query: LogSearchQuery): Promise<FoundLog[]> {
  const {text, values, reverse} = buildSearchQuery(query)
  const {rows} = await db.query<LogSearchRow>(text, values)
  const found = rows.map(toFoundLog)
  return reverse ? found.reverse() : found
}

/** The database's clock, which ingested_at comes from (the client's may differ), in microseconds. */
async function databaseNow(db: Queryable): Promise<number> {
  const {rows} = await db.query<{now: string}>('SELECT (extract(epoch FROM now()) * 1000000)::bigint AS now')
  return Number(rows[0]!.now)
}

function coordinates(cursor: LogCursor): string {
  return `${cursor.kafkaTopic}\u0000${cursor.kafkaPartition}\u0000${cursor.kafkaOffset}`
}
