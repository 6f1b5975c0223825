/**
 * Redis unreachable (but keeping its data) while the worker writes and commits, then the worker
 * is killed before Redis answers again: the projections it could not apply must still be caught
 * up by the next worker, from what PostgreSQL remembers (pipeline.projection_backlog), without
 * a `kpipe cache rebuild`.
 *
 * A Redis and a database of the test's own: no other test's worker can rebuild these
 * projections or clear this backlog, which would hide what is checked here.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type pg from 'pg'
import type {Redis} from 'ioredis'

import {SENTINEL_KEY} from '../../../src/lib/redis/projections.js'
import {createPrivateDatabase, startPrivateRedis, type PrivateDatabase, type PrivateRedis} from '../../helpers/services.js'
import {
  committedTotal,
  createTopics,
  deleteTopics,
  eventMessage,
  expectProjectionsMatch,
  makeEvents,
  pgPool,
  produce,
  redisProxy,
  rowCounts,
  scrapeMetric,
  startServingWorker,
  startWorker,
  uniqueName,
  waitUntil,
  type TcpProxy,
  HEAVY_TEST_TIMEOUT_MS,
  PATIENCE_MS,
} from './helpers.js'

const BEFORE = 5_000
const DURING = 15_000

describe('worker events: projection staleness survives a crash', () => {
  const topic = uniqueName()
  const group = `${topic}-g`
  let database: PrivateDatabase
  let redisServer: PrivateRedis
  let pool: pg.Pool
  let redis: Redis
  let proxy: TcpProxy

  beforeAll(async () => {
    ;[database, redisServer] = await Promise.all([createPrivateDatabase(), startPrivateRedis()])
    pool = await pgPool(database.url)
    redis = redisServer.client()
    proxy = await redisProxy(redisServer.url)
    await createTopics(topic, 6)
  })

  afterAll(async () => {
    await proxy?.dispose()
    redis?.disconnect()
    await pool?.end()
    await deleteTopics(topic)
    await database?.drop()
    await redisServer?.dispose()
  })

  const backlogRows = async () =>
    (await pool.query<{n: number}>('SELECT count(*)::int AS n FROM pipeline.projection_backlog WHERE kafka_topic = $1', [topic])).rows[0]!.n

  it('a worker killed while Redis was unreachable leaves the catch-up to the next one', {timeout: HEAVY_TEST_TIMEOUT_MS}, async () => {
    const events = makeEvents(BEFORE + DURING, topic, {entities: 500})
    const args = ['--topic', topic, '--group', group, '--from-beginning', '--batch-size', '500', '--session-timeout', '6s']
    const env = {KPIPE_PG_URL: database.url, KPIPE_REDIS_URL: proxy.url}

    const first = await startServingWorker(args, env)
    // Its Redis starts empty: it marks the projections complete (rebuilt from an empty table)
    // before any event exists, so a full rebuild later could only come from a lost sentinel.
    await first.waitForLog(/rebuilt Redis projections from PostgreSQL/)
    expect(await redis.exists(SENTINEL_KEY)).toBe(1)
    await produce(topic, events.slice(0, BEFORE).map(eventMessage))
    await waitUntil(async () => (await committedTotal(group, topic)) === BEFORE, PATIENCE_MS, 'the first events to be committed')

    proxy.cut()
    await produce(topic, events.slice(BEFORE).map(eventMessage))
    // PostgreSQL takes everything and the offsets are committed while Redis cannot be reached,
    // and what Redis missed is recorded in PostgreSQL before those offsets are committed.
    await waitUntil(async () => (await committedTotal(group, topic)) === BEFORE + DURING, PATIENCE_MS, 'every event to be committed')
    expect(await rowCounts(pool, topic)).toEqual({rows: BEFORE + DURING, distinct: BEFORE + DURING})
    expect(await scrapeMetric(first.port, 'kpipe_worker_redis_projections_stale')).toBe(1)
    expect(await backlogRows()).toBeGreaterThan(0)
    first.child.kill('SIGKILL')
    await first.exited
    // Killed, it did not clean up: the backlog is still there for the next worker.
    expect(await backlogRows()).toBeGreaterThan(0)

    proxy.heal()
    const second = startWorker([...args, '--metrics-port', '0', '--stop-when-caught-up', '--json'], env)
    const {code} = await second.exited
    expect(code, second.stderr().slice(-3000)).toBe(0)
    const summary = JSON.parse(second.stdout()) as {consumed: number; projectionsStale: boolean}
    expect(summary.consumed).toBe(0) // nothing redelivered: only PostgreSQL knew what Redis missed
    expect(summary.projectionsStale).toBe(false)
    expect(second.stderr()).toMatch(/PostgreSQL holds Redis projection updates that an earlier worker could not apply/)
    expect(second.stderr()).toMatch(/caught up Redis projections from PostgreSQL/)
    expect(second.stderr()).not.toMatch(/rebuilding them from PostgreSQL/)
    await expectProjectionsMatch(redis, events)
    expect(await backlogRows()).toBe(0)
  })
})
