/**
 * Done when #3: PostgreSQL stopped for 20 seconds mid-run, and Redis stopped mid-run: nothing is
 * lost, the worker recovers by itself, and its metrics show what happened.
 *
 * Each test runs its worker against a PostgreSQL cluster and a Redis of its own
 * (test/helpers/services.ts), so stopping them touches no other test. The events come in two
 * halves: the second is produced only once the dependency is down, so the outage always falls
 * in the middle of the run, however fast or slow the machine drains.
 */
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import type pg from 'pg'
import type {Redis} from 'ioredis'

import {startPrivatePostgres, startPrivateRedis, type PrivatePostgres, type PrivateRedis} from '../../helpers/services.js'
import {
  committedTotal,
  createTopics,
  deleteTopics,
  eventMessage,
  expectProjectionsMatch,
  makeEvents,
  pgPool,
  produce,
  rowCounts,
  scrapeMetric,
  sleep,
  startServingWorker,
  uniqueName,
  waitUntil,
  type ServingWorker,
  type TestEvent,
  HEAVY_TEST_TIMEOUT_MS,
  PATIENCE_MS,
} from './helpers.js'

const HALF = 20_000
const PG_OUTAGE_MS = Number(process.env.KPIPE_TEST_PG_OUTAGE_MS ?? 20_000)

describe('worker events: dependency outages', () => {
  let postgres: PrivatePostgres
  let redisServer: PrivateRedis
  let pool: pg.Pool | undefined
  let redis: Redis | undefined
  let topic: string

  beforeEach(async () => {
    ;[postgres, redisServer] = await Promise.all([startPrivatePostgres(), startPrivateRedis()])
    topic = uniqueName()
    await createTopics(topic, 6)
  })

  afterEach(async () => {
    redis?.disconnect()
    await pool?.end().catch(() => undefined)
    pool = undefined
    redis = undefined
    await deleteTopics(topic)
    await Promise.all([postgres.dispose(), redisServer.dispose()])
  })

  /** The first half produced, written and committed by a worker that keeps running. */
  async function firstHalfDrained(): Promise<{events: TestEvent[]; worker: ServingWorker; group: string}> {
    pool = await pgPool(postgres.url)
    const events = makeEvents(2 * HALF, topic)
    const group = `${topic}-g`
    await produce(topic, events.slice(0, HALF).map(eventMessage))
    const worker = await startServingWorker(['--topic', topic, '--group', group, '--from-beginning', '--batch-size', '500', '--json'], {
      KPIPE_PG_URL: postgres.url,
      KPIPE_REDIS_URL: redisServer.url,
    })
    await waitUntil(async () => (await committedTotal(group, topic)) === HALF, PATIENCE_MS, 'the first half to be committed')
    return {events, worker, group}
  }

  it('PostgreSQL down for 20 s: pauses, commits nothing, resumes by itself, loses nothing', {timeout: HEAVY_TEST_TIMEOUT_MS}, async () => {
    const {events, worker, group} = await firstHalfDrained()
    const {port} = worker
    await pool!.end()
    pool = undefined
    await postgres.stop()
    const stoppedAt = Date.now()
    await produce(topic, events.slice(HALF).map(eventMessage))

    // The second half cannot be written: the worker says so and commits none of it.
    await waitUntil(async () => (await scrapeMetric(port, 'kpipe_worker_sink_up')) === 0, PATIENCE_MS, 'sink_up to drop to 0')
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(503)
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200)
    await sleep(Math.max(0, PG_OUTAGE_MS - (Date.now() - stoppedAt)))
    expect(await scrapeMetric(port, 'kpipe_worker_sink_failures_total')).toBeGreaterThan(0)
    expect(await committedTotal(group, topic)).toBe(HALF)
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(503)

    await postgres.start()
    pool = await pgPool(postgres.url)
    await waitUntil(async () => (await committedTotal(group, topic)) === 2 * HALF, PATIENCE_MS, 'every event to be committed after the outage')
    expect(await rowCounts(pool, topic)).toEqual({rows: 2 * HALF, distinct: 2 * HALF})
    await waitUntil(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, PATIENCE_MS, '/readyz to answer 200 again')

    worker.child.kill('SIGTERM')
    const {code} = await worker.exited
    expect(code, worker.stderr().slice(-3000)).toBe(0)
    const summary = JSON.parse(worker.stdout()) as {sinkRetries: number; stoppedBy: string}
    expect(summary.sinkRetries).toBeGreaterThan(0)
    expect(worker.stderr()).toMatch(/sink write failed; retrying without committing/)
    expect(worker.stderr()).toMatch(/sink write succeeded after retries/)
  })

  it('Redis down mid-run (its data lost): PostgreSQL keeps going, projections are rebuilt when it is back', {timeout: HEAVY_TEST_TIMEOUT_MS}, async () => {
    const {events, worker, group} = await firstHalfDrained()
    const {port} = worker
    await redisServer.stop()
    await produce(topic, events.slice(HALF).map(eventMessage))

    // PostgreSQL takes the second half and the offsets are committed while Redis is away.
    await waitUntil(async () => (await committedTotal(group, topic)) === 2 * HALF, PATIENCE_MS, 'every event to be committed while Redis is down')
    expect(await rowCounts(pool!, topic)).toEqual({rows: 2 * HALF, distinct: 2 * HALF})
    expect(await scrapeMetric(port, 'kpipe_worker_redis_projections_stale')).toBe(1)
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200) // Redis is a cache: still ready

    await redisServer.start() // empty: what it held is gone
    await waitUntil(async () => (await scrapeMetric(port, 'kpipe_worker_redis_projections_stale')) === 0, PATIENCE_MS, 'the projections to be current again')
    worker.child.kill('SIGTERM')
    const {code} = await worker.exited
    expect(code, worker.stderr().slice(-3000)).toBe(0)
    expect(JSON.parse(worker.stdout())).toMatchObject({projectionsStale: false})
    const stderr = worker.stderr()
    const staleAt = stderr.search(/Redis projections are stale/)
    expect(staleAt).toBeGreaterThan(-1)
    // Redis came back empty: the whole projection is rebuilt (after the outage: the worker also
    // rebuilt the private Redis, empty then too, when it started), not only the ranges it missed.
    expect(stderr.slice(staleAt)).toMatch(/rebuilt Redis projections from PostgreSQL/)
    redis = redisServer.client()
    await expectProjectionsMatch(redis, events)
  })
})
