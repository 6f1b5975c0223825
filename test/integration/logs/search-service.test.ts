/**
 * Searching and following pipeline.logs against the stack's PostgreSQL, in a schema of its own
 * (made by the real migrations, dropped after).
 */
import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {defaultConfig} from '../../../src/lib/config.js'
import type {LogRow} from '../../../src/lib/logs/log-line.js'
import {followLogs, searchLogs, type FollowLogsResult} from '../../../src/lib/logs/search-service.js'
import type {FoundLog} from '../../../src/lib/logs/search-query.js'
import {LogsWriter} from '../../../src/lib/postgres/logs-store.js'
import {migrate} from '../../../src/lib/postgres/migrations.js'
import {createPgPool} from '../../../src/lib/postgres/pool.js'

const url = process.env.KPIPE_PG_URL ?? defaultConfig().postgres.url
const pool = createPgPool({url}, {max: 4})
const schema = `kpipe_test_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
const writer = new LogsWriter(pool, {schema})

const T0 = Date.UTC(2024, 4, 1, 12)
let offset = 0
function row(overrides: Partial<LogRow> = {}): LogRow {
  return {
    tsMs: T0,
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
const since = new Date(T0 - 3_600_000)
const messages = (found: FoundLog[]) => found.map((f) => f.record.message)
const search = (options: Partial<Parameters<typeof searchLogs>[1]> = {}) => searchLogs(pool, {since, limit: 100, schema, ...options}).then(messages)

beforeAll(async () => {
  const client = await pool.connect()
  try {
    await migrate(client, {schema})
  } finally {
    client.release()
  }
})
beforeEach(async () => {
  await pool.query(`TRUNCATE "${schema}".logs`)
})
afterAll(async () => {
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  await pool.end()
})

describe('searchLogs', () => {
  beforeEach(async () => {
    await writer.write([
      row({tsMs: T0 - 7_200_000, message: 'too old'}),
      row({tsMs: T0 - 60_000, service: 'api', level: 'debug', message: 'cache miss for user 7'}),
      row({tsMs: T0 - 50_000, service: 'billing', level: 'warn', message: 'Payment GATEWAY slow', correlationId: 'req-1', attrs: {status: 504, user: 'u1'}}),
      row({tsMs: T0 - 40_000, service: 'api', level: 'error', message: 'disk 100% full', correlationId: 'req-1', attrs: {status: '500'}}),
      row({tsMs: T0 - 30_000, service: 'auth', level: 'fatal', message: 'out of memory: a_b', attrs: {user: 'u1', cached: true}}),
      row({tsMs: T0 - 20_000, service: 'api', level: 'info', message: 'request done in 100ms', correlationId: 'req-2'}),
      row({tsMs: T0 + DAY, service: 'api', level: 'info', message: 'next day'}),
    ])
  })
  const DAY = 86_400_000

  it('returns the lines since a time, newest last, across day partitions', async () => {
    expect(await search()).toEqual([
      'cache miss for user 7',
      'Payment GATEWAY slow',
      'disk 100% full',
      'out of memory: a_b',
      'request done in 100ms',
      'next day',
    ])
    expect(await search({until: new Date(T0)})).toHaveLength(5)
    expect(await search({since: new Date(T0 - 40_000), until: new Date(T0 - 20_000)})).toEqual(['disk 100% full', 'out of memory: a_b'])
  })

  it('keeps the newest `limit` lines, still newest last', async () => {
    expect(await search({limit: 2})).toEqual(['request done in 100ms', 'next day'])
  })

  it('filters by service, level and worse, and correlation id', async () => {
    expect(await search({services: ['billing', 'auth']})).toEqual(['Payment GATEWAY slow', 'out of memory: a_b'])
    expect(await search({minLevel: 'warn'})).toEqual(['Payment GATEWAY slow', 'disk 100% full', 'out of memory: a_b'])
    expect(await search({minLevel: 'error', services: ['api']})).toEqual(['disk 100% full'])
    expect(await search({correlationId: 'req-1'})).toEqual(['Payment GATEWAY slow', 'disk 100% full'])
  })

  it('greps case-insensitively, with % and _ as plain characters', async () => {
    expect(await search({grep: 'gateway'})).toEqual(['Payment GATEWAY slow'])
    expect(await search({grep: '100%'})).toEqual(['disk 100% full'])
    expect(await search({grep: 'a_b'})).toEqual(['out of memory: a_b'])
    expect(await search({grep: 'a_c'})).toEqual([])
  })

  it('matches attributes as attrs ->> k = v, numbers and booleans in either form', async () => {
    expect(await search({attrs: {user: 'u1'}})).toEqual(['Payment GATEWAY slow', 'out of memory: a_b'])
    expect(await search({attrs: {status: '504'}})).toEqual(['Payment GATEWAY slow'])
    expect(await search({attrs: {status: '500'}})).toEqual(['disk 100% full'])
    expect(await search({attrs: {user: 'u1', cached: 'true'}})).toEqual(['out of memory: a_b'])
    expect(await search({attrs: {user: 'u2'}})).toEqual([])
  })

  it('returns the --json fields', async () => {
    const [found] = await searchLogs(pool, {since, limit: 1, schema, correlationId: 'req-2'})
    expect(found!.record).toEqual({
      ts: new Date(T0 - 20_000).toISOString(),
      level: 'info',
      service: 'api',
      message: 'request done in 100ms',
      correlationId: 'req-2',
      attrs: {},
      kafkaTopic: 'logs',
      kafkaPartition: 0,
      kafkaOffset: expect.stringMatching(/^\d+$/),
    })
    expect(found!.cursor.ts).toBe(new Date(T0 - 20_000).toISOString().replace('Z', '000Z'))
  })
})

describe('followLogs', () => {
  /** Starts a follow of service `service` and returns what it shows as it shows it. */
  function follow(service: string, options: {pageSize?: number; limit?: number} = {}) {
    const shown: FoundLog[] = []
    const controller = new AbortController()
    const done: Promise<FollowLogsResult> = followLogs(pool, {
      since,
      limit: options.limit ?? 100,
      services: [service],
      schema,
      intervalMs: 50,
      pageSize: options.pageSize,
      signal: controller.signal,
      onLogs: (logs) => shown.push(...logs),
    })
    const until = async (predicate: () => boolean) => {
      const deadline = Date.now() + 20_000
      while (!predicate()) {
        if (Date.now() > deadline) throw new Error(`not shown in time; shown: ${JSON.stringify(messages(shown))}`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    }
    const untilShown = (message: string) => until(() => messages(shown).includes(message))
    const stop = async () => {
      controller.abort()
      return done
    }
    return {shown, untilShown, stop}
  }

  it('shows the newest lines, then each new line once, in order, until aborted', async () => {
    await writer.write([row({service: 'f1', message: 'old 1', tsMs: T0 - 2000}), row({service: 'f1', message: 'old 2', tsMs: T0 - 1000})])
    const f = follow('f1', {limit: 1})
    await f.untilShown('old 2')
    await writer.write([row({service: 'f1', message: 'new 1', tsMs: T0}), row({service: 'other', message: 'not mine', tsMs: T0})])
    await f.untilShown('new 1')
    await writer.write([row({service: 'f1', message: 'new 2', tsMs: T0 + 1000})])
    // Several polls have run since "new 1" was first shown: any repeat would be in by now.
    await f.untilShown('new 2')
    expect(await f.stop()).toEqual({shown: 3, late: 0})
    expect(messages(f.shown)).toEqual(['old 2', 'new 1', 'new 2'])
  })

  it('shows a line that arrives with an older ts than one already shown, once', async () => {
    await writer.write([row({service: 'f2', message: 'first', tsMs: T0})])
    const f = follow('f2')
    await f.untilShown('first')
    await writer.write([row({service: 'f2', message: 'newer', tsMs: T0 + 5000})])
    await f.untilShown('newer')
    // From a lagging partition: older than "newer", written after it was shown.
    await writer.write([row({service: 'f2', message: 'late', tsMs: T0 + 1000, kafkaPartition: 2})])
    await f.untilShown('late')
    await writer.write([row({service: 'f2', message: 'sentinel', tsMs: T0 + 6000})])
    await f.untilShown('sentinel')
    expect(await f.stop()).toEqual({shown: 4, late: 1})
    expect(messages(f.shown)).toEqual(['first', 'newer', 'late', 'sentinel'])
  })

  it('starts from nothing, and pages through a burst larger than a page without skipping or repeating', async () => {
    const f = follow('f3', {pageSize: 3})
    // Same ts for all: the Kafka position orders them.
    const burst = Array.from({length: 10}, (_, i) => row({service: 'f3', message: `burst ${i}`, tsMs: T0, kafkaPartition: i % 2}))
    await writer.write(burst)
    await f.untilShown('burst 9')
    const late = Array.from({length: 7}, (_, i) => row({service: 'f3', message: `late ${i}`, tsMs: T0 - 1000 - i, kafkaPartition: 1}))
    await writer.write(late)
    await f.untilShown('late 0')
    await writer.write([row({service: 'f3', message: 'sentinel', tsMs: T0 + 1})])
    await f.untilShown('sentinel')
    const result = await f.stop()
    const shown = messages(f.shown)
    expect(new Set(shown).size).toBe(shown.length)
    expect(result).toEqual({shown: 18, late: 7})
    expect(shown.slice(0, 10).sort()).toEqual(burst.map((r) => r.message).sort())
    // Within the burst, position order: partition 0 before partition 1 at the same ts.
    expect(f.shown.slice(0, 10).map((s) => s.record.kafkaPartition)).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    expect(shown.slice(10, 17).sort()).toEqual(late.map((r) => r.message).sort())
    expect(shown[17]).toBe('sentinel')
  })
})
