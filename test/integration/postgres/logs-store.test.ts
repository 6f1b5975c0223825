/**
 * The logs write and the day partitions against the stack's PostgreSQL, in a schema of its own
 * (made by the real migrations, dropped after) so the shared `pipeline` schema is untouched.
 */
import pg from 'pg'
import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {defaultConfig} from '../../../src/lib/config.js'
import type {LogRow} from '../../../src/lib/logs/log-line.js'
import {
  createPartitionsAhead,
  DAY_MS,
  dayOfPartition,
  daysOf,
  dropExpiredPartitions,
  ensureDayPartitions,
  insertLogs,
  LogPartitions,
  LogsWriter,
  partitionName,
  utcDayOf,
} from '../../../src/lib/postgres/logs-store.js'
import {migrate} from '../../../src/lib/postgres/migrations.js'
import {createPgPool} from '../../../src/lib/postgres/pool.js'

const url = process.env.KPIPE_PG_URL ?? defaultConfig().postgres.url
const pool = createPgPool({url}, {max: 8})
const schema = `kpipe_test_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
const table = `"${schema}".logs`

const MAY_1 = Date.UTC(2024, 4, 1)
let offset = 0
function row(overrides: Partial<LogRow> = {}): LogRow {
  return {
    tsMs: MAY_1 + 12 * 3_600_000,
    service: 'api',
    level: 'info',
    message: 'hello',
    correlationId: null,
    attrs: {},
    kafkaTopic: 'logs',
    kafkaPartition: 0,
    kafkaOffset: String(offset++),
    ...overrides,
  }
}
const insert = (rows: LogRow[]) => insertLogs(pool, rows, {schema})
const count = async () => (await pool.query<{n: number}>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]!.n
const stored = async () =>
  (
    await pool.query(
      `SELECT (extract(epoch FROM ts) * 1000)::bigint::text AS ts_ms, service, level, message, correlation_id, attrs, kafka_topic, kafka_partition, kafka_offset
         FROM ${table} ORDER BY kafka_topic, kafka_partition, kafka_offset`,
    )
  ).rows

async function partitions(): Promise<string[]> {
  const {rows} = await pool.query<{name: string}>(
    'SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass ORDER BY 1',
    [table],
  )
  return rows.map((r) => r.name)
}

async function dropAllPartitions(): Promise<void> {
  const {rows} = await pool.query<{name: string}>(
    `SELECT relname AS name FROM pg_class WHERE relnamespace = $1::regnamespace AND relkind = 'r' AND relname LIKE 'logs\\_p%'`,
    [schema],
  )
  for (const {name} of rows) await pool.query(`DROP TABLE "${schema}"."${name}"`)
}

beforeAll(async () => {
  const client = await pool.connect()
  try {
    await migrate(client, {schema})
  } finally {
    client.release()
  }
})
beforeEach(async () => {
  await dropAllPartitions()
})
afterAll(async () => {
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  await pool.end()
})

describe('partition names', () => {
  it('are logs_pYYYYMMDD of the UTC day, and read back', () => {
    expect(partitionName(utcDayOf(MAY_1))).toBe('logs_p20240501')
    expect(partitionName(utcDayOf(MAY_1 - 1))).toBe('logs_p20240430')
    expect(dayOfPartition('logs_p20240501')).toBe(utcDayOf(MAY_1))
    expect(dayOfPartition('logs_p20240231')).toBeUndefined()
    expect(dayOfPartition('logs_2024')).toBeUndefined()
    expect(daysOf([{tsMs: MAY_1 + DAY_MS}, {tsMs: MAY_1}, {tsMs: MAY_1 + 5}])).toEqual([utcDayOf(MAY_1), utcDayOf(MAY_1) + 1])
  })
})

describe('insertLogs', () => {
  beforeEach(async () => {
    await ensureDayPartitions(pool, [utcDayOf(MAY_1)], {schema})
  })

  it('writes a batch and reports the new rows; the same batch again changes nothing', async () => {
    const batch = [row({level: 'error', message: 'a', correlationId: 'c-1', attrs: {user: 'u1'}}), row({message: 'b'}), row({service: 'billing'})]
    expect(await insert(batch)).toEqual({inserted: 3})
    const first = await stored()
    expect(first).toHaveLength(3)
    expect(first[0]).toEqual({
      ts_ms: String(MAY_1 + 12 * 3_600_000),
      service: 'api',
      level: 'error',
      message: 'a',
      correlation_id: 'c-1',
      attrs: {user: 'u1'},
      kafka_topic: 'logs',
      kafka_partition: 0,
      kafka_offset: batch[0]!.kafkaOffset,
    })
    expect(await insert(batch)).toEqual({inserted: 0})
    // A redelivery whose content differs (it cannot, the parser is deterministic) keeps the first write.
    expect(await insert(batch.map((r) => ({...r, message: 'changed'})))).toEqual({inserted: 0})
    expect(await stored()).toEqual(first)
  })

  it('does nothing for an empty batch', async () => {
    expect(await insert([])).toEqual({inserted: 0})
  })

  it('keeps the first of rows with the same Kafka coordinates inside one batch', async () => {
    const a = row({message: 'first'})
    expect(await insert([a, row(), {...a, message: 'second', tsMs: a.tsMs + 1}])).toEqual({inserted: 2})
    const {rows} = await pool.query(`SELECT message FROM ${table} WHERE kafka_offset = $1`, [a.kafkaOffset])
    expect(rows).toEqual([{message: 'first'}])
  })

  it('stores unicode, quotes, backslashes, newlines, nested attrs and the largest offsets exactly', async () => {
    const message = 'ünïcödé ✓ 日本語 עברית 🚀👩‍👩‍👧 e\u0301 "quoted" \'single\' back\\slash\ttab\nnew line %_ 100%'
    const attrs = {'clé ✓': 'välue', nested: {list: [1, 'two', null, true], emoji: '🚀'}, empty: '', n: 1.5}
    const r = row({message, attrs, correlationId: 'corr-✓-🚀', service: 'sérvice', kafkaTopic: 'logs.ü', kafkaOffset: '9223372036854775807'})
    expect(await insert([r])).toEqual({inserted: 1})
    const {rows} = await pool.query(`SELECT message, attrs, correlation_id, service, kafka_topic, kafka_offset FROM ${table}`)
    expect(rows).toEqual([{message, attrs, correlation_id: 'corr-✓-🚀', service: 'sérvice', kafka_topic: 'logs.ü', kafka_offset: '9223372036854775807'}])
  })

  it('refuses a batch with U+0000, which PostgreSQL cannot store, as a whole', async () => {
    await expect(insert([row(), row({message: 'nul \u0000 inside'})])).rejects.toThrow(/\\u0000|unicode|null/i)
    expect(await count()).toBe(0)
  })

  it('fails for a row whose day has no partition, writing nothing', async () => {
    await expect(insert([row(), row({tsMs: MAY_1 + 3 * DAY_MS})])).rejects.toMatchObject({code: '23514'})
    expect(await count()).toBe(0)
  })

  it('lets concurrent overlapping batches in different orders all succeed without deadlock', async () => {
    const rows = Array.from({length: 4000}, (_, i) => row({kafkaPartition: i % 3, message: `m${i}`}))
    const shuffled = (seed: number) => {
      const copy = rows.filter((_, i) => (i + seed) % 4 !== 0)
      for (let i = copy.length - 1; i > 0; i--) {
        seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
        const j = seed % (i + 1)
        ;[copy[i], copy[j]] = [copy[j]!, copy[i]!]
      }
      return copy
    }
    for (let round = 0; round < 3; round++) {
      await pool.query(`TRUNCATE ${table}`)
      const results = await Promise.all([1, 2, 3, 4, 5, 6].map((seed) => insert(shuffled(seed * 7 + round))))
      expect(results.reduce((sum, r) => sum + r.inserted, 0)).toBe(rows.length)
      expect(await count()).toBe(rows.length)
    }
  })
})

describe('ensureDayPartitions', () => {
  it('creates the missing days, each from its UTC midnight to the next, with every index', async () => {
    const day = utcDayOf(MAY_1)
    expect(await ensureDayPartitions(pool, [day + 1, day, day + 1], {schema})).toEqual({created: ['logs_p20240501', 'logs_p20240502']})
    expect(await ensureDayPartitions(pool, [day, day + 1], {schema})).toEqual({created: []})
    expect(await partitions()).toEqual(['logs_p20240501', 'logs_p20240502'])
    const {rows} = await pool.query<{bound: string}>(`SELECT pg_get_expr(relpartbound, oid) AS bound FROM pg_class WHERE oid = $1::regclass`, [
      `"${schema}".logs_p20240501`,
    ])
    expect(rows[0]!.bound).toBe("FOR VALUES FROM ('2024-05-01 00:00:00+00') TO ('2024-05-02 00:00:00+00')")
    const {rows: indexes} = await pool.query<{n: number}>(`SELECT count(*)::int AS n FROM pg_indexes WHERE schemaname = $1 AND tablename = 'logs_p20240501'`, [
      schema,
    ])
    const {rows: parentIndexes} = await pool.query<{n: number}>(`SELECT count(*)::int AS n FROM pg_indexes WHERE schemaname = $1 AND tablename = 'logs'`, [schema])
    expect(indexes[0]!.n).toBe(parentIndexes[0]!.n)
    expect(indexes[0]!.n).toBe(8)
  })

  it('is safe when several writers create the same days at once', async () => {
    const day = utcDayOf(MAY_1)
    const days = [day, day + 1, day + 2, day + 3]
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map(() => ensureDayPartitions(pool, days, {schema})))
    expect(results.flatMap((r) => r.created).sort()).toEqual(days.map(partitionName))
    expect(await partitions()).toEqual(days.map(partitionName))
  })

  it('attaches a table left standalone by an interrupted attempt', async () => {
    await pool.query(`CREATE TABLE "${schema}".logs_p20240501 (LIKE ${table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`)
    expect(await ensureDayPartitions(pool, [utcDayOf(MAY_1)], {schema})).toEqual({created: ['logs_p20240501']})
    expect(await insert([row()])).toEqual({inserted: 1})
  })

  it('does not wait for a search running on pipeline.logs (ATTACH, not CREATE … PARTITION OF)', async () => {
    await ensureDayPartitions(pool, [utcDayOf(MAY_1)], {schema})
    const reader = await pool.connect()
    const writer = new pg.Client({connectionString: url})
    await writer.connect()
    try {
      await reader.query('BEGIN')
      await reader.query(`SELECT count(*) FROM ${table}`)
      // Waiting for the reader's lock would fail this statement instead of hanging the test.
      await writer.query(`SET lock_timeout = '3s'`)
      expect(await ensureDayPartitions(writer, [utcDayOf(MAY_1) + 1], {schema})).toEqual({created: ['logs_p20240502']})
    } finally {
      await reader.query('ROLLBACK')
      reader.release()
      await writer.end()
    }
  })
})

describe('createPartitionsAhead', () => {
  it("creates today's partition and those of the next days", async () => {
    const now = new Date('2024-05-01T23:59:59Z')
    expect(await createPartitionsAhead(pool, {days: 2, now, schema})).toEqual({created: ['logs_p20240501', 'logs_p20240502', 'logs_p20240503']})
    expect(await createPartitionsAhead(pool, {now, schema})).toEqual({created: []})
  })
})

describe('dropExpiredPartitions', () => {
  const now = new Date('2024-05-11T06:00:00Z')
  const day = (iso: string) => utcDayOf(Date.parse(iso))

  it('drops the days that ended before now - retention; newer days keep their rows', async () => {
    const writer = new LogsWriter(pool, {schema})
    const rows = ['2024-05-07T23:59:59.999Z', '2024-05-08T00:00:00Z', '2024-05-08T05:59:59Z', '2024-05-09T12:00:00Z', '2024-05-11T01:00:00Z'].map((iso) =>
      row({tsMs: Date.parse(iso), message: iso}),
    )
    expect(await writer.write(rows)).toEqual({inserted: 5})
    // 3 days before 2024-05-11T06:00 is 2024-05-08T06:00: May 7 ended before it, May 8 did not.
    expect(await dropExpiredPartitions(pool, {retentionMs: 3 * DAY_MS, now, schema})).toEqual({dropped: ['logs_p20240507']})
    expect(await partitions()).toEqual(['logs_p20240508', 'logs_p20240509', 'logs_p20240511'])
    const {rows: kept} = await pool.query<{message: string}>(`SELECT message FROM ${table} ORDER BY ts`)
    expect(kept.map((r) => r.message)).toEqual(['2024-05-08T00:00:00Z', '2024-05-08T05:59:59Z', '2024-05-09T12:00:00Z', '2024-05-11T01:00:00Z'])
    expect(await dropExpiredPartitions(pool, {retentionMs: 3 * DAY_MS, now, schema})).toEqual({dropped: []})
    // A shorter retention drops more, oldest first.
    expect(await dropExpiredPartitions(pool, {retentionMs: 6 * 3_600_000, now, schema})).toEqual({dropped: ['logs_p20240508', 'logs_p20240509']})
    expect(await partitions()).toEqual(['logs_p20240511'])
  })

  it('also drops an expired table left standalone, and leaves tables that are not its own', async () => {
    await pool.query(`CREATE TABLE "${schema}".logs_p20240501 (LIKE ${table})`)
    await pool.query(`CREATE TABLE "${schema}".logs_archive_2024 (LIKE ${table})`)
    expect(await dropExpiredPartitions(pool, {retentionMs: DAY_MS, now, schema})).toEqual({dropped: ['logs_p20240501']})
    expect((await pool.query(`SELECT to_regclass($1) AS t`, [`"${schema}".logs_archive_2024`])).rows[0].t).not.toBeNull()
    await pool.query(`DROP TABLE "${schema}".logs_archive_2024`)
  })

  it('lets the writer store an old line again after its day was dropped (the next pass drops it)', async () => {
    const writer = new LogsWriter(pool, {schema})
    const old = row({tsMs: day('2024-05-01') * DAY_MS + 1000})
    expect(await writer.write([old])).toEqual({inserted: 1})
    expect(await dropExpiredPartitions(pool, {retentionMs: DAY_MS, now, schema})).toEqual({dropped: ['logs_p20240501']})
    // The writer still believes May 1 exists; its retry makes the day again.
    expect(await writer.write([row({tsMs: old.tsMs})])).toEqual({inserted: 1})
    expect(await partitions()).toEqual(['logs_p20240501'])
    expect(await dropExpiredPartitions(pool, {retentionMs: DAY_MS, now, schema})).toEqual({dropped: ['logs_p20240501']})
  })
})

describe('LogPartitions', () => {
  it('asks PostgreSQL only about days it has not seen', async () => {
    const cache = new LogPartitions(pool, {schema})
    await cache.ensureFor([{tsMs: MAY_1}, {tsMs: MAY_1 + DAY_MS}])
    expect(await partitions()).toEqual(['logs_p20240501', 'logs_p20240502'])
    // Dropped behind its back: a known day is not checked again (the hot path costs nothing) ...
    await dropAllPartitions()
    await cache.ensureFor([{tsMs: MAY_1}])
    expect(await partitions()).toEqual([])
    // ... until it forgets.
    cache.forget()
    await cache.ensureFor([{tsMs: MAY_1}])
    expect(await partitions()).toEqual(['logs_p20240501'])
  })
})
