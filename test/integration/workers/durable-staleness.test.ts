/**
 * Redis unreachable (but keeping its data) while the worker writes and commits, then the worker
 * is killed before Redis answers again: the projections it could not apply must still be caught
 * up by the next worker, from what PostgreSQL remembers (pipeline.projection_backlog), without
 * a `kpipe cache rebuild`.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type pg from 'pg'
import type {Redis} from 'ioredis'

import {SENTINEL_KEY} from '../../../src/lib/redis/projections.js'
import {
  committedTotal,
  createTopics,
  deleteProjections,
  deleteRows,
  deleteTopics,
  eventMessage,
  expectProjectionsMatch,
  makeEvents,
  pgPool,
  produce,
  redisClient,
  redisProxy,
  rowCounts,
  scrapeMetric,
  freePort,
  startWorker,
  uniqueName,
  waitUntil,
  type TcpProxy,
} from './helpers.js'

const BEFORE = 5_000
const DURING = 15_000

describe('worker events: projection staleness survives a crash', () => {
  const topic = uniqueName()
  const group = `${topic}-g`
  let pool: pg.Pool
  let redis: Redis
  let proxy: TcpProxy

  beforeAll(async () => {
    pool = await pgPool()
    redis = redisClient()
    proxy = await redisProxy()
    await createTopics(topic, 6)
    // Without the sentinel any worker rebuilds every projection at start-up, which would hide
    // what this test checks; with it, a worker catches up only what it knows it missed.
    await redis.set(SENTINEL_KEY, new Date().toISOString(), 'NX')
  })

  afterAll(async () => {
    await proxy.dispose()
    await deleteRows(pool, topic)
    await pool.query('DELETE FROM pipeline.projection_backlog WHERE kafka_topic = $1', [topic]).catch(() => undefined)
    await deleteProjections(redis, topic)
    await deleteTopics(topic)
    await pool.end()
    redis.disconnect()
  })

  it('a worker killed while Redis was unreachable leaves the catch-up to the next one', async () => {
    const events = makeEvents(BEFORE + DURING, topic, {entities: 500})
    const args = ['--topic', topic, '--group', group, '--from-beginning', '--batch-size', '500', '--session-timeout', '6s']
    const env = {KPIPE_REDIS_URL: proxy.url}

    await produce(topic, events.slice(0, BEFORE).map(eventMessage))
    const port = await freePort()
    const first = startWorker([...args, '--metrics-port', String(port)], env)
    await waitUntil(async () => (await committedTotal(group, topic)) === BEFORE, 60_000, 'the first events to be committed')

    await proxy.close()
    await produce(topic, events.slice(BEFORE).map(eventMessage))
    // PostgreSQL takes everything and the offsets are committed while Redis cannot be reached.
    await waitUntil(async () => (await committedTotal(group, topic)) === BEFORE + DURING, 60_000, 'every event to be committed')
    expect(await rowCounts(pool, topic)).toEqual({rows: BEFORE + DURING, distinct: BEFORE + DURING})
    expect(await scrapeMetric(port, 'kpipe_worker_redis_projections_stale')).toBe(1)
    first.child.kill('SIGKILL')
    expect((await first.exited).signal).toBe('SIGKILL')

    await proxy.open()
    const second = startWorker([...args, '--metrics-port', '0', '--stop-when-caught-up', '--json'], env)
    const {code} = await second.exited
    expect(code, second.stderr().slice(-3000)).toBe(0)
    const summary = JSON.parse(second.stdout()) as {consumed: number; projectionsStale: boolean}
    expect(summary.consumed).toBe(0) // nothing redelivered: only PostgreSQL knew what Redis missed
    expect(summary.projectionsStale).toBe(false)
    await expectProjectionsMatch(redis, events)
    const {rows} = await pool.query('SELECT count(*)::int AS n FROM pipeline.projection_backlog WHERE kafka_topic = $1', [topic])
    expect(rows[0].n).toBe(0)
  })
})
