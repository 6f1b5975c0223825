/**
 * `kpipe load-test` end to end against the stack: what it sends is in Kafka, its figures add up,
 * --e2e reads back the rows a real `kpipe worker events` wrote, and objectives, bad flags and
 * unreachable services get their exit codes.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type pg from 'pg'

import {json, runCli} from '../helpers/cli.js'
import {createTopics, deleteRows, deleteTopics, kafka, pgPool, readTopic, rowCounts, startServingWorker, uniqueName} from '../integration/workers/helpers.js'
import type {LoadTestResult} from '../../src/lib/loadtest/load-test-service.js'

const topic = uniqueName('e2e-load')
const paced = uniqueName('e2e-load-paced')
const live = uniqueName('e2e-load-live')
const idle = uniqueName('e2e-load-idle')
const progress = uniqueName('e2e-load-progress')
let pool: pg.Pool

async function topicRecords(name: string): Promise<number> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    return (await admin.fetchTopicOffsets(name)).reduce((sum, p) => sum + Number(p.high), 0)
  } finally {
    await admin.disconnect()
  }
}

beforeAll(async () => {
  pool = await pgPool()
  for (const name of [topic, paced, live, idle, progress]) await createTopics(name, 3)
})

afterAll(async () => {
  for (const name of [topic, paced, live, idle, progress]) await deleteTopics(name).catch(() => undefined)
  if (pool) {
    await deleteRows(pool, live)
    await pool.end()
  }
})

describe('kpipe load-test', () => {
  it('--count N --json: sends exactly N 200-byte events and reports the rate and all three latency histograms', async () => {
    const run = await runCli(['load-test', '--topic', topic, '--count', '3000', '--json', '--report-interval', '200ms'])
    expect(run.code, run.stderr).toBe(0)
    const result = json<LoadTestResult>(run)
    expect(result).toMatchObject({records: 3000, sent: 3000, acknowledged: 3000, poison: 0, warmupRecords: 0, interrupted: false, e2eLatencyMs: null, e2e: null, breaches: []})
    expect(result.settings).toMatchObject({sizeBytes: 200, encoding: 'json', compression: 'none', ratePerSec: 0})
    expect(result.recordsPerSec).toBeGreaterThan(0)
    expect(result.mbPerSec).toBeCloseTo((result.recordsPerSec * 200) / 2 ** 20, 1)
    for (const latency of [result.latencyMs, result.publishDelayMs, result.correctedLatencyMs]) {
      expect(latency.count).toBe(3000)
      expect(latency.p50).toBeLessThanOrEqual(latency.p99)
      expect(latency.p99).toBeLessThanOrEqual(latency.max)
    }
    expect(result.latencyMs.p50).toBeGreaterThan(0)
    // As fast as possible: each record is due when it is sent, so corrected = publish.
    expect(result.publishDelayMs.max).toBe(0)
    expect(result.correctedLatencyMs.p99).toBe(result.latencyMs.p99)
    expect(result.timeline.reduce((sum, point) => sum + point.records, 0)).toBe(3000)
    expect(await topicRecords(topic)).toBe(3000)
    // Human progress on stderr, as kafka-producer-perf-test prints it; stdout is the JSON alone.
    expect(run.stderr).toMatch(/records\/s \([\d.]+ MB\/s\), latency avg [\d.]+ ms, p99 [\d.]+ ms/)

    const human = await runCli(['load-test', '--topic', topic, '--count', '500'])
    expect(human.code, human.stderr).toBe(0)
    expect(human.stdout).toMatch(/^500 records in [\d.]+ s: [\d,.]+ records\/s, [\d.]+ MB\/s \(.*200 B json, none, acks=all, as fast as possible\)/)
    expect(human.stdout).toMatch(/latency ms\s+avg\s+p50\s+p95\s+p99\s+p99\.9\s+max/)
    expect(human.stdout).toMatch(/corrected \(intended → ack\)(\s+[\d.]+){6}/)
  })

  it('prints a progress line per --report-interval, none for the milliseconds of acknowledgements after the last one', async () => {
    const run = await runCli(['load-test', '--topic', progress, '--rate', '1000', '--duration', '2s', '--report-interval', '500ms', '--json'])
    expect(run.code, run.stderr).toBe(0)
    const times = [...run.stderr.matchAll(/^([\d.]+)s(?: \(warm-up\))?: [\d,]+ records, /gm)].map((m) => Number(m[1]))
    expect(times.length, run.stderr).toBeGreaterThanOrEqual(3)
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!, run.stderr).toBeGreaterThanOrEqual(0.25)
    // The JSON timeline still holds every record, those of the short last window too.
    const result = json<LoadTestResult>(run)
    expect(result.timeline.reduce((sum, point) => sum + point.records, 0)).toBe(result.sent)
  })

  it('--rate paces the sends, leaves the warm-up out and mixes in the poison share', async () => {
    const run = await runCli(['load-test', '--topic', paced, '--rate', '500', '--count', '1000', '--warmup', '1s', '--poison', '1%', '--size', '300B', '--json'])
    expect(run.code, run.stderr).toBe(0)
    const result = json<LoadTestResult>(run)
    expect(result.records).toBe(1000)
    expect(result.warmupRecords).toBe(500)
    expect(result.sent).toBe(1500)
    expect(result.poison).toBe(15)
    // 1,000 slots 2 ms apart: the measured window cannot be shorter than 1,998 ms, nor the rate above the pace.
    expect(result.durationMs).toBeGreaterThanOrEqual(1998)
    expect(result.recordsPerSec).toBeLessThanOrEqual(500.5)
    expect(result.latencyMs.count).toBe(1000)
    expect(await topicRecords(paced)).toBe(1500)
    // Every valid event is exactly --size; the poison ones are cut short or lack a field.
    const sizes = (await readTopic(paced)).map((record) => record.value?.length)
    expect(sizes.filter((length) => length === 300)).toHaveLength(1485)
  })

  it('--producers splits the rate and the count exactly over threads that start together', async () => {
    const run = await runCli(['load-test', '--topic', paced, '--rate', '900', '--count', '900', '--warmup', '1s', '--producers', '3', '--json'])
    expect(run.code, run.stderr).toBe(0)
    const result = json<LoadTestResult>(run)
    expect(result.settings.producers).toBe(3)
    expect(new Set(result.runIds).size).toBe(3)
    // 300/s each: 300 warm-up slots and 300 measured ones per producer.
    expect(result).toMatchObject({records: 900, warmupRecords: 900, sent: 1800, acknowledged: 1800})
    expect(result.latencyMs.count).toBe(900)
    // The last measured slot of each is 299 × 3.33 ms after the warm-up: no faster than the pace.
    expect(result.durationMs).toBeGreaterThanOrEqual(996)
    expect(result.recordsPerSec).toBeLessThanOrEqual(903.5)
    expect(result.timeline.reduce((sum, point) => sum + point.records, 0)).toBe(1800)
  })

  it('--e2e times intended send → row written by a running kpipe worker events, over the valid events only', async () => {
    const worker = await startServingWorker(['--topic', live, '--group', `${live}-worker`, '--from-beginning', '--no-projections'])
    await worker.waitForLog(/joined consumer group/)
    // Two producers (threads), each with its own run id: the rows of both are read back.
    const run = await runCli(['load-test', '--topic', live, '--rate', '1000', '--count', '2000', '--poison', '0.01', '--producers', '2', '--e2e', '--e2e-timeout', '120s', '--max-e2e-p99', '1h', '--json'])
    expect(run.code, run.stderr).toBe(0)
    const result = json<LoadTestResult>(run)
    expect(result.runIds).toHaveLength(2)
    expect(result.e2e).toMatchObject({expected: 1980, stored: 1980, missing: 0})
    expect(result.e2eLatencyMs!.count).toBe(1980)
    expect(result.e2eLatencyMs!.p50).toBeGreaterThan(0)
    // In milliseconds, on one clock: a unit or clock mix-up would be off by orders of magnitude.
    expect(result.e2eLatencyMs!.max).toBeLessThan(120_000)
    expect(await rowCounts(pool, live)).toEqual({rows: 1980, distinct: 1980})
    const dlq = await readTopic(`${live}.dlq`)
    expect(dlq).toHaveLength(20)
  })

  it('an objective missed exits 1 and still prints the figures; events that never reach PostgreSQL are one', async () => {
    const slow = await runCli(['load-test', '--topic', topic, '--count', '200', '--min-rate', '100000000', '--json'])
    expect(slow.code).toBe(1)
    expect(json<LoadTestResult>(slow).breaches).toEqual([expect.stringMatching(/^the rate was [\d,]+ records\/s, under --min-rate 100000000$/)])
    expect(slow.stderr).toMatch(/^Error: An objective was missed: the rate was [\d,]+ records\/s, under --min-rate 100000000\.$/m)

    // Nobody consumes this topic: --e2e waits its timeout and counts every event missing.
    const unread = await runCli(['load-test', '--topic', idle, '--count', '100', '--e2e', '--e2e-timeout', '1s', '--json'])
    expect(unread.code).toBe(1)
    expect(json<LoadTestResult>(unread).e2e).toMatchObject({expected: 100, stored: 0, missing: 100})
    expect(unread.stderr).toContain('100 of 100 events were not in pipeline.events 1s after the last acknowledgement')
  })

  it('answers bad flags with exit 2 and one sentence, before sending anything', async () => {
    const cases: [string[], RegExp][] = [
      [['--size', '100B'], /--size 100B is below the smallest json load-test event, \d+ bytes/],
      [['--poison', '2'], /--poison must be a share from 0 up to \(not including\) 1/],
      [['--max-e2e-p99', '10ms'], /--e2e/],
      [['--count', '5', '--duration', '5s'], /--count|--duration/],
      [['--compression', 'brotli'], /brotli/],
    ]
    for (const [args, message] of cases) {
      const result = await runCli(['load-test', '--topic', idle, ...args])
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(2)
      expect(result.stderr).toMatch(message)
      expect(result.stderr).not.toMatch(/\n\s+at /)
    }
    const missing = await runCli(['load-test', '--topic', uniqueName('no-such-topic'), '--count', '1'])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/The topic \S+ does not exist\./)
  })

  it('exits 3 when Kafka or (under --e2e) PostgreSQL cannot be reached, having sent nothing', async () => {
    const kafkaDown = await runCli(['load-test', '--topic', idle, '--count', '1', '--brokers', 'localhost:1'])
    expect(kafkaDown.code, kafkaDown.stderr).toBe(3)
    const before = await topicRecords(idle)
    const pgDown = await runCli(['load-test', '--topic', idle, '--count', '10', '--e2e', '--pg-url', 'postgres://localhost:1/kpipe'])
    expect(pgDown.code, pgDown.stderr).toBe(3)
    expect(pgDown.stderr).toMatch(/PostgreSQL/i)
    expect(await topicRecords(idle)).toBe(before)
  })
})
