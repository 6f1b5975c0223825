/**
 * `kpipe cache rebuild` end to end: the projections a worker made are deleted, rebuilt from
 * PostgreSQL and come back identical; --no-flush merges into what Redis holds; the projection
 * backlog is cleared.
 *
 * A rebuild reads the whole of pipeline.events and (without --no-flush) deletes every projection
 * key, and it clears the whole backlog: run against the shared stack it would rebuild other
 * tests' projections under them and erase the backlog another test relies on. So it runs
 * against a database and a Redis of this file's own.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type pg from 'pg'
import type {Redis} from 'ioredis'

import {json, runCli} from '../helpers/cli.js'
import {createPrivateDatabase, startPrivateRedis, type PrivateDatabase, type PrivateRedis} from '../helpers/services.js'
import {createTopics, deleteTopics, eventMessage, makeEvents, pgPool, produce, uniqueName, type TestEvent} from '../integration/workers/helpers.js'

interface RebuildJson {
  flushedKeys: number
  events: number
  countBuckets: number
}

const SENTINEL = 'kpipe:projections:complete'

/** Every projection key of a Redis with its content (counts as PFCOUNT, indexes with scores). */
async function snapshot(redis: Redis): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {}
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', 'kpipe:*', 'COUNT', 1000)
    cursor = next
    for (const key of keys) {
      if (key === SENTINEL) continue // a timestamp of when it was set
      if (key.startsWith('kpipe:entity:')) out[key] = await redis.hgetall(key)
      else if (key.startsWith('kpipe:counts:')) out[key] = await redis.pfcount(key)
      else if (key.startsWith('kpipe:count-buckets:')) out[key] = await redis.zrange(key, 0, -1, 'WITHSCORES')
      else out[key] = await redis.type(key)
    }
  } while (cursor !== '0')
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)))
}

describe('kpipe cache rebuild', () => {
  const topic = uniqueName('e2e-rebuild')
  let database: PrivateDatabase
  let redisServer: PrivateRedis
  let redis: Redis
  let pool: pg.Pool
  let env: Record<string, string>
  let events: TestEvent[]
  let made: Record<string, unknown>

  beforeAll(async () => {
    ;[database, redisServer] = await Promise.all([createPrivateDatabase(), startPrivateRedis()])
    env = {KPIPE_PG_URL: database.url, KPIPE_REDIS_URL: redisServer.url}
    redis = redisServer.client()
    const migrated = await runCli(['db', 'migrate'], {env})
    expect(migrated.code, migrated.stderr).toBe(0)
    pool = await pgPool(database.url)
    await createTopics(topic, 3)
    // Payload keys out of order and times with an offset: PostgreSQL gives both back differently
    // (jsonb reorders keys, timestamptz is UTC), and the rebuild must still write the same bytes.
    events = makeEvents(3000, topic, {entities: 40}).map((event, i) => ({
      ...event,
      occurredAt: new Date(Date.parse(event.occurredAt) + 3_600_000).toISOString().replace('Z', '+01:00'),
      payload: {zeta: i, alpha: {y: 1, b: [2, {d: 3, c: 4}]}, note: 'x'},
    }))
    await produce(topic, events.map(eventMessage))
    const worker = await runCli(['worker', 'events', '--topic', topic, '--group', `${topic}-g`, '--from-beginning', '--stop-when-caught-up', '--metrics-port', '0', '--json'], {env})
    expect(worker.code, worker.stderr.slice(-2000)).toBe(0)
    expect(json(worker)).toMatchObject({written: 3000, projectionsStale: false})
    made = await snapshot(redis)
  })

  afterAll(async () => {
    redis?.disconnect()
    await pool?.end()
    await deleteTopics(topic)
    await database?.drop()
    await redisServer?.dispose()
  })

  const backlogRows = async () => (await pool.query<{n: number}>('SELECT count(*)::int AS n FROM pipeline.projection_backlog')).rows[0]!.n

  it('rebuilds, from PostgreSQL alone, exactly the projections the worker made; clears the backlog', async () => {
    expect(Object.keys(made).filter((k) => k.startsWith('kpipe:entity:'))).toHaveLength(40)
    expect(Object.keys(made).some((k) => k.startsWith('kpipe:counts:'))).toBe(true)
    await redis.flushall() // this Redis is the test's own
    await pool.query('INSERT INTO pipeline.projection_backlog (kafka_topic, kafka_partition, from_offset, to_offset) VALUES ($1, 0, 0, 9), ($1, 1, 5, 7)', [topic])

    const result = await runCli(['cache', 'rebuild', '--json'], {env})
    expect(result.code, result.stderr).toBe(0)
    expect(json<RebuildJson>(result)).toMatchObject({events: 3000, flushedKeys: 0})
    expect(await snapshot(redis)).toEqual(made)
    expect(await redis.exists(SENTINEL)).toBe(1)
    expect(await backlogRows()).toBe(0)
  })

  it('deletes keys PostgreSQL does not back; with --no-flush merges into them instead', async () => {
    const orphan = `kpipe:entity:${topic}-orphan`
    await redis.hset(orphan, {eventId: 'not-in-postgres', occurredAtMs: '1'})

    const merged = await runCli(['cache', 'rebuild', '--no-flush', '--json'], {env})
    expect(merged.code, merged.stderr).toBe(0)
    expect(json<RebuildJson>(merged)).toMatchObject({events: 3000, flushedKeys: 0})
    expect(await redis.hget(orphan, 'eventId')).toBe('not-in-postgres')
    const {[orphan]: kept, ...rest} = await snapshot(redis)
    expect(kept).toBeDefined()
    expect(rest).toEqual(made)

    const flushed = await runCli(['cache', 'rebuild', '--json'], {env})
    expect(flushed.code, flushed.stderr).toBe(0)
    expect(json<RebuildJson>(flushed).flushedKeys).toBeGreaterThan(Object.keys(made).length)
    expect(await redis.exists(orphan)).toBe(0)
    expect(await snapshot(redis)).toEqual(made)
  })

  it('says what it did in words without --json', async () => {
    const result = await runCli(['cache', 'rebuild'], {env})
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/^Rebuilt the Redis projections from 3000 events: \d+ per-minute count buckets; \d+ old keys deleted first/)
  })
})
