/**
 * `kpipe worker events` end to end: the built CLI's start-up checks and exit codes, its --json
 * summary, health endpoints, heap limit and graceful shutdown on SIGTERM, --no-projections and
 * --dlq-topic.
 */
import {readFileSync} from 'node:fs'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {CompressionTypes} from 'kafkajs'
import type pg from 'pg'

import {json, runCli} from '../helpers/cli.js'
import {startPrivateRedis} from '../helpers/services.js'
import {registerCompressionCodecs} from '../../src/lib/workers/codecs.js'
import {
  createTopics,
  deleteProjections,
  deleteRows,
  deleteTopics,
  eventMessage,
  kafka,
  makeEvents,
  pgPool,
  produce,
  readTopic,
  redisClient,
  rowCounts,
  startServingWorker,
  uniqueName,
  waitUntil,
} from '../integration/workers/helpers.js'

interface Summary {
  consumed: number
  written: number
  inserted: number
  deadLettered: number
  byErrorClass: Record<string, number>
  stoppedBy: string
  dlqTopic: string
  projectionsStale: boolean
}

describe('kpipe worker events', () => {
  const topic = uniqueName('e2e-events')
  const topics = [topic]
  let pool: pg.Pool

  beforeAll(async () => {
    pool = await pgPool()
    await createTopics(topic, 3)
  })

  afterAll(async () => {
    if (!pool) return // the set-up failed: it made nothing to clean up
    const redis = redisClient()
    for (const name of topics) {
      await deleteRows(pool, name)
      await deleteProjections(redis, name)
      await deleteTopics(name)
    }
    redis.disconnect()
    await pool.end()
  })

  it('drains the topic, prints one JSON summary and exits 0 with --stop-when-caught-up', async () => {
    const events = makeEvents(2000, topic, {entities: 20})
    await produce(topic, [...events.map(eventMessage), {key: 'bad', value: 'not json'}])
    const result = await runCli(['worker', 'events', '--topic', topic, '--group', `${topic}-g`, '--from-beginning', '--stop-when-caught-up', '--metrics-port', '0', '--json'])
    expect(result.code, result.stderr.slice(-2000)).toBe(0)
    const summary = json<Summary>(result)
    expect(summary).toMatchObject({consumed: 2001, written: 2000, inserted: 2000, deadLettered: 1, stoppedBy: 'caught-up', dlqTopic: `${topic}.dlq`, projectionsStale: false})
    expect(summary.byErrorClass).toEqual({decode: 1, schema: 0, validation: 0, oversize: 0, sink: 0})
    // Logs are JSON lines on stderr.
    const lines = result.stderr.split('\n').filter((l) => l.startsWith('{'))
    expect(lines.length).toBeGreaterThan(2)
    for (const line of lines) expect(JSON.parse(line)).toHaveProperty('level')
  })

  it('serves /healthz, /readyz and /metrics, runs with the 192 MB heap, and leaves on SIGTERM with exit 0', async () => {
    const worker = await startServingWorker(['--topic', topic, '--group', `${topic}-live`, '--json'])
    const {port} = worker
    await worker.waitForLog(/joined consumer group/)
    await waitUntil(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200, 120_000, '/readyz')
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200)
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    for (const name of ['kpipe_worker_records_consumed_total', 'kpipe_worker_sink_latency_seconds', 'kpipe_worker_consumer_lag', 'kpipe_worker_sink_up', 'kpipe_worker_redis_projections_stale', 'process_resident_memory_bytes']) {
      expect(metrics).toContain(name)
    }
    // The gauge is /readyz's answer: 200 above, so 1.
    expect(metrics).toMatch(/^kpipe_worker_ready\{worker="events"\} 1$/m)
    // The worker re-executes itself (same pid) with the fixed heap of the README.
    const argv = readFileSync(`/proc/${worker.child.pid}/cmdline`, 'utf8').split('\0')
    expect(argv).toContain('--max-old-space-size=192')

    worker.child.kill('SIGTERM')
    const {code} = await worker.exited
    expect(code, worker.stderr().slice(-2000)).toBe(0)
    expect(JSON.parse(worker.stdout())).toMatchObject({stoppedBy: 'signal'})
    expect(worker.stderr()).toMatch(/shutting down gracefully/)
  })

  it('--no-projections writes every row to PostgreSQL and nothing to Redis', async () => {
    const name = uniqueName('e2e-noproj')
    topics.push(name)
    await createTopics(name, 3)
    const events = makeEvents(1500, name, {entities: 30})
    await produce(name, events.map(eventMessage))
    // A Redis of the test's own: any key in it would have come from this worker.
    const redisServer = await startPrivateRedis()
    const redis = redisServer.client()
    try {
      const result = await runCli(
        ['worker', 'events', '--topic', name, '--group', `${name}-g`, '--from-beginning', '--stop-when-caught-up', '--metrics-port', '0', '--no-projections', '--json'],
        {env: {KPIPE_REDIS_URL: redisServer.url}},
      )
      expect(result.code, result.stderr.slice(-2000)).toBe(0)
      expect(json<Summary>(result)).toMatchObject({consumed: 1500, written: 1500, deadLettered: 0, projectionsStale: false})
      expect(await rowCounts(pool, name)).toEqual({rows: 1500, distinct: 1500})
      expect(await redis.dbsize()).toBe(0)
    } finally {
      redis.disconnect()
      await redisServer.dispose()
    }
  })

  it('shrinks its fetches for zstd-compressed input (memory follows decoded records), and still writes every event', async () => {
    const name = uniqueName('e2e-zstd-fetch')
    topics.push(name)
    await createTopics(name, 1)
    registerCompressionCodecs()
    // ~4 MB of JSON events, some 10× smaller stored (~400 KB): a 128 KiB fetch is cut by the limit.
    const events = makeEvents(16_000, name, {entities: 100})
    await produce(name, events.map(eventMessage), {compression: CompressionTypes.ZSTD, chunk: 4000})
    const result = await runCli([
      'worker', 'events', '--topic', name, '--group', `${name}-g`, '--from-beginning', '--stop-when-caught-up', '--metrics-port', '0', '--no-projections', '--json', '--log-level', 'debug',
      '--partition-fetch-max-bytes', '128KiB', '--batch-size', '50000',
    ])
    expect(result.code, result.stderr.slice(-2000)).toBe(0)
    expect(json<Summary>(result)).toMatchObject({consumed: 16_000, written: 16_000, deadLettered: 0})
    const sized = result.stderr
      .split('\n')
      .filter((line) => line.includes('fetches now ask'))
      .map((line) => (JSON.parse(line) as {partitionFetchMaxBytes: number}).partitionFetchMaxBytes)
    expect(sized.length, result.stderr.slice(-2000)).toBeGreaterThan(0)
    // Below the configured 128 KiB, down to the 64 KiB floor: decoded, 128 KiB of these is ~1.3 MiB.
    expect(Math.min(...sized)).toBe(64 * 1024)
    // And kafkajs asked for it: the batches cut by the limit after the change hold half the records.
    const batches = result.stderr
      .split('\n')
      .filter((line) => line.includes('"batch fetched"'))
      .map((line) => JSON.parse(line) as {records: number; cutByLimit: boolean; fetchLimit: number})
      .filter((batch) => batch.cutByLimit)
    const before = batches.filter((batch) => batch.fetchLimit === 128 * 1024).map((batch) => batch.records)
    const after = batches.filter((batch) => batch.fetchLimit === 64 * 1024).map((batch) => batch.records)
    expect(before.length, result.stderr.slice(-2000)).toBeGreaterThan(0)
    expect(after.length, result.stderr.slice(-2000)).toBeGreaterThan(0)
    expect(Math.max(...after)).toBeLessThan(Math.min(...before) * 0.75)
    expect(await rowCounts(pool, name)).toEqual({rows: 16_000, distinct: 16_000})
  })

  it('--dlq-topic sends dead letters to the named topic, not to <topic>.dlq', async () => {
    const name = uniqueName('e2e-dlqflag')
    const dlq = `${name}-letters`
    topics.push(name)
    await createTopics(name, 2) // also makes <topic>.dlq, so a letter sent there would be found
    const admin = kafka.admin()
    await admin.connect()
    try {
      await admin.createTopics({waitForLeaders: true, topics: [{topic: dlq, numPartitions: 1, replicationFactor: 1}]})
    } finally {
      await admin.disconnect()
    }
    const events = makeEvents(200, name, {entities: 10})
    await produce(name, [...events.map(eventMessage), {key: 'poison-1', value: 'not json'}, {key: 'poison-2', value: JSON.stringify([1])}])
    try {
      const result = await runCli([
        'worker', 'events', '--topic', name, '--group', `${name}-g`, '--from-beginning', '--stop-when-caught-up', '--metrics-port', '0', '--dlq-topic', dlq, '--json',
      ])
      expect(result.code, result.stderr.slice(-2000)).toBe(0)
      expect(json<Summary>(result)).toMatchObject({consumed: 202, written: 200, deadLettered: 2, dlqTopic: dlq})
      const letters = await readTopic(dlq)
      expect(letters.map((l) => l.key).sort()).toEqual(['poison-1', 'poison-2'])
      for (const letter of letters) expect(letter.headers['kpipe.dlq.original.topic']).toBe(name)
      expect(await readTopic(`${name}.dlq`)).toEqual([])
    } finally {
      const cleanup = kafka.admin()
      await cleanup.connect()
      await cleanup.deleteTopics({topics: [dlq]}).catch(() => undefined)
      await cleanup.disconnect()
    }
  })

  it('exits 2 naming the missing topic and what to do', async () => {
    const result = await runCli(['worker', 'events', '--topic', `${topic}-missing`, '--group', `${topic}-missing-g`, '--metrics-port', '0'])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(`The topics ${topic}-missing, ${topic}-missing.dlq do not exist`)
    expect(result.stderr).toContain('kpipe topics apply')
  })

  it('exits 3 when Kafka is unreachable', async () => {
    const result = await runCli(['worker', 'events', '--topic', topic, '--group', `${topic}-nokafka`, '--brokers', 'localhost:1', '--metrics-port', '0'])
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(/Kafka is unreachable/)
  })

  it('exits 3 when PostgreSQL is unreachable', async () => {
    const result = await runCli(['worker', 'events', '--topic', topic, '--group', `${topic}-nopg`, '--pg-url', 'postgres://localhost:1/kpipe', '--metrics-port', '0'])
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(/PostgreSQL is unreachable/)
  })

  it('exits 2 on a bad duration', async () => {
    const result = await runCli(['worker', 'events', '--shutdown-timeout', 'soon'])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/not a duration/)
  })
})
