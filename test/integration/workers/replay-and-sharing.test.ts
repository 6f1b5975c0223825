/**
 * Done when #4, #5, #6: replaying the same events changes nothing in PostgreSQL or Redis; two
 * workers share a 6-partition topic and stopping one hands its partitions over with exact
 * totals; events written by Kafka's own console producer, compressed, are consumed like kpipe's.
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
  projectionSnapshot,
  redisClient,
  rowCounts,
  rowsFingerprint,
  runWorkerUntilCaughtUp,
  sh,
  startWorker,
  uniqueName,
  waitUntil,
  HEAVY_TEST_TIMEOUT_MS,
  PATIENCE_MS,
} from './helpers.js'

describe('worker events: replay, sharing, foreign producers', () => {
  let pool: pg.Pool
  let redis: Redis
  const topics: string[] = []

  beforeAll(async () => {
    pool = await pgPool()
    redis = redisClient()
  })

  afterAll(async () => {
    if (!pool || !redis) return // the set-up failed before any topic was made
    for (const topic of topics) {
      await deleteRows(pool, topic)
      await deleteProjections(redis, topic)
      await deleteTopics(topic)
    }
    await pool.end()
    redis.disconnect()
  })

  it('replaying the same events leaves PostgreSQL and Redis unchanged', {timeout: HEAVY_TEST_TIMEOUT_MS}, async () => {
    const topic = uniqueName()
    topics.push(topic)
    await createTopics(topic, 6)
    const events = makeEvents(30_000, topic, {entities: 300})
    await produce(topic, events.map(eventMessage))
    const first = await runWorkerUntilCaughtUp(['--topic', topic, '--group', `${topic}-a`, '--from-beginning', '--metrics-port', '0'])
    expect(first.code, first.stderr.slice(-2000)).toBe(0)
    const rowsBefore = await rowsFingerprint(pool, topic)
    const redisBefore = await projectionSnapshot(redis, topic)
    expect(Object.keys(redisBefore).length).toBeGreaterThan(300)

    // A new group from the beginning is a full replay; then the same events produced again, in reverse.
    const replay = await runWorkerUntilCaughtUp(['--topic', topic, '--group', `${topic}-b`, '--from-beginning', '--metrics-port', '0', '--json'])
    expect(replay.code, replay.stderr.slice(-2000)).toBe(0)
    expect(replay.summary).toMatchObject({consumed: 30_000, inserted: 0})
    await produce(topic, events.toReversed().map(eventMessage))
    const again = await runWorkerUntilCaughtUp(['--topic', topic, '--group', `${topic}-a`, '--metrics-port', '0'])
    expect(again.code).toBe(0)
    expect(again.summary).toMatchObject({consumed: 30_000, inserted: 0})

    expect(await rowsFingerprint(pool, topic)).toBe(rowsBefore)
    expect(await rowCounts(pool, topic)).toEqual({rows: 30_000, distinct: 30_000})
    expect(await projectionSnapshot(redis, topic)).toEqual(redisBefore)
    await expectProjectionsMatch(redis, events)
  })

  it('two workers share a 6-partition topic; stopping one hands its partitions over; totals exact', {timeout: HEAVY_TEST_TIMEOUT_MS}, async () => {
    const topic = uniqueName()
    topics.push(topic)
    await createTopics(topic, 6)
    const group = `${topic}-g`
    const args = ['--topic', topic, '--group', group, '--from-beginning', '--metrics-port', '0', '--batch-size', '500', '--json']
    const a = startWorker(args)
    await a.waitForLog(/"partitions":\[0,1,2,3,4,5\]/)
    const b = startWorker(args)
    const joinedB = JSON.parse(await b.waitForLog(/joined consumer group/)) as {partitions: number[]}
    expect(joinedB.partitions.length).toBe(3)
    const events = makeEvents(90_000, topic)
    const firstHalf = events.slice(0, 45_000)
    await produce(topic, firstHalf.map(eventMessage))
    await waitUntil(async () => (await rowCounts(pool, topic)).rows >= 45_000, PATIENCE_MS, 'the first half')

    a.child.kill('SIGTERM')
    const exitA = await a.exited
    expect(exitA.code, a.stderr().slice(-2000)).toBe(0)
    // B takes over all six partitions after the rebalance.
    await waitUntil(async () => /"partitions":\[0,1,2,3,4,5\]/.test(b.stderr()), PATIENCE_MS, 'worker B to get every partition')
    await produce(topic, events.slice(45_000).map(eventMessage))
    await waitUntil(async () => (await rowCounts(pool, topic)).rows >= 90_000, PATIENCE_MS, 'the second half')
    b.child.kill('SIGTERM')
    const exitB = await b.exited
    expect(exitB.code, b.stderr().slice(-2000)).toBe(0)

    expect(await rowCounts(pool, topic)).toEqual({rows: 90_000, distinct: 90_000})
    const summaryA = JSON.parse(a.stdout()) as {consumed: number; stoppedBy: string}
    const summaryB = JSON.parse(b.stdout()) as {consumed: number; stoppedBy: string}
    expect(summaryA.stoppedBy).toBe('signal')
    expect(summaryA.consumed).toBeGreaterThan(0)
    expect(summaryB.consumed).toBeGreaterThan(45_000)
    expect(summaryA.consumed + summaryB.consumed).toBeGreaterThanOrEqual(90_000)
    expect(a.stderr()).toMatch(/"msg":"worker stopped"/)
  })

  it('consumes events from Kafka\'s console producer, compressed with gzip, snappy, lz4 and zstd', {timeout: HEAVY_TEST_TIMEOUT_MS}, async () => {
    const topic = uniqueName()
    topics.push(topic)
    await createTopics(topic, 3)
    const codecs = ['gzip', 'snappy', 'lz4', 'zstd']
    const per = 500
    const events = makeEvents(per * codecs.length, topic, {entities: 50})
    for (const [i, codec] of codecs.entries()) {
      const lines = events.slice(i * per, (i + 1) * per).map((e) => `${e.key}\t${JSON.stringify(e)}`)
      await sh(
        `./scripts/stack tool kafka-console-producer --bootstrap-server ${process.env.KPIPE_BROKERS ?? 'localhost:9092'} --topic ${topic} ` +
          `--compression-codec ${codec} --property parse.key=true --property key.separator=$'\\t' --command-property linger.ms=50 --command-property batch.size=262144`,
        `${lines.join('\n')}\n`,
      )
    }
    const {code, summary, stderr} = await runWorkerUntilCaughtUp(['--topic', topic, '--group', `${topic}-g`, '--from-beginning', '--metrics-port', '0', '--json'])
    expect(code, stderr.slice(-2000)).toBe(0)
    expect(summary).toMatchObject({consumed: events.length, deadLettered: 0})
    expect(await rowCounts(pool, topic)).toEqual({rows: events.length, distinct: events.length})
    const {rows} = await pool.query<{entity_key: string}>('SELECT entity_key FROM pipeline.events WHERE event_id = $1', [events[7]!.eventId])
    expect(rows[0]!.entity_key).toBe(events[7]!.key)
    await expectProjectionsMatch(redis, events)
  })
})
