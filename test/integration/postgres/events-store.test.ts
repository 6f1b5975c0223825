/**
 * The set-based idempotent upsert against the stack's PostgreSQL, in a schema of its own
 * (created by the real migrations, dropped after) so the shared `pipeline` schema is untouched.
 */
import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {defaultConfig} from '../../../src/lib/config.js'
import {upsertEvents, toEventRow, type EventRow} from '../../../src/lib/postgres/events-store.js'
import {migrate} from '../../../src/lib/postgres/migrations.js'
import {createPgPool} from '../../../src/lib/postgres/pool.js'
import {decodeEventRecord, encodeEvent} from '../../../src/lib/records/decode.js'
import type {EventEnvelope} from '../../../src/lib/records/envelope.js'

const url = process.env.KPIPE_PG_URL ?? defaultConfig().postgres.url
const pool = createPgPool({url}, {max: 8})
const schema = `kpipe_test_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
const table = `"${schema}".events`

let offset = 0
function row(eventId: string, overrides: Partial<EventRow> = {}): EventRow {
  return {
    eventId,
    type: 'user.signup',
    source: 'accounts',
    occurredAt: '2024-05-01T12:00:00.000Z',
    key: 'user-1',
    correlationId: null,
    schemaVersion: 1,
    payload: {n: 1},
    kafkaTopic: 'events',
    kafkaPartition: 0,
    kafkaOffset: String(offset++),
    ...overrides,
  }
}
const upsert = (rows: EventRow[]) => upsertEvents(pool, rows, {schema})
const count = async () => (await pool.query<{n: number; d: number}>(`SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS d FROM ${table}`)).rows[0]!

beforeAll(async () => {
  const client = await pool.connect()
  try {
    await migrate(client, {schema})
  } finally {
    client.release()
  }
})
beforeEach(async () => {
  await pool.query(`TRUNCATE ${table}`)
})
afterAll(async () => {
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  await pool.end()
})

describe('upsertEvents', () => {
  it('inserts a batch in one statement and reports the new rows', async () => {
    expect(await upsert([row('a'), row('b'), row('c')])).toEqual({inserted: 3, distinct: 3})
    expect(await count()).toEqual({n: 3, d: 3})
  })

  it('does nothing for an empty batch', async () => {
    expect(await upsert([])).toEqual({inserted: 0, distinct: 0})
  })

  it('keeps the first of duplicate eventIds inside one batch', async () => {
    const result = await upsert([row('a', {payload: {first: true}}), row('b'), row('a', {payload: {first: false}, kafkaOffset: '99'})])
    expect(result).toEqual({inserted: 2, distinct: 2})
    const {rows} = await pool.query(`SELECT payload, kafka_offset FROM ${table} WHERE event_id = 'a'`)
    expect(rows).toEqual([{payload: {first: true}, kafka_offset: expect.any(String)}])
    expect(rows[0].kafka_offset).not.toBe('99')
    expect(await count()).toEqual({n: 2, d: 2})
  })

  it('changes nothing on redelivery across batches (the first write wins)', async () => {
    await upsert([row('a', {payload: {v: 1}}), row('b')])
    const again = await upsert([row('a', {payload: {v: 2}, type: 'changed'}), row('b'), row('c')])
    expect(again).toEqual({inserted: 1, distinct: 3})
    const {rows} = await pool.query(`SELECT type, payload FROM ${table} WHERE event_id = 'a'`)
    expect(rows).toEqual([{type: 'user.signup', payload: {v: 1}}])
    expect(await count()).toEqual({n: 3, d: 3})
  })

  it('is idempotent, without deadlocks, under concurrent writers of overlapping batches in any order', async () => {
    const ids = Array.from({length: 2000}, (_, i) => `e${i}`)
    const shuffled = [...ids].sort(() => Math.random() - 0.5)
    const batches = [ids.slice(0, 1200), ids.slice(800).reverse(), shuffled, [...ids].reverse(), shuffled.slice(500)]
    const clients = await Promise.all(batches.map(() => pool.connect()))
    try {
      const results = await Promise.all(batches.map((batch, i) => upsertEvents(clients[i]!, batch.map((id) => row(id)), {schema})))
      expect(results.reduce((n, r) => n + r.inserted, 0)).toBe(2000)
    } finally {
      for (const client of clients) client.release()
    }
    expect(await count()).toEqual({n: 2000, d: 2000})
  })

  it('stores every column faithfully', async () => {
    const payload = {text: 'quote " backslash \\ brace { } comma , é 😀', nested: {list: [1, 2.5, null, true], empty: {}}, big: 9007199254740991, tiny: 1.5e-300}
    await upsert([
      row('full', {
        type: 'order.placed',
        source: 'shop',
        key: 'user,"42"',
        occurredAt: '2024-05-01T14:00:00.123456789+02:00',
        correlationId: 'corr-{1}',
        schemaVersion: 7,
        payload,
        kafkaTopic: 'events',
        kafkaPartition: 5,
        kafkaOffset: '9007199254740993',
      }),
    ])
    const {rows} = await pool.query(
      `SELECT event_id, type, source, entity_key, occurred_at, correlation_id, schema_version, payload, kafka_topic, kafka_partition,
              kafka_offset::text AS kafka_offset, to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS utc,
              ingested_at > now() - interval '1 minute' AS fresh
         FROM ${table}`,
    )
    expect(rows).toEqual([
      {
        event_id: 'full',
        type: 'order.placed',
        source: 'shop',
        entity_key: 'user,"42"',
        occurred_at: expect.any(Date),
        correlation_id: 'corr-{1}',
        schema_version: 7,
        payload: JSON.parse(JSON.stringify(payload)),
        kafka_topic: 'events',
        kafka_partition: 5,
        kafka_offset: '9007199254740993',
        utc: '2024-05-01T12:00:00.123457',
        fresh: true,
      },
    ])
  })

  it('stores what the decoder produced, JSON and Avro alike', async () => {
    const event: EventEnvelope = {
      eventId: 'decoded',
      type: 't',
      source: 's',
      occurredAt: '2024-05-01T12:00:00.000Z',
      key: 'k',
      correlationId: 'c',
      schemaVersion: 1,
      payload: {a: [1, {b: 'c'}]},
    }
    const rows = (['json', 'avro'] as const).map((encoding, i) => {
      const decoded = decodeEventRecord(encodeEvent({...event, eventId: `decoded-${encoding}`}, encoding), {maxBytes: 1 << 20})
      if (!decoded.ok) throw new Error(decoded.message)
      return toEventRow(decoded.event, {topic: 'events', partition: 1, offset: String(i)})
    })
    expect(await upsert(rows)).toEqual({inserted: 2, distinct: 2})
    const {rows: stored} = await pool.query(`SELECT event_id, payload FROM ${table} ORDER BY event_id`)
    expect(stored).toEqual([
      {event_id: 'decoded-avro', payload: {a: [1, {b: 'c'}]}},
      {event_id: 'decoded-json', payload: {a: [1, {b: 'c'}]}},
    ])
  })
})
