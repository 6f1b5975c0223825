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
      'logs_correlation_id',
      'logs_kafka_position',
      'logs_level_ts',
      'logs_message_fts',
      'logs_service_ts',
      'logs_ts',
      'projection_backlog_pkey',
      'projection_backlog_topic',
      'schema_migrations_pkey',
    ])
    expect(indexes.find((i) => i.indexname === 'logs_message_fts')!.indexdef).toMatch(/USING gin \(to_tsvector\('simple'::regconfig, message\)\)/)
  })

  it('keeps one log row per Kafka position and finds it by full-text search', async () => {
    const schema = testSchema()
    await withClient((client) => migrate(client, {schema}))
    const insert = `INSERT INTO "${schema}".logs (ts, service, level, message, kafka_topic, kafka_partition, kafka_offset)
      VALUES (now(), 'api', 'error', $1, 'logs', 0, 7) ON CONFLICT (kafka_topic, kafka_partition, kafka_offset) DO NOTHING`
    expect((await pool.query(insert, ['payment gateway timed out'])).rowCount).toBe(1)
    expect((await pool.query(insert, ['payment gateway timed out'])).rowCount).toBe(0)
    const {rows} = await pool.query(`SELECT message FROM "${schema}".logs WHERE to_tsvector('simple', message) @@ plainto_tsquery('simple', 'gateway')`)
    expect(rows).toEqual([{message: 'payment gateway timed out'}])
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
