/**
 * pipeline.logs (migration 3): the logs sink's write and the day partitions under it.
 *
 * The write copies upsertEvents (events-store.ts): a whole batch is one statement whose one jsonb
 * parameter jsonb_array_elements() turns back into rows, ON CONFLICT DO NOTHING on the Kafka
 * coordinates (+ ts, which a partitioned table's unique constraint must contain), so redelivery
 * changes nothing.
 *
 * Partitions are UTC days named logs_pYYYYMMDD. A row whose day has no partition fails the whole
 * statement, so a writer makes its batch's days first (LogPartitions caches the days it knows,
 * so that costs nothing once a day exists). New days are created standalone and then ATTACHed,
 * and expired ones DETACHed CONCURRENTLY before they are dropped: CREATE TABLE … PARTITION OF and
 * a plain DETACH or DROP take an ACCESS EXCLUSIVE lock on pipeline.logs, which would queue every
 * insert and search behind any running query (checked on PostgreSQL 15); ATTACH takes SHARE
 * UPDATE EXCLUSIVE and DETACH CONCURRENTLY blocks nobody.
 *
 * Old lines: a row whose day is already past retention (a replayed topic, a producer with a
 * wrong clock) is stored all the same, in a partition made for it if needed; the next retention
 * pass drops that day again. Simplest, and nothing the worker was given disappears unseen.
 */
import type {LogRow} from '../logs/log-line.js'
import {quoteIdent, SCHEMA, sqlLiteral, type Queryable} from './migrations.js'

export const DAY_MS = 86_400_000

/** A UTC day as the number of days since 1970-01-01 (so `utcDayOf(0) === 0`). */
export type UtcDay = number

/** The UTC day a timestamp (ms since the epoch) falls on. */
export function utcDayOf(tsMs: number): UtcDay {
  return Math.floor(tsMs / DAY_MS)
}

/** The partition that holds `day`: logs_pYYYYMMDD. */
export function partitionName(day: UtcDay): string {
  return `logs_p${new Date(day * DAY_MS).toISOString().slice(0, 10).replaceAll('-', '')}`
}

/** The day of a partition named by partitionName; undefined for any other name. */
export function dayOfPartition(name: string): UtcDay | undefined {
  const match = /^logs_p(\d{4})(\d{2})(\d{2})$/.exec(name)
  if (!match) return undefined
  const ms = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]))
  // Date.UTC rolls 20240231 over into March; such a name is not one of ours.
  return partitionName(utcDayOf(ms)) === name ? utcDayOf(ms) : undefined
}

/** The distinct UTC days of a batch's rows, in order. */
export function daysOf(rows: readonly {tsMs: number}[]): UtcDay[] {
  const days = new Set<UtcDay>()
  for (const row of rows) days.add(utcDayOf(row.tsMs))
  return [...days].sort((a, b) => a - b)
}

// ---------------------------------------------------------------------------------------------
// The write.

// A named statement is parsed and planned once per connection; one per schema name.
const statements = new Map<string, {name: string; text: string}>()

function insertStatement(schema: string): {name: string; text: string} {
  let statement = statements.get(schema)
  if (!statement) {
    statement = {
      name: `kpipe_insert_logs_v1_${statements.size}`,
      text: `INSERT INTO ${quoteIdent(schema)}.logs
  (ts, service, level, message, correlation_id, attrs, kafka_topic, kafka_partition, kafka_offset)
SELECT (r->>0)::timestamptz, r->>1, r->>2, r->>3, r->>4, r->5, r->>6, (r->>7)::int, (r->>8)::bigint
  FROM jsonb_array_elements($1::jsonb) AS r
ON CONFLICT DO NOTHING`,
    }
    statements.set(schema, statement)
  }
  return statement
}

export interface InsertLogsResult {
  /** Rows written now; the others of the batch were already stored. */
  inserted: number
}

/**
 * Writes a batch of log rows in one statement; returns how many were new. The partitions of the
 * batch's days must exist (ensureDayPartitions, or use LogPartitions / LogsWriter). Rows come
 * from the parser: tsMs a finite time within years 0–9999, and no U+0000 in any string or in
 * attrs, which neither PostgreSQL text nor jsonb can hold (the statement fails as a whole).
 */
export async function insertLogs(db: Queryable, rows: readonly LogRow[], options: {schema?: string} = {}): Promise<InsertLogsResult> {
  if (rows.length === 0) return {inserted: 0}
  // One row per Kafka record inside the batch too: the first wins, as across batches.
  const seen = new Set<string>()
  const unique: LogRow[] = []
  for (const row of rows) {
    const key = `${row.kafkaTopic}\u0000${row.kafkaPartition}\u0000${row.kafkaOffset}`
    if (seen.has(key)) continue
    seen.add(key)
    unique.push(row)
  }
  // Concurrent writers of overlapping batches (a redelivery racing the original after a
  // rebalance) wait on each other's uncommitted keys; taking keys in one global order (that of
  // the unique constraint) keeps that from becoming a deadlock, which PostgreSQL would break by
  // failing a batch.
  unique.sort(byPosition)
  const n = unique.length
  const batch = new Array<unknown[]>(n)
  for (let i = 0; i < n; i++) {
    const row = unique[i]!
    batch[i] = [
      new Date(row.tsMs).toISOString(),
      row.service,
      row.level,
      row.message,
      row.correlationId,
      row.attrs,
      row.kafkaTopic,
      row.kafkaPartition,
      row.kafkaOffset,
    ]
  }
  const result = await db.query({...insertStatement(options.schema ?? SCHEMA), values: [JSON.stringify(batch)]})
  return {inserted: result.rowCount ?? 0}
}

/** (topic, partition, offset, ts): the order of the unique constraint's columns. */
function byPosition(a: LogRow, b: LogRow): number {
  if (a.kafkaTopic !== b.kafkaTopic) return a.kafkaTopic < b.kafkaTopic ? -1 : 1
  if (a.kafkaPartition !== b.kafkaPartition) return a.kafkaPartition - b.kafkaPartition
  if (a.kafkaOffset !== b.kafkaOffset) return compareOffsets(a.kafkaOffset, b.kafkaOffset)
  return a.tsMs - b.tsMs
}

/** Kafka offsets are non-negative decimal strings: a shorter one is smaller. */
function compareOffsets(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length
  return a < b ? -1 : a > b ? 1 : 0
}

// ---------------------------------------------------------------------------------------------
// Partitions.

export interface EnsurePartitionsResult {
  /** Partitions this call attached (a racing writer may have made the others). */
  created: string[]
}

/**
 * Makes sure each of `days` has its partition; safe when several writers race for the same day
 * (the loser's "already exists" / "already a partition" is taken as success). Each new day is
 * CREATE TABLE (LIKE logs) and then ATTACH PARTITION, which builds the partition's indexes; an
 * attempt interrupted between the two leaves an empty table that the next attempt attaches.
 */
export async function ensureDayPartitions(db: Queryable, days: Iterable<UtcDay>, options: {schema?: string} = {}): Promise<EnsurePartitionsResult> {
  const wanted = [...new Set(days)].sort((a, b) => a - b)
  if (wanted.length === 0) return {created: []}
  const schema = quoteIdent(options.schema ?? SCHEMA)
  const parent = `${schema}.logs`
  const attached = new Set(await attachedPartitions(db, parent))
  const created: string[] = []
  for (const day of wanted) {
    const name = partitionName(day)
    if (attached.has(name)) continue
    const table = `${schema}.${quoteIdent(name)}`
    await tolerate(db.query(`CREATE TABLE IF NOT EXISTS ${table} (LIKE ${parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`), [
      // Two sessions creating the same table at once: the second fails with "relation already
      // exists", "type … already exists" (the table's row type) or on pg_type's unique index.
      '42P07',
      '42710',
      '23505',
    ])
    const from = sqlLiteral(new Date(day * DAY_MS).toISOString())
    const to = sqlLiteral(new Date((day + 1) * DAY_MS).toISOString())
    const done = await tolerate(db.query(`ALTER TABLE ${parent} ATTACH PARTITION ${table} FOR VALUES FROM (${from}) TO (${to})`), [
      '42809', // "… is already a partition": a racing writer attached it first
    ])
    if (done) created.push(name)
  }
  return {created}
}

/**
 * Creates the partitions of today (UTC, by `now`) and of the `days` days after it, so that the
 * write path rarely has to; the logs worker runs it at start-up and then every few hours.
 */
export async function createPartitionsAhead(
  db: Queryable,
  options: {days?: number; now?: Date; schema?: string} = {},
): Promise<EnsurePartitionsResult> {
  const today = utcDayOf((options.now ?? new Date()).getTime())
  const ahead = options.days ?? 2
  return ensureDayPartitions(db, Array.from({length: ahead + 1}, (_, i) => today + i), {schema: options.schema})
}

export interface DropExpiredResult {
  /** The partitions dropped by this call, oldest first. */
  dropped: string[]
}

/**
 * Drops the day partitions whose whole day ended before `now - retentionMs` (whole tables:
 * no DELETE, no bloat). Each is DETACHed CONCURRENTLY, then dropped; a detach left pending by an
 * interrupted run is FINALIZEd. DETACH CONCURRENTLY cannot run inside a transaction block, so
 * `db` must be a pool or a client outside BEGIN. When another session is detaching a partition
 * of the table (PostgreSQL allows one at a time), this pass stops and the next finishes.
 */
export async function dropExpiredPartitions(db: Queryable, options: {retentionMs: number; now?: Date; schema?: string}): Promise<DropExpiredResult> {
  const cutoffMs = (options.now ?? new Date()).getTime() - options.retentionMs
  const schemaName = options.schema ?? SCHEMA
  const schema = quoteIdent(schemaName)
  const parent = `${schema}.logs`
  // Ours: logs_pYYYYMMDD in the schema, attached to logs, pending detach, or never attached.
  const {rows} = await db.query<{name: string; state: 'attached' | 'pending' | 'standalone'}>(
    `SELECT c.relname AS name,
            CASE WHEN i.inhrelid IS NULL THEN 'standalone' WHEN i.inhdetachpending THEN 'pending' ELSE 'attached' END AS state
       FROM pg_class c
       LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
      WHERE c.relnamespace = $1::regnamespace AND c.relkind = 'r' AND c.relname ~ '^logs_p[0-9]{8}$'
        AND (i.inhparent IS NULL OR i.inhparent = $2::regclass)`,
    [schema, parent],
  )
  const expired = rows
    .map((row) => ({...row, day: dayOfPartition(row.name)}))
    .filter((row): row is typeof row & {day: number} => row.day !== undefined && (row.day + 1) * DAY_MS <= cutoffMs)
    .sort((a, b) => a.day - b.day)
  const dropped: string[] = []
  for (const partition of expired) {
    const table = `${schema}.${quoteIdent(partition.name)}`
    if (partition.state !== 'standalone') {
      const how = partition.state === 'pending' ? 'FINALIZE' : 'CONCURRENTLY'
      try {
        await db.query(`ALTER TABLE ${parent} DETACH PARTITION ${table} ${how}`)
      } catch (error) {
        // Another detach of this table is under way (one at a time): leave the rest to the next pass.
        if (sqlState(error) === '55000') break
        // "Not a partition of": another session detached it meanwhile; only the drop is left.
        if (sqlState(error) !== '42P01') throw error
      }
    }
    await db.query(`DROP TABLE IF EXISTS ${table}`)
    dropped.push(partition.name)
  }
  return {dropped}
}

/**
 * The UTC days whose partitions exist, cached, so that the write path asks PostgreSQL only about
 * a day it has not seen. Partitions are never dropped while their day is within retention, and a
 * stale entry (an old day dropped after it was cached) is recovered by LogsWriter's retry.
 */
export class LogPartitions {
  private readonly known = new Set<UtcDay>()

  constructor(
    private readonly db: Queryable,
    private readonly options: {schema?: string} = {},
  ) {}

  /** Makes the partitions of the rows' days that this cache does not know yet. */
  async ensureFor(rows: readonly {tsMs: number}[]): Promise<void> {
    let missing: UtcDay[] | undefined
    for (const row of rows) {
      const day = utcDayOf(row.tsMs)
      if (this.known.has(day)) continue
      missing ??= []
      if (!missing.includes(day)) missing.push(day)
    }
    if (!missing) return
    await ensureDayPartitions(this.db, missing, this.options)
    for (const day of missing) this.known.add(day)
  }

  /** Forgets every cached day (after retention dropped some, or a failed write). */
  forget(): void {
    this.known.clear()
  }
}

/** The logs sink's write: partitions of the batch's days, then insertLogs. */
export class LogsWriter {
  readonly partitions: LogPartitions

  constructor(
    private readonly db: Queryable,
    private readonly options: {schema?: string} = {},
  ) {
    this.partitions = new LogPartitions(db, options)
  }

  async write(rows: readonly LogRow[]): Promise<InsertLogsResult> {
    await this.partitions.ensureFor(rows)
    try {
      return await insertLogs(this.db, rows, this.options)
    } catch (error) {
      // "No partition of relation found for row": a cached day was dropped since (an old line
      // replayed after its day expired). Ask PostgreSQL again, once.
      if (sqlState(error) !== '23514') throw error
      this.partitions.forget()
      await this.partitions.ensureFor(rows)
      return insertLogs(this.db, rows, this.options)
    }
  }
}

/** The SQLSTATE of a node-postgres DatabaseError (five characters), else undefined. */
function sqlState(error: unknown): string | undefined {
  const code = (error as {code?: unknown} | null)?.code
  return typeof code === 'string' && code.length === 5 ? code : undefined
}

async function attachedPartitions(db: Queryable, parent: string): Promise<string[]> {
  const {rows} = await db.query<{name: string}>(
    'SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass',
    [parent],
  )
  return rows.map((row) => row.name)
}

/** Awaits a statement; true if it succeeded, false if it failed with one of `codes`. */
async function tolerate(statement: Promise<unknown>, codes: string[]): Promise<boolean> {
  try {
    await statement
    return true
  } catch (error) {
    if (codes.includes(sqlState(error) ?? '')) return false
    throw error
  }
}
