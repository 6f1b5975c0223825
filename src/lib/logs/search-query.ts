/**
 * `kpipe logs search` as data: the filters a user gives, turned into one parameterised SELECT over
 * pipeline.logs (migration 3), and the rows turned back into records. Pure: no database here, so
 * every filter and combination is tested on the SQL text and parameters alone.
 *
 * Each filter is one an index answers: ts (logs_ts, and partition pruning), service
 * (logs_service_ts), level (logs_level_ts), correlation id (logs_correlation_id), --grep as
 * ILIKE '%text%' (logs_message_trgm, pg_trgm), --attr as attrs @> (logs_attrs, jsonb_path_ops),
 * and ingested_at for --follow (logs_ingested_at). Values only ever travel as parameters; the one
 * name in the text, the schema, is quoted.
 */
import {parseDuration, ParseError} from '../durations.js'
import {quoteIdent, SCHEMA} from '../postgres/migrations.js'
import {LOG_LINE_LEVELS, levelsAtLeast, type LogLineLevel} from './log-line.js'

/** What the user filters on. */
export interface LogSearchFilters {
  /** Any of these services (`--service`, repeatable). */
  services?: readonly string[]
  /** This level and worse (`--level warn`: warn, error, fatal). */
  minLevel?: LogLineLevel
  /** Lines at or after this time. */
  since: Date
  /** Lines before this time (exclusive), if given. */
  until?: Date
  correlationId?: string
  /** Case-insensitive substring of the message. */
  grep?: string
  /** Each key's value, as `attrs ->> key = value` (`--attr k=v`, repeatable). */
  attrs?: Readonly<Record<string, string>>
}

/**
 * A position in the order lines are shown in: (ts, kafka_topic, kafka_partition, kafka_offset),
 * which is unique (the table's unique constraint). ts is PostgreSQL's exact text (microseconds),
 * so a cursor taken from a row compares equal to that row.
 */
export interface LogCursor {
  ts: string
  kafkaTopic: string
  kafkaPartition: number
  kafkaOffset: string
}

export interface LogSearchQuery extends LogSearchFilters {
  /** At most this many rows. */
  limit: number
  /**
   * `newest` (default): the newest `limit` lines, read newest first; the result says to reverse
   * them, so they print like `tail`, newest last. `oldest`: the first `limit` lines in order (the
   * pages of --follow).
   */
  order?: 'newest' | 'oldest'
  /** Only lines strictly after this position (the last line --follow showed). */
  after?: LogCursor
  /** Only lines at or before this position. */
  upTo?: LogCursor
  /** Only lines written (ingested_at) at or after this many microseconds since the epoch. */
  ingestedSinceUs?: number
  /** `pipeline` unless a test asks for another. */
  schema?: string
}

export interface SqlQuery {
  text: string
  values: unknown[]
  /** The rows come newest first: reverse them to show them oldest first. */
  reverse: boolean
}

/**
 * The columns every search returns; `ts_exact` is the cursor's ts and `ingested_us` the write
 * time in microseconds, both exact (a JavaScript Date keeps milliseconds only, and --follow
 * compares positions and write times that can be microseconds apart).
 */
const COLUMNS = `ts, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ts_exact, service, level, message, correlation_id, attrs,
       kafka_topic, kafka_partition, kafka_offset, (extract(epoch FROM ingested_at) * 1000000)::bigint AS ingested_us`

const POSITION = '(ts, kafka_topic, kafka_partition, kafka_offset)'

export function buildSearchQuery(query: LogSearchQuery): SqlQuery {
  if (!Number.isInteger(query.limit) || query.limit < 1) throw new RangeError(`limit must be a positive integer, not ${query.limit}`)
  const values: unknown[] = []
  const param = (value: unknown, cast = ''): string => {
    values.push(value)
    return `$${values.length}${cast}`
  }
  const where: string[] = [`ts >= ${param(query.since.toISOString(), '::timestamptz')}`]
  if (query.until) where.push(`ts < ${param(query.until.toISOString(), '::timestamptz')}`)
  if (query.services && query.services.length > 0) {
    // One service as `=`: the planner can then walk logs_service_ts backwards and stop at the limit.
    where.push(query.services.length === 1 ? `service = ${param(query.services[0])}` : `service = ANY(${param([...new Set(query.services)], '::text[]')})`)
  }
  if (query.minLevel) {
    const levels = levelsAtLeast(query.minLevel)
    // Every level: no filter at all (trace is the least severe).
    if (levels.length < LOG_LINE_LEVELS.length) where.push(levels.length === 1 ? `level = ${param(levels[0])}` : `level = ANY(${param(levels, '::text[]')})`)
  }
  if (query.correlationId !== undefined) where.push(`correlation_id = ${param(query.correlationId)}`)
  if (query.grep) where.push(`message ILIKE ${param(`%${escapeLike(query.grep)}%`)}`)
  for (const containment of attrsContainments(query.attrs ?? {})) {
    where.push(containment.length === 1 ? `attrs @> ${param(containment[0], '::jsonb')}` : `(${containment.map((c) => `attrs @> ${param(c, '::jsonb')}`).join(' OR ')})`)
  }
  if (query.after) {
    // The plain ts bound lets PostgreSQL skip older partitions and use logs_ts's range; the row
    // comparison is the exact position.
    const ts = param(query.after.ts, '::timestamptz')
    where.push(`ts >= ${ts}`, `${POSITION} > (${ts}, ${param(query.after.kafkaTopic)}, ${param(query.after.kafkaPartition, '::int')}, ${param(query.after.kafkaOffset, '::bigint')})`)
  }
  if (query.upTo) {
    const ts = param(query.upTo.ts, '::timestamptz')
    where.push(`ts <= ${ts}`, `${POSITION} <= (${ts}, ${param(query.upTo.kafkaTopic)}, ${param(query.upTo.kafkaPartition, '::int')}, ${param(query.upTo.kafkaOffset, '::bigint')})`)
  }
  if (query.ingestedSinceUs !== undefined) where.push(`ingested_at >= ${param(isoFromMicros(query.ingestedSinceUs), '::timestamptz')}`)
  const newest = (query.order ?? 'newest') === 'newest'
  const direction = newest ? ' DESC' : ''
  const text = `SELECT ${COLUMNS}
  FROM ${quoteIdent(query.schema ?? SCHEMA)}.logs
 WHERE ${where.join('\n   AND ')}
 ORDER BY ts${direction}, kafka_topic${direction}, kafka_partition${direction}, kafka_offset${direction}
 LIMIT ${param(query.limit, '::int')}`
  return {text, values, reverse: newest}
}

/** Microseconds since the epoch as exact ISO-8601 text (…T12:00:00.123456Z). */
export function isoFromMicros(us: number): string {
  if (!Number.isSafeInteger(us)) throw new RangeError(`${us} is not a whole number of microseconds`)
  const ms = Math.floor(us / 1000)
  return `${new Date(ms).toISOString().slice(0, -1)}${String(us - ms * 1000).padStart(3, '0')}Z`
}

/** Escapes LIKE's wildcards (`%`, `_`) and its escape character (`\`), so text matches itself. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`)
}

/**
 * `--attr k=v` means `attrs ->> k = v`, asked as containment so that the GIN index answers. For a
 * value that is also a JSON number or boolean, the attribute may hold either form (`status=500`
 * matches `"status": 500` and `"status": "500"`), so that attribute is an OR of two containments.
 * Returns one list per condition, each of JSON documents to OR; conditions are ANDed. Attributes
 * with one form only are merged into one document.
 */
export function attrsContainments(attrs: Readonly<Record<string, string>>): string[][] {
  const plain: Record<string, string> = {}
  const either: string[][] = []
  for (const [key, value] of Object.entries(attrs)) {
    const typed = typedForm(value)
    if (typed === undefined) plain[key] = value
    else either.push([JSON.stringify({[key]: value}), JSON.stringify({[key]: typed})])
  }
  return [...(Object.keys(plain).length > 0 ? [[JSON.stringify(plain)]] : []), ...either]
}

function typedForm(value: string): number | boolean | undefined {
  if (value === 'true') return true
  if (value === 'false') return false
  if (/^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(value) && Number.isFinite(Number(value))) return Number(value)
  return undefined
}

// ---------------------------------------------------------------------------------------------
// Flags into filters.

const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i

/**
 * `--since` / `--until`: a duration meaning that long before `now` (`15m`, `2h`, `7d`), or an
 * ISO-8601 time (`2024-05-01`, `2024-05-01T12:00:00Z`, `2024-05-01T14:00+02:00`). A time without
 * an offset is UTC, as the times kpipe prints are. Throws ParseError naming the value.
 */
export function parseTimeBound(input: string, now: Date): Date {
  const text = input.trim()
  const iso = ISO_TIME.exec(text)
  if (iso) {
    const [, year, month, day, time, zone] = iso
    const ms = Date.parse(`${year}-${month}-${day}T${time ?? '00:00'}${utcOffset(zone)}`)
    // Date.parse would roll 2024-02-31 over into March.
    const date = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)))
    if (Number.isNaN(ms) || date.getUTCMonth() !== Number(month) - 1 || date.getUTCDate() !== Number(day)) {
      throw new ParseError(`"${input}" is not a valid time`)
    }
    return new Date(ms)
  }
  // A bare number would be milliseconds to parseDuration: surely not what "--since 30" means.
  if (/^\d+$/.test(text)) throw new ParseError(`"${input}" needs a unit: write 30s, 15m, 2h or 7d, or an ISO-8601 time such as 2024-05-01T12:00:00Z`)
  try {
    return new Date(now.getTime() - parseDuration(text))
  } catch (error) {
    if (!(error instanceof ParseError)) throw error
    throw new ParseError(`"${input}" is neither a duration (15m, 2h, 7d) nor an ISO-8601 time (2024-05-01T12:00:00Z)`)
  }
}

/** `Z`, `+02`, `+0200` or `+02:00` as Date.parse reads it; none means UTC. */
function utcOffset(zone: string | undefined): string {
  if (!zone || zone.toUpperCase() === 'Z') return 'Z'
  const digits = zone.slice(1).replace(':', '')
  return `${zone[0]}${digits.slice(0, 2)}:${digits.slice(2) || '00'}`
}

/** `--attr k=v` (repeatable): split at the first `=`; the key must not be empty. */
export function parseAttrs(inputs: readonly string[]): Record<string, string> {
  const attrs: Record<string, string> = {}
  for (const input of inputs) {
    const at = input.indexOf('=')
    if (at <= 0) throw new ParseError(`"${input}" is not key=value`)
    const key = input.slice(0, at)
    if (Object.hasOwn(attrs, key) && attrs[key] !== input.slice(at + 1)) {
      throw new ParseError(`"${key}" is given twice with different values; a line has one value per attribute`)
    }
    attrs[key] = input.slice(at + 1)
  }
  return attrs
}

// ---------------------------------------------------------------------------------------------
// Rows into records.

/** A row as node-postgres returns the query's columns. */
export interface LogSearchRow {
  ts: Date
  ts_exact: string
  service: string
  level: string
  message: string
  correlation_id: string | null
  attrs: Record<string, unknown>
  kafka_topic: string
  kafka_partition: number
  kafka_offset: string
  /** bigint, which node-postgres returns as a string. */
  ingested_us: string
}

/** One line of `kpipe logs search --json` (DESIGN §2): these fields, never renamed. */
export interface LogRecord {
  /** ISO-8601, UTC, milliseconds. */
  ts: string
  level: string
  service: string
  message: string
  correlationId: string | null
  attrs: Record<string, unknown>
  kafkaTopic: string
  kafkaPartition: number
  /** A decimal string: offsets exceed JavaScript's safe integers. */
  kafkaOffset: string
}

/** A record with what --follow needs to place it; not printed. */
export interface FoundLog {
  record: LogRecord
  cursor: LogCursor
  /** When it was written (ingested_at), in microseconds since the epoch. */
  ingestedAtUs: number
}

export function toFoundLog(row: LogSearchRow): FoundLog {
  return {
    record: {
      ts: row.ts.toISOString(),
      level: row.level,
      service: row.service,
      message: row.message,
      correlationId: row.correlation_id,
      attrs: row.attrs,
      kafkaTopic: row.kafka_topic,
      kafkaPartition: row.kafka_partition,
      kafkaOffset: row.kafka_offset,
    },
    cursor: {ts: row.ts_exact, kafkaTopic: row.kafka_topic, kafkaPartition: row.kafka_partition, kafkaOffset: row.kafka_offset},
    ingestedAtUs: Number(row.ingested_us),
  }
}
