/**
 * `kpipe worker events` end to end: the built CLI's start-up checks and exit codes, its --json
 * summary, health endpoints and graceful shutdown on SIGTERM.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type pg from 'pg'

import {json, runCli} from '../helpers/cli.js'
import {
  createTopics,
  deleteProjections,
  deleteRows,
  deleteTopics,
  eventMessage,
  freePort,
  makeEvents,
  pgPool,
  produce,
  redisClient,
  startWorker,
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
  let pool: pg.Pool

  beforeAll(async () => {
    pool = await pgPool()
    await createTopics(topic, 3)
  })

  afterAll(async () => {
    await deleteRows(pool, topic)
    const redis = redisClient()
    await deleteProjections(redis, topic)
    redis.disconnect()
    await deleteTopics(topic)
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

  it('serves /healthz, /readyz and /metrics, and leaves on SIGTERM with exit 0', async () => {
    const port = await freePort()
    const worker = startWorker(['--topic', topic, '--group', `${topic}-live`, '--metrics-port', String(port), '--json'])
    await worker.waitForLog(/joined consumer group/)
    await waitUntil(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200, 15_000, '/readyz')
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200)
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    for (const name of ['kpipe_worker_records_consumed_total', 'kpipe_worker_sink_latency_seconds', 'kpipe_worker_consumer_lag', 'kpipe_worker_sink_up', 'kpipe_worker_redis_projections_stale']) {
      expect(metrics).toContain(name)
    }
    const started = Date.now()
    worker.child.kill('SIGTERM')
    const {code} = await worker.exited
    expect(code, worker.stderr().slice(-2000)).toBe(0)
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(JSON.parse(worker.stdout())).toMatchObject({stoppedBy: 'signal'})
  })

  it('exits 2 naming the missing topic and what to do', async () => {
    const result = await runCli(['worker', 'events', '--topic', `${topic}-missing`, '--metrics-port', '0'])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(`The topics ${topic}-missing, ${topic}-missing.dlq do not exist`)
    expect(result.stderr).toContain('kpipe topics apply')
  })

  it('exits 3 when Kafka is unreachable', async () => {
    const result = await runCli(['worker', 'events', '--topic', topic, '--brokers', 'localhost:1', '--metrics-port', '0'])
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(/Kafka is unreachable/)
  })

  it('exits 3 when PostgreSQL is unreachable', async () => {
    const result = await runCli(['worker', 'events', '--topic', topic, '--pg-url', 'postgres://localhost:1/kpipe', '--metrics-port', '0'])
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(/PostgreSQL is unreachable/)
  })

  it('exits 2 on a bad duration', async () => {
    const result = await runCli(['worker', 'events', '--shutdown-timeout', 'soon'])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/not a duration/)
  })
})
