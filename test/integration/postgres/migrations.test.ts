/**
 * Migrations against the stack's PostgreSQL, each case in a schema of its own (dropped after),
 * so nothing here touches the shared `pipeline` schema other tests and workers use.
 */
import pg from 'pg'
import {afterAll, describe, expect, it} from 'vitest'

import {defaultConfig} from '../../../src/lib/config.js'
import {UsageError} from '../../../src/lib/errors.js'
import {
  assertSchemaCurrent,
  currentSchemaVersion,
  LATEST_SCHEMA_VERSION,
  migrate,
  MIGRATIONS,
  type Migration,
} from '../../../src/lib/postgres/migrations.js'
import {createPgPool} from '../../../src/lib/postgres/pool.js'

const url = process.env.KPIPE_PG_URL ?? defaultConfig().postgres.url
const pool = createPgPool({url}, {max: 6})
const schemas: string[] = []

function testSchema(): string {
  const name = `kpipe_test_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
  schemas.push(name)
  return name
}

async function withClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  try {
    return await fn(client)
  } finally {
    client.release()
  }
}

async function partitionsOf(schema: string): Promise<string[]> {
  const {rows} = await pool.query<{name: string}>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass ORDER BY 1`,
    [`"${schema}".logs`],
  )
  return rows.map((r) => r.name)
}

afterAll(async () => {
  for (const schema of schemas) await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  await pool.end()
})

describe('migrate', () => {
  it('creates the schema from nothing, then finds nothing to do', async () => {
    const schema = testSchema()
    expect(await currentSchemaVersion(pool, schema)).toBe(0)

    const first = await withClient((client) => migrate(client, {schema}))
    expect(first).toEqual({applied: MIGRATIONS.map((m) => ({version: m.version, name: m.name})), current: LATEST_SCHEMA_VERSION})
    expect(await currentSchemaVersion(pool, schema)).toBe(LATEST_SCHEMA_VERSION)

    const second = await withClient((client) => migrate(client, {schema}))
    expect(second).toEqual({applied: [], current: LATEST_SCHEMA_VERSION})
    const {rows} = await pool.query(`SELECT version, name, applied_at FROM "${schema}".schema_migrations`)
    expect(rows).toHaveLength(MIGRATIONS.length)
  })

  it('creates the columns DESIGN §3 asks for', async () => {
    const schema = testSchema()
    await withClient((client) => migrate(client, {schema}))
    const columns = async (table: string) =>
      (
        await pool.query<{column_name: string; data_type: string; is_nullable: string}>(
          'SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position',
          [schema, table],
        )
      ).rows.map((c) => `${c.column_name} ${c.data_type}${c.is_nullable === 'NO' ? ' not null' : ''}`)
    expect(await columns('events')).toEqual([
      'event_id text not null',
      'type text not null',
      'source text not null',
      'entity_key text not null',
      'occurred_at timestamp with time zone not null',
      'correlation_id text',
      'schema_version integer',
      'payload jsonb not null',
      'kafka_topic text not null',
      'kafka_partition integer not null',
      'kafka_offset bigint not null',
      'ingested_at timestamp with time zone not null',
    ])
    expect(await columns('logs')).toEqual([
      'ts timestamp with time zone not null',
      'service text not null',
      'level text not null',
      'message text not null',
      'correlation_id text',
      'attrs jsonb not null',
      'kafka_topic text not null',
      'kafka_partition integer not null',
      'kafka_offset bigint not null',
      'ingested_at timestamp with time zone not null',
    ])
    expect(await columns('projection_backlog')).toEqual([
      'id bigint not null',
      'kafka_topic text not null',
      'kafka_partition integer not null',
      'from_offset bigint not null',
      'to_offset bigint not null',
      'marked_at timestamp with time zone not null',
    ])
    const {rows: indexes} = await pool.query<{indexname: string; indexdef: string}>(
      'SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname',
      [schema],
    )
    expect(indexes.map((i) => i.indexname)).toEqual([
      'events_correlation_id',
      'events_entity_key_occurred_at',
      'events_kafka_position',
      'events_pkey',
      'events_type_occurred_at',
      'logs_attrs',
      'logs_correlation_id',
      'logs_ingested_at',
      'logs_kafka_position',
      'logs_level_ts',
      'logs_message_trgm',
      'logs_service_ts',
      'logs_ts',
      'projection_backlog_pkey',
      'projection_backlog_topic',
      'schema_migrations_pkey',
    ])
    const def = (name: string) => indexes.find((i) => i.indexname === name)!.indexdef
    expect(def('logs_message_trgm')).toMatch(/USING gin \(message \S*gin_trgm_ops\)/)
    expect(def('logs_attrs')).toMatch(/USING gin \(attrs jsonb_path_ops\)/)
    expect(def('logs_kafka_position')).toMatch(/\(kafka_topic, kafka_partition, kafka_offset, ts\)/)
    expect(def('logs_correlation_id')).toMatch(/WHERE \(correlation_id IS NOT NULL\)/)
  })

  it('makes pipeline.logs partitioned by range of ts, with no partition until one is needed', async () => {
    const schema = testSchema()
    await withClient((client) => migrate(client, {schema}))
    const {rows} = await pool.query<{kind: string; key: string}>(
      `SELECT c.relkind AS kind, pg_get_partkeydef(c.oid) AS key FROM pg_class c WHERE c.oid = $1::regclass`,
      [`"${schema}".logs`],
    )
    expect(rows).toEqual([{kind: 'p', key: 'RANGE (ts)'}])
    expect(await partitionsOf(schema)).toEqual([])
  })

  it('keeps one log row per Kafka record and finds it by case-insensitive substring through the trigram index', async () => {
    const schema = testSchema()
    await withClient((client) => migrate(client, {schema}))
    await pool.query(`CREATE TABLE "${schema}".logs_p20240501 PARTITION OF "${schema}".logs FOR VALUES FROM ('2024-05-01Z') TO ('2024-05-02Z')`)
    const insert = `INSERT INTO "${schema}".logs (ts, service, level, message, kafka_topic, kafka_partition, kafka_offset)
      VALUES ('2024-05-01T12:00:00Z', 'api', 'error', $1, 'logs', 0, 7) ON CONFLICT DO NOTHING`
    expect((await pool.query(insert, ['Payment GATEWAY timed out'])).rowCount).toBe(1)
    expect((await pool.query(insert, ['Payment GATEWAY timed out'])).rowCount).toBe(0)
    const search = `SELECT message FROM "${schema}".logs WHERE message ILIKE '%gateway tim%'`
    expect((await pool.query(search)).rows).toEqual([{message: 'Payment GATEWAY timed out'}])
    const client = await pool.connect()
    try {
      // A one-row table would be read sequentially; forbid that to see that the index can answer.
      await client.query('BEGIN')
      await client.query('SET LOCAL enable_seqscan = off')
      const plan = (await client.query<{'QUERY PLAN': string}>(`EXPLAIN ${search}`)).rows.map((r) => r['QUERY PLAN']).join('\n')
      expect(plan).toMatch(/Bitmap Index Scan on logs_p20240501_message_idx/)
      await client.query('ROLLBACK')
    } finally {
      client.release()
    }
  })

  it('is safe to run concurrently: one run applies, the others wait and find nothing', async () => {
    const schema = testSchema()
    const results = await Promise.all([1, 2, 3, 4].map(() => withClient((client) => migrate(client, {schema}))))
    expect(results.filter((r) => r.applied.length > 0)).toHaveLength(1)
    expect(results.every((r) => r.current === LATEST_SCHEMA_VERSION)).toBe(true)
    const {rows} = await pool.query(`SELECT count(*)::int AS n FROM "${schema}".schema_migrations`)
    expect(rows[0].n).toBe(MIGRATIONS.length)
  })

  it('rolls back everything when a migration fails', async () => {
    const schema = testSchema()
    const broken: Migration[] = [...MIGRATIONS, {version: MIGRATIONS.length + 1, name: 'broken', sql: (s) => `ALTER TABLE ${s}.nope ADD x int`}]
    await expect(withClient((client) => migrate(client, {schema, migrations: broken}))).rejects.toThrow(/nope/)
    expect(await currentSchemaVersion(pool, schema)).toBe(0)
  })

  it('applies only the new migration on upgrade', async () => {
    const schema = testSchema()
    await withClient((client) => migrate(client, {schema}))
    const next: Migration[] = [
      ...MIGRATIONS,
      {version: MIGRATIONS.length + 1, name: 'events tenant', sql: (s) => `ALTER TABLE ${s}.events ADD COLUMN tenant text`},
    ]
    const result = await withClient((client) => migrate(client, {schema, migrations: next}))
    expect(result).toEqual({applied: [{version: MIGRATIONS.length + 1, name: 'events tenant'}], current: MIGRATIONS.length + 1})
  })
})

describe('migration 3 (logs partitioned by day)', () => {
  const columns = 'ts, service, level, message, correlation_id, attrs, kafka_topic, kafka_partition, kafka_offset, ingested_at'

  it('keeps every row of the old table, each in the partition of its UTC day, whatever the session time zone', async () => {
    const schema = testSchema()
    await withClient((client) => migrate(client, {schema, migrations: MIGRATIONS.slice(0, 2)}))
    const old = [
      ['2024-04-30T23:59:59.999999Z', 'api', 'info', 'last microsecond of April 30', null, {}, 'logs', 0, 1, '2024-05-01T00:00:01Z'],
      ['2024-05-01T00:00:00Z', 'api', 'error', 'first instant of May 1', 'corr-1', {user: 'u1', n: 2}, 'logs', 0, 2, '2024-05-01T00:00:02Z'],
      ['2024-05-01T23:30:00+02:00', 'billing', 'warn', 'May 1 in UTC although May 1 23:30 in Paris', null, {}, 'logs', 1, 2, '2024-05-01T22:00:00Z'],
      ['2024-05-03T08:00:00Z', 'billing', 'fatal', 'ünïcödé ✓ 日本語 🚀', null, {nested: {a: [1, 2]}}, 'logs-other', 2, 9_007_199_254_740_993n, '2024-05-03T08:00:00Z'],
    ] as const
    for (const row of old) {
      await pool.query(
        `INSERT INTO "${schema}".logs (${columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
        row.map((v) => (typeof v === 'bigint' ? v.toString() : v)),
      )
    }
    const before = await pool.query(`SELECT ${columns}, ts::text AS exact_ts FROM "${schema}".logs ORDER BY kafka_topic, kafka_partition, kafka_offset`)

    // Day boundaries are UTC even when the migrating session lives elsewhere.
    const result = await withClient(async (client) => {
      await client.query(`SET TIME ZONE 'America/New_York'`)
      try {
        return await migrate(client, {schema})
      } finally {
        await client.query('RESET TIME ZONE')
      }
    })
    expect(result.applied.map((m) => m.version)).toEqual([3])

    const after = await pool.query(`SELECT ${columns}, ts::text AS exact_ts FROM "${schema}".logs ORDER BY kafka_topic, kafka_partition, kafka_offset`)
    expect(after.rows).toEqual(before.rows)
    expect(after.rows.map((r) => r.kafka_offset)).toContain('9007199254740993')
    expect(await partitionsOf(schema)).toEqual(['logs_p20240430', 'logs_p20240501', 'logs_p20240503'])
    const {rows: placed} = await pool.query<{partition: string; n: number}>(
      `SELECT c.relname AS partition, count(*)::int AS n FROM "${schema}".logs l JOIN pg_class c ON c.oid = l.tableoid GROUP BY 1 ORDER BY 1`,
    )
    expect(placed).toEqual([
      {partition: 'logs_p20240430', n: 1},
      {partition: 'logs_p20240501', n: 2},
      {partition: 'logs_p20240503', n: 1},
    ])
    expect(await pool.query(`SELECT to_regclass($1) AS old`, [`"${schema}".logs_unpartitioned`]).then((r) => r.rows[0].old)).toBeNull()
    // The constraint still refuses a second row for a Kafka record.
    await expect(
      pool.query(`INSERT INTO "${schema}".logs (${columns}) SELECT ${columns} FROM "${schema}".logs WHERE kafka_offset = 2 AND kafka_partition = 0`),
    ).rejects.toThrow(/logs_p20240501_kafka_topic_kafka_partition_kafka_offset_ts_key|logs_kafka_position/)
  })

  it('upgrades an old-shape table with no rows', async () => {
    const schema = testSchema()
    await withClient((client) => migrate(client, {schema, migrations: MIGRATIONS.slice(0, 2)}))
    expect((await withClient((client) => migrate(client, {schema}))).applied.map((m) => m.version)).toEqual([3])
    expect(await partitionsOf(schema)).toEqual([])
    expect((await pool.query(`SELECT count(*)::int AS n FROM "${schema}".logs`)).rows[0].n).toBe(0)
  })
})

describe('assertSchemaCurrent', () => {
  it('asks for `kpipe db migrate` when the schema is missing', async () => {
    const schema = testSchema()
    const error = await assertSchemaCurrent(pool, {schema}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(UsageError)
    expect(error).toMatchObject({message: `PostgreSQL has no ${schema} schema yet.`, hint: 'Run `kpipe db migrate` to create it.', exitCode: 2})
  })

  it('asks for `kpipe db migrate` when the schema is older than the code', async () => {
    const schema = testSchema()
    await withClient((client) => migrate(client, {schema}))
    await expect(assertSchemaCurrent(pool, {schema, expected: LATEST_SCHEMA_VERSION + 1})).rejects.toThrow(
      `The PostgreSQL schema ${schema} is at version ${LATEST_SCHEMA_VERSION}, older than the version ${LATEST_SCHEMA_VERSION + 1} this kpipe needs.`,
    )
  })

  it('accepts a current or newer schema', async () => {
    const schema = testSchema()
    await withClient((client) => migrate(client, {schema}))
    expect(await assertSchemaCurrent(pool, {schema})).toBe(LATEST_SCHEMA_VERSION)
    expect(await assertSchemaCurrent(pool, {schema, expected: LATEST_SCHEMA_VERSION - 1})).toBe(LATEST_SCHEMA_VERSION)
  })
})
