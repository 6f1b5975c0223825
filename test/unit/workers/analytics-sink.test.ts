import {Registry} from 'prom-client'
import {describe, expect, it} from 'vitest'

import {DependencyError, KpipeError} from '../../../src/lib/errors.js'
import type {EventEnvelope} from '../../../src/lib/records/envelope.js'
import {AnalyticsSink, createAnalyticsMetrics, type InsertApi, type RowError} from '../../../src/lib/workers/analytics-sink.js'
import type {DecodedRecord} from '../../../src/lib/workers/types.js'
import {apiError, fetchError} from '../../helpers/google-errors.js'

function record(i: number, overrides: Partial<EventEnvelope> = {}): DecodedRecord<EventEnvelope> {
  return {
    source: {topic: 'analytics', partition: 1, offset: String(i), key: null, value: null, headers: {}, timestamp: '0'},
    value: {
      eventId: `e-${i}`,
      type: 'page.view',
      source: 'web',
      occurredAt: '2026-01-01T00:00:00Z',
      key: `u-${i % 7}`,
      correlationId: null,
      schemaVersion: 1,
      payload: {i, pad: 'x'.repeat(100)},
      ...overrides,
    },
  }
}

const records = (n: number, from = 0) => Array.from({length: n}, (_, i) => record(from + i))

type Row = {insertId?: string; json: Record<string, unknown>}

/**
 * A table behind insertAll. Like Google: requests over `maxRequestBytes` answer 400 "payload size
 * exceeds the limit", rows naming `invalidIds` are refused per row (skipInvalidRows: the others
 * land). Like the emulator: a request holding one of `wrongTypeIds` fails whole with HTTP 500, and
 * a row with an unknown column is refused per row. `failing` makes every insert throw it.
 */
class FakeBigQuery implements InsertApi {
  readonly rows: Row[] = []
  readonly requests: Row[][] = []
  controlInserts = 0
  ensures = 0
  failing?: unknown
  probeFails = false
  maxRequestBytes = Infinity
  invalidIds = new Set<string>()
  wrongTypeIds = new Set<string>()
  /** Rows reported `stopped` once (Google with skipInvalidRows: false). */
  stopOnce = new Set<string>()
  /** Fails the first n inserts with this error, then works. */
  failFirst: {n: number; error: unknown} = {n: 0, error: undefined}

  async insert(rows: readonly {insertId?: string; json: object}[]): Promise<RowError[]> {
    const batch = rows as Row[]
    const isControl = batch.length === 1 && 'kpipe_control_no_such_column' in batch[0]!.json
    if (isControl) this.controlInserts++
    else this.requests.push(batch)
    if (this.failing) throw this.failing
    if (this.failFirst.n > 0 && !isControl) {
      this.failFirst.n--
      throw this.failFirst.error
    }
    if (isControl) return [{index: 0, errors: [{reason: 'invalid', message: 'no such field: kpipe_control_no_such_column.'}]}]
    const bytes = Buffer.byteLength(JSON.stringify({rows: batch}))
    if (bytes > this.maxRequestBytes) throw apiError(400, 'invalid', `Request payload size exceeds the limit: ${this.maxRequestBytes} bytes.`)
    if (batch.some((r) => this.wrongTypeIds.has(r.json.event_id as string))) {
      throw apiError(500, 'internalError', 'strconv.ParseInt: parsing "eyJoZWFkZXIiOiJzdHJpbmciLCJib2R5Ijoibm90In0=": invalid syntax')
    }
    const errors: RowError[] = []
    batch.forEach((row, index) => {
      const id = row.json.event_id as string
      if (this.invalidIds.has(id)) errors.push({index, errors: [{reason: 'invalid', message: `Cannot convert value to integer (bad value): ${id}`, location: 'entity_key'}]})
      else if (this.stopOnce.delete(id)) errors.push({index, errors: [{reason: 'stopped', message: ''}]})
      else this.rows.push(row)
    })
    return errors
  }

  async probe(): Promise<void> {
    if (this.probeFails) throw fetchError('ECONNREFUSED')
  }

  async ensure(): Promise<void> {
    this.ensures++
  }

  ids(): string[] {
    return this.rows.map((r) => r.json.event_id as string)
  }
}

const context = {topic: 'analytics', partition: 1, heartbeat: async () => undefined}
const limits = {maxRows: 500, maxBytes: 9_000_000}

function sink(api: InsertApi, options: {maxRows?: number; maxBytes?: number; registry?: Registry} = {}) {
  return new AnalyticsSink({
    api,
    limits: {maxRows: options.maxRows ?? limits.maxRows, maxBytes: options.maxBytes ?? limits.maxBytes},
    metrics: options.registry ? createAnalyticsMetrics(options.registry) : undefined,
    controlTtlMs: 0,
  })
}

describe('AnalyticsSink: requests', () => {
  it('sends raw rows with the deterministic insert ids, split by --max-rows', async () => {
    const api = new FakeBigQuery()
    const result = await sink(api).write(records(1200), context)
    expect(result).toEqual({rejected: [], inserted: 1200})
    expect(api.requests.map((r) => r.length)).toEqual([500, 500, 200])
    expect(api.requests[0]![0]).toMatchObject({insertId: 'analytics-1-0', json: {event_id: 'e-0', kafka_offset: '0', kafka_partition: 1}})
    expect(new Set(api.rows.map((r) => r.insertId)).size).toBe(1200)
  })

  it('splits by --max-bytes, computed from the serialised rows', async () => {
    const api = new FakeBigQuery()
    await sink(api, {maxBytes: 20_000}).write(records(300), context)
    expect(api.requests.length).toBeGreaterThan(1)
    for (const request of api.requests) expect(Buffer.byteLength(JSON.stringify(request))).toBeLessThanOrEqual(20_000)
    expect(api.ids()).toEqual(records(300).map((r) => r.value.eventId))
  })

  it('halves a request BigQuery refuses as too large and sends the halves, never dropping a row', async () => {
    const api = new FakeBigQuery()
    api.maxRequestBytes = 30_000 // the emulator takes anything; Google stops at 10 MB
    const result = await sink(api, {maxRows: 500}).write(records(500), context)
    expect(result).toEqual({rejected: [], inserted: 500})
    expect(api.ids().sort()).toEqual(records(500).map((r) => r.value.eventId).sort())
    expect(api.requests[0]!.length).toBe(500) // refused, then halved down to what fits
    expect(Math.max(...api.requests.slice(1).map((r) => r.length))).toBeLessThan(500)
  })

  it('halves on HTTP 413 as well, and rejects (never drops silently) a single row too large for any request', async () => {
    const api = new FakeBigQuery()
    const big = record(7, {payload: {blob: 'y'.repeat(5000)}})
    api.insert = (async (rows: readonly {json: object}[]) => {
      if (Buffer.byteLength(JSON.stringify(rows)) > 4000) throw apiError(413, '', 'Request Entity Too Large')
      return FakeBigQuery.prototype.insert.call(api, rows)
    }) as FakeBigQuery['insert']
    const result = await sink(api).write([...records(5), big, ...records(5, 10)], context)
    expect(result.rejected.map((r) => r.record.value.eventId)).toEqual(['e-7'])
    expect(result.rejected[0]!.message).toMatch(/BigQuery refused the row as too large for one request \(HTTP 413/)
    expect(api.ids().sort()).toEqual([...records(5), ...records(5, 10)].map((r) => r.value.eventId).sort())
  })

  it('records rows, bytes and latency of each request on the worker registry', async () => {
    const registry = new Registry()
    const api = new FakeBigQuery()
    await sink(api, {registry, maxRows: 100}).write(records(250), context)
    const text = await registry.metrics()
    expect(text).toMatch(/kpipe_worker_bigquery_request_rows_count 3/)
    expect(text).toMatch(/kpipe_worker_bigquery_request_rows_sum 250/)
    expect(text).toMatch(/kpipe_worker_bigquery_request_bytes_sum \d{5,}/)
    expect(text).toMatch(/kpipe_worker_bigquery_request_duration_seconds_count\{outcome="ok"\} 3/)
    expect(text).toMatch(/kpipe_worker_bigquery_requests_total\{outcome="ok"\} 3/)
  })
})

describe('AnalyticsSink: errors', () => {
  it('throws connection errors, 5xx, quota and rate limits for the engine to retry, and they are retriable', async () => {
    for (const error of [fetchError('ECONNREFUSED'), apiError(503, 'backendError', 'x'), apiError(403, 'quotaExceeded', 'x'), apiError(403, 'rateLimitExceeded', 'x'), apiError(500, 'backendError', 'x')]) {
      const api = new FakeBigQuery()
      api.failing = error
      const s = sink(api)
      await expect(s.write(records(3), context)).rejects.toBe(error)
      expect(s.isRetriable(error)).toBe(true)
    }
  })

  it('rejects rows refused per row (invalid) with BigQuery\'s reason; the rest of the batch lands', async () => {
    const api = new FakeBigQuery()
    api.invalidIds = new Set(['e-3', 'e-250'])
    const result = await sink(api).write(records(600), context)
    expect(result.rejected.map((r) => r.record.value.eventId)).toEqual(['e-3', 'e-250'])
    expect(result.rejected[0]).toMatchObject({errorClass: 'sink', message: 'BigQuery refused the row: invalid: Cannot convert value to integer (bad value): e-3'})
    expect(result.inserted).toBe(598)
    expect(api.rows).toHaveLength(598)
    expect(api.requests).toHaveLength(2) // no bisection for per-row answers
  })

  it('sends rows reported stopped again, alone', async () => {
    const api = new FakeBigQuery()
    api.stopOnce = new Set(['e-1', 'e-2'])
    const result = await sink(api).write(records(10), context)
    expect(result).toEqual({rejected: [], inserted: 10})
    expect(api.requests.map((r) => r.map((row) => row.json.event_id))).toEqual([records(10).map((r) => r.value.eventId), ['e-1', 'e-2']])
    expect(api.rows).toHaveLength(10)
  })

  it('isolates a row the emulator fails the whole request for (HTTP 500), by bisection, once insertAll shows it answers', async () => {
    const api = new FakeBigQuery()
    api.wrongTypeIds = new Set(['e-137'])
    const result = await sink(api).write(records(500), context)
    expect(result.rejected.map((r) => r.record.value.eventId)).toEqual(['e-137'])
    expect(result.rejected[0]!.message).toMatch(/^BigQuery refused the row: HTTP 500 internalError: strconv\.ParseInt/)
    expect(result.inserted).toBe(499)
    expect(api.rows).toHaveLength(499)
    expect(api.requests.length).toBeLessThan(30) // log2 splits, not a request per row
    expect(api.controlInserts).toBeGreaterThan(0)
  })

  it('isolates such a row even when it is the only one of its batch, on a fresh worker', async () => {
    const api = new FakeBigQuery()
    api.wrongTypeIds = new Set(['e-0'])
    const result = await sink(api).write(records(1), context)
    expect(result.rejected.map((r) => r.record.value.eventId)).toEqual(['e-0'])
    expect(api.requests).toHaveLength(2) // tried twice alone
  })

  it('never dead-letters on a 500 that insertAll gives for every request (an outage): it throws for the engine', async () => {
    const api = new FakeBigQuery()
    const outage = apiError(500, 'internalError', 'An internal error occurred and the request could not be completed.')
    api.failing = outage // the control row gets a 500 too
    const s = sink(api)
    await expect(s.write(records(500), context)).rejects.toBe(outage)
    expect(api.requests).toHaveLength(1) // no bisection: the control insert said BigQuery is failing
    expect(s.isRetriable(outage)).toBe(true)
  })

  it('never dead-letters a row whose failure turns out to be an outage by the time it is alone', async () => {
    const api = new FakeBigQuery()
    api.wrongTypeIds = new Set(['e-7']) // the last row: confirmation is the last step of the batch
    const s = sink(api)
    const original = api.insert.bind(api)
    let aloneTries = 0
    let controlsSince = 0
    api.insert = async (rows) => {
      const ids = rows.map((r) => (r.json as {event_id?: string}).event_id)
      // insertAll breaks down for everything after the row's second lone try was blamed on it:
      // only the final confirmation can notice.
      if (aloneTries >= 2 && ids[0] === undefined && controlsSince++ >= 1) throw apiError(500, 'internalError', 'An internal error occurred')
      if (ids.length === 1 && ids[0] === 'e-7') aloneTries++
      return original(rows)
    }
    const error = await s.write(records(8), context).catch((e: unknown) => e)
    expect(aloneTries).toBe(2)
    expect(controlsSince).toBe(2)
    expect(error).toMatchObject({code: 500})
    // The control insert then fails too: nothing is rejected, the engine retries.
    expect(api.ids().sort()).toEqual(['e-0', 'e-1', 'e-2', 'e-3', 'e-4', 'e-5', 'e-6'])
  })

  it('on an engine retry after a failure midway, sends only what BigQuery did not take, and rejects what it refused', async () => {
    const api = new FakeBigQuery()
    api.invalidIds = new Set(['e-10'])
    const s = sink(api, {maxRows: 100})
    const batch = records(300)
    const original = api.insert.bind(api)
    let calls = 0
    api.insert = async (rows) => {
      if (++calls === 3) throw fetchError('ECONNRESET') // the third request: 200 taken, 100 not
      return original(rows)
    }
    await expect(s.write(batch, context)).rejects.toMatchObject({code: 'ECONNRESET'})
    const again = await s.write(batch, context) // the engine retries with the same records
    expect(again.rejected.map((r) => r.record.value.eventId)).toEqual(['e-10'])
    expect(again.inserted).toBe(100)
    expect(api.rows).toHaveLength(299)
    expect(new Set(api.ids()).size).toBe(299)
  })

  it('rejects an event whose time BigQuery cannot store without sending it', async () => {
    const api = new FakeBigQuery()
    const result = await sink(api).write([record(1), record(2, {occurredAt: '9999-12-31T23:59:59-05:00'})], context)
    expect(result.rejected).toMatchObject([{errorClass: 'sink', message: expect.stringMatching(/^BigQuery cannot store the event: occurredAt .* is outside BigQuery's TIMESTAMP range/)}])
    expect(api.ids()).toEqual(['e-1'])
  })

  it('makes the table again when it went away (404), then throws for a retry', async () => {
    const api = new FakeBigQuery()
    const gone = apiError(404, 'notFound', 'Not found: Table local:analytics.events')
    api.failFirst = {n: 1, error: gone}
    const s = sink(api)
    await expect(s.write(records(2), context)).rejects.toBe(gone)
    expect(api.ensures).toBe(1)
    expect(s.isRetriable(gone)).toBe(true)
    expect(await s.write(records(2), context)).toEqual({rejected: [], inserted: 2})
  })

  it('stops the worker on refused credentials or permissions (not retriable, exit 3)', async () => {
    const api = new FakeBigQuery()
    api.failing = apiError(403, 'accessDenied', 'Access Denied: Table local:analytics.events: Permission bigquery.tables.updateData denied')
    const s = sink(api)
    const error = await s.write(records(2), context).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DependencyError)
    expect((error as KpipeError).exitCode).toBe(3)
    expect((error as Error).message).toMatch(/BigQuery refused kpipe's credentials or permissions/)
    expect(s.isRetriable(error)).toBe(false)
    expect(s.isRetriable(new TypeError('bug'))).toBe(false)
  })

  it('probes the table for /readyz', async () => {
    const api = new FakeBigQuery()
    await expect(sink(api).probe()).resolves.toBeUndefined()
    api.probeFails = true
    await expect(sink(api).probe()).rejects.toMatchObject({code: 'ECONNREFUSED'})
  })
})
