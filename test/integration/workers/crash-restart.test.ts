/**
 * Done when #2: the worker killed with SIGKILL at random points of a 200,000-event run and
 * restarted each time gives the same exact totals, no duplicates; Redis converges too.
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
  makeEvents,
  pgPool,
  produce,
  redisClient,
  rowCounts,
  runWorkerUntilCaughtUp,
  sleep,
  startWorker,
  uniqueName,
} from './helpers.js'

const EVENTS = Number(process.env.KPIPE_TEST_EVENTS ?? 200_000)
const KILLS = 5

describe('worker events: SIGKILL and restart', () => {
  const topic = uniqueName()
  const group = `${topic}-group`
  let pool: pg.Pool
  let redis: Redis

  beforeAll(async () => {
    pool = await pgPool()
    redis = redisClient()
    await createTopics(topic, 6)
  })

  afterAll(async () => {
    await deleteRows(pool, topic)
    await deleteProjections(redis, topic)
    await deleteTopics(topic)
    await pool.end()
    redis.disconnect()
  })

  it('loses and duplicates nothing across kill -9 at random points', async () => {
    const events = makeEvents(EVENTS, topic, {entities: 5000})
    await produce(topic, events.map(eventMessage))
    const args = ['--topic', topic, '--group', group, '--from-beginning', '--metrics-port', '0', '--session-timeout', '6s', '--batch-size', '1000']

    const progress: number[] = []
    for (let kill = 0; kill < KILLS; kill++) {
      const worker = startWorker(args)
      await worker.waitForLog(/joined consumer group/)
      await sleep(150 + Math.floor(Math.random() * 900))
      worker.child.kill('SIGKILL')
      const {signal} = await worker.exited
      expect(signal).toBe('SIGKILL')
      progress.push((await rowCounts(pool, topic)).rows)
    }
    const {code, summary, stderr} = await runWorkerUntilCaughtUp(args)
    expect(code, stderr.slice(-3000)).toBe(0)
    console.log(`rows after each kill: ${progress.join(', ')}; the last run consumed ${String(summary.consumed)}`)

    expect(await rowCounts(pool, topic)).toEqual({rows: EVENTS, distinct: EVENTS})
    // Killed mid-run at least once (not before the first write, not after the last).
    expect(progress.some((rows) => rows > 0 && rows < EVENTS)).toBe(true)
    await expectProjectionsMatch(redis, events)
  })
})
