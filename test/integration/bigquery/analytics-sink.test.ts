/**
 * The analytics sink and its tables against the stack's BigQuery emulator, through the official
 * client: tables and view created once (and a second start changes nothing), a table lacking
 * kpipe's columns refused with its name, a wrongly typed row (the emulator fails the whole
 * request with HTTP 500) isolated while the rest lands, and the view one row per Kafka record
 * however many copies the raw table holds. One dataset of its own, deleted after.
 */
import {createServer} from 'node:net'

import {afterAll, describe, expect, it} from 'vitest'

import {ANALYTICS_SCHEMA, ensureAnalyticsTables, type AnalyticsTarget} from '../../../src/lib/bigquery/analytics-table.js'
import {createBigQuery} from '../../../src/lib/bigquery/client.js'
import {ConfigError} from '../../../src/lib/errors.js'
import type {EventEnvelope} from '../../../src/lib/records/envelope.js'
import {AnalyticsSink} from '../../../src/lib/workers/analytics-sink.js'
import {bigQueryInsertApi} from '../../../src/lib/workers/analytics-worker.js'
import type {DecodedRecord} from '../../../src/lib/workers/types.js'

const PROJECT = process.env.KPIPE_BQ_PROJECT ?? 'local'
const ENDPOINT = process.env.KPIPE_BQ_ENDPOINT ?? 'http://localhost:9050'
const DATASET = `kpipe_it_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 7)}`

function record(i: number, overrides: Partial<EventEnvelope> = {}, topic = 'it-analytics'): DecodedRecord<EventEnvelope> {
  return {
    source: {topic, partition: i % 3, offset: String(i), key: null, value: null, headers: {}, timestamp: '0'},
    value: {
      eventId: `ev-${i}`,
      type: i % 2 ? 'page.view' : 'user.signup',
      source: 'web',
      occurredAt: '2026-01-01T10:00:00.123456+02:00',
      key: String(1000 + i),
      correlationId: i % 4 ? `req-${i}` : null,
      schemaVersion: 1,
      payload: {i, plan: 'pro', nested: {ok: true}},
      ...overrides,
    },
  }
}

const context = {topic: 'it-analytics', partition: 0, heartbeat: async () => undefined}

describe('analytics tables and sink against the emulator', () => {
  // As the worker makes it: no retries of the client's own (the engine retries).
  const bigquery = createBigQuery({project: PROJECT, dataset: DATASET, endpoint: ENDPOINT}, {autoRetry: false})
  const target = (table: string): AnalyticsTarget => ({project: PROJECT, dataset: DATASET, table, endpoint: ENDPOINT})
  const query = async <R>(sql: string) => (await bigquery.query({query: sql}))[0] as R[]

  afterAll(async () => {
    await bigquery.dataset(DATASET).delete({force: true}).catch(() => undefined)
  })

  it('creates the dataset, a day-partitioned table clustered by type, and the view; a second start creates nothing', async () => {
    const first = await ensureAnalyticsTables(bigquery, target('events'))
    expect(first.created).toEqual([`${PROJECT}.${DATASET}`, `${PROJECT}.${DATASET}.events`, `${PROJECT}.${DATASET}.events_dedup`])
    const [metadata] = await bigquery.dataset(DATASET).table('events').getMetadata()
    expect(metadata.timePartitioning).toMatchObject({type: 'DAY', field: 'occurred_at'})
    expect(metadata.clustering).toEqual({fields: ['type']})
    expect(metadata.schema.fields.map((f: {name: string}) => f.name)).toEqual(ANALYTICS_SCHEMA.map((f) => f.name))
    const [view] = await bigquery.dataset(DATASET).table('events_dedup').getMetadata()
    expect(view.type).toBe('VIEW')
    expect((await ensureAnalyticsTables(bigquery, target('events'))).created).toEqual([])
  })

  it('refuses to stream into an existing table that lacks kpipe\'s columns, naming them', async () => {
    await bigquery.dataset(DATASET).createTable('narrow', {schema: {fields: [{name: 'event_id', type: 'STRING'}, {name: 'type', type: 'STRING'}]}})
    const error = await ensureAnalyticsTables(bigquery, target('narrow')).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as Error).message).toMatch(new RegExp(`^${PROJECT}\\.${DATASET}\\.narrow lacks the columns source, occurred_at, entity_key, .*kafka_offset, ingested_at that kpipe writes\\.$`))
  })

  it('writes rows that read back with their values; the payload is JSON', async () => {
    await ensureAnalyticsTables(bigquery, target('events'))
    const sink = new AnalyticsSink({api: bigQueryInsertApi(bigquery, target('events')), limits: {maxRows: 7, maxBytes: 9_000_000}})
    const result = await sink.write(Array.from({length: 20}, (_, i) => record(i)), context)
    expect(result).toEqual({rejected: [], inserted: 20})
    const rows = await query<{n: number; plans: number; micros: number}>(
      `SELECT count(*) AS n, countif(JSON_VALUE(payload, '$.plan') = 'pro') AS plans, UNIX_MICROS(min(occurred_at)) AS micros FROM \`${PROJECT}.${DATASET}.events\``,
    )
    // 10:00:00.123456+02:00, kept to the microsecond.
    expect(rows[0]).toEqual({n: 20, plans: 20, micros: Date.parse('2026-01-01T08:00:00.123Z') * 1000 + 456})
    const one = await query<Record<string, unknown>>(`SELECT event_id, entity_key, correlation_id, kafka_partition, kafka_offset FROM \`${PROJECT}.${DATASET}.events\` WHERE kafka_offset = 5`)
    expect(one).toEqual([{event_id: 'ev-5', entity_key: '1005', correlation_id: 'req-5', kafka_partition: 2, kafka_offset: 5}])
  })

  it('dead-letters a row of the wrong type (the emulator fails its whole request with HTTP 500) and lands the rest', async () => {
    // A table typed by someone else: entity_key INT64. Keys that are numbers convert, one does not.
    const fields = ANALYTICS_SCHEMA.map((f) => (f.name === 'entity_key' ? {...f, type: 'INT64'} : f))
    await bigquery.dataset(DATASET).createTable('typed', {schema: {fields}})
    await ensureAnalyticsTables(bigquery, target('typed'))
    const sink = new AnalyticsSink({api: bigQueryInsertApi(bigquery, target('typed')), limits: {maxRows: 500, maxBytes: 9_000_000}})
    const batch = Array.from({length: 40}, (_, i) => record(i, i === 17 ? {key: 'not-a-number'} : {}, 'it-typed'))
    const result = await sink.write(batch, context)
    expect(result.rejected.map((r) => r.record.value.eventId)).toEqual(['ev-17'])
    expect(result.rejected[0]!.message).toMatch(/^BigQuery refused the row: HTTP 500 /)
    expect(result.inserted).toBe(39)
    const rows = await query<{n: number; control: number}>(`SELECT count(*) AS n, countif(kafka_topic IS NULL) AS control FROM \`${PROJECT}.${DATASET}.typed\``)
    expect(rows[0]).toEqual({n: 39, control: 0}) // the control inserts landed nothing
  })

  it('the view holds one row per Kafka record, the latest copy, however many copies were written', async () => {
    await ensureAnalyticsTables(bigquery, target('dupes'))
    const api = bigQueryInsertApi(bigquery, target('dupes'))
    const batch = Array.from({length: 30}, (_, i) => record(i, {}, 'it-dupes'))
    let clock = Date.parse('2026-02-01T00:00:00Z')
    const sinkAt = () => new AnalyticsSink({api, limits: {maxRows: 500, maxBytes: 9_000_000}, now: () => new Date((clock += 1000))})
    // Three deliveries of the same records (a crash, a replay): the emulator keeps every copy.
    for (let copy = 0; copy < 3; copy++) await sinkAt().write(batch.map((r) => ({...r})), context)
    const raw = await query<{n: number}>(`SELECT count(*) AS n FROM \`${PROJECT}.${DATASET}.dupes\``)
    expect(raw[0]!.n).toBe(90)
    const view = await query<{n: number; coordinates: number; oldest: number}>(
      `SELECT count(*) AS n, count(DISTINCT FORMAT('%d-%d', kafka_partition, kafka_offset)) AS coordinates, UNIX_MILLIS(min(ingested_at)) AS oldest FROM \`${PROJECT}.${DATASET}.dupes_dedup\``,
    )
    // Every row the view keeps is of the third delivery.
    expect(view[0]).toEqual({n: 30, coordinates: 30, oldest: Date.parse('2026-02-01T00:00:03Z')})
  })

  it('bounds every call to a BigQuery that accepts connections and never answers: a timeout, retried by the engine', async () => {
    const hung = createServer(() => undefined)
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve))
    try {
      const {port} = hung.address() as {port: number}
      const endpoint = `http://127.0.0.1:${port}`
      const client = createBigQuery({project: PROJECT, dataset: DATASET, endpoint}, {autoRetry: false})
      const api = bigQueryInsertApi(client, {...target('events'), endpoint}, {timeoutMs: 500})
      const sink = new AnalyticsSink({api, limits: {maxRows: 500, maxBytes: 9_000_000}})
      const error = await sink.write([record(1)], context).catch((e: unknown) => e)
      expect(error).toMatchObject({code: 'ETIMEDOUT', message: 'BigQuery did not answer insertAll within 0.5 s'})
      expect(sink.isRetriable(error)).toBe(true)
      await expect(api.probe()).rejects.toMatchObject({code: 'ETIMEDOUT'})
    } finally {
      hung.close()
    }
  })
})
