/**
 * Done when #3: PostgreSQL stopped for 20 seconds mid-run, and Redis stopped mid-run: nothing is
 * lost, the worker recovers by itself, and its metrics show what happened.
 *
 * These stop the stack's shared PostgreSQL and Redis: other suites running at the same moment
 * see the outage too (vitest runs integration files one at a time).
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type pg from 'pg'
import type {Redis} from 'ioredis'

import {
  createTopics,
  deleteProjections,
  deleteRows,
  deleteTopics,
  eventMessage,
  expectProjectionsMatch,
  freePort,
  makeEvents,
  pgPool,
  produce,
  redisClient,
  rowCounts,
  scrapeMetric,
  sleep,
  stack,
  startWorker,
  stopPostgres,
  stopRedis,
  uniqueName,
  waitUntil,
} from './helpers.js'

const EVENTS = 60_000
const PG_OUTAGE_MS = Number(process.env.KPIPE_TEST_PG_OUTAGE_MS ?? 20_000)

describe('worker events: dependency outages', () => {
  let pool: pg.Pool
  let redis: Redis
  const topics: string[] = []

  beforeAll(async () => {
    pool = await pgPool()
    redis = redisClient()
    redis.on('error', () => undefined)
  })

  afterAll(async () => {
    await stack('up') // whatever happened, leave the stack running
    const cleanupPool = await pgPool()
    const cleanupRedis = redisClient()
    for (const topic of topics) {
      await deleteRows(cleanupPool, topic)
      await deleteProjections(cleanupRedis, topic)
      await deleteTopics(topic)
    }
    await cleanupPool.end()
    cleanupRedis.disconnect()
    await pool.end().catch(() => undefined)
    redis.disconnect()
  })

  /** A fresh topic of EVENTS events and a worker draining it slowly enough to break something mid-run. */
  async function startSlowDrain() {
    const topic = uniqueName()
    topics.push(topic)
    await createTopics(topic, 6)
    const events = makeEvents(EVENTS, topic)
    await produce(topic, events.map(eventMessage))
    const port = await freePort()
    // Small batches, one partition at a time: the run lasts long enough to stop a dependency in it.
    const worker = startWorker(['--topic', topic, '--group', `${topic}-g`, '--from-beginning', '--metrics-port', String(port), '--batch-size', '200', '--concurrency', '1', '--stop-when-caught-up', '--json'])
    return {topic, events, port, worker}
  }

  it('PostgreSQL down for 20 s: pauses, commits nothing, resumes by itself, loses nothing', async () => {
    const {topic, port, worker} = await startSlowDrain()
    await waitUntil(async () => (await rowCounts(pool, topic)).rows > 2000, 60_000, 'the first rows')
    await pool.end()
    await stopPostgres()
    const stoppedAt = Date.now()
    await waitUntil(async () => (await scrapeMetric(port, 'kpipe_worker_sink_up')) === 0, 15_000, 'sink_up to drop to 0')
    const committedDuringOutage = await scrapeMetric(port, 'kpipe_worker_offset_commits_total')
    await sleep(Math.max(0, PG_OUTAGE_MS - (Date.now() - stoppedAt)))
    expect(await scrapeMetric(port, 'kpipe_worker_offset_commits_total')).toBe(committedDuringOutage) // nothing committed while down
    expect(await scrapeMetric(port, 'kpipe_worker_sink_failures_total')).toBeGreaterThan(0)
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`)
    expect(ready.status).toBe(503)
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200)
    await stack('up')

    const {code} = await worker.exited
    expect(code, worker.stderr().slice(-3000)).toBe(0)
    pool = await pgPool()
    expect(await rowCounts(pool, topic)).toEqual({rows: EVENTS, distinct: EVENTS})
    const summary = JSON.parse(worker.stdout()) as {consumed: number; sinkRetries: number}
    expect(summary.sinkRetries).toBeGreaterThan(0)
    expect(worker.stderr()).toMatch(/sink write failed; retrying without committing/)
    expect(worker.stderr()).toMatch(/sink write succeeded after retries/)
  })

  it('Redis down mid-run (its data lost): PostgreSQL keeps going, projections are rebuilt when it is back', async () => {
    const {topic, events, port, worker} = await startSlowDrain()
    await waitUntil(async () => (await rowCounts(pool, topic)).rows > 2000, 60_000, 'the first rows')
    const rowsAtStop = (await rowCounts(pool, topic)).rows
    await stopRedis()
    // PostgreSQL keeps filling while Redis is away, and the worker says its projections are stale.
    await waitUntil(async () => (await scrapeMetric(port, 'kpipe_worker_redis_projections_stale')) === 1, 15_000, 'the stale gauge')
    await waitUntil(async () => (await rowCounts(pool, topic)).rows > rowsAtStop + 2000, 30_000, 'rows written while Redis is down')
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200) // Redis is a cache: still ready
    await stack('up')

    const {code} = await worker.exited
    expect(code, worker.stderr().slice(-3000)).toBe(0)
    expect(await rowCounts(pool, topic)).toEqual({rows: EVENTS, distinct: EVENTS})
    const summary = JSON.parse(worker.stdout()) as {projectionsStale: boolean}
    expect(summary.projectionsStale).toBe(false)
    expect(worker.stderr()).toMatch(/Redis projections are stale/)
    expect(worker.stderr()).toMatch(/rebuilt Redis projections from PostgreSQL|caught up Redis projections/)
    const fresh = redisClient()
    try {
      await expectProjectionsMatch(fresh, events)
    } finally {
      fresh.disconnect()
    }
  })
})
