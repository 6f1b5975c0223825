/**
 * `kpipe worker logs` and `kpipe logs search` end to end on the real stack: mixed log lines of
 * every shape the parser reads are all accounted for (rows + dead letters = lines produced),
 * searches by level, correlation id and --follow find exactly what was produced, a worker killed
 * with SIGKILL and restarted leaves no duplicate, and expired day partitions are dropped.
 *
 * Every line is dated near now (the retention of other runs drops old days) and every service is
 * scoped by the test's topic, so concurrent suites never see each other's rows.
 */
import {spawn, type ChildProcess} from 'node:child_process'

import type pg from 'pg'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {LogRecord} from '../../src/lib/logs/search-query.js'
import {syntheticLogRecords, type SyntheticLogRecord} from '../../src/lib/logs/synthetic-lines.js'
import {binRun, runCli, type CliResult} from '../helpers/cli.js'
import {createTopics, deleteTopics, pgPool, produce, readTopic, sleep, uniqueName, waitUntil} from '../integration/workers/helpers.js'

interface LogsSummary {
  consumed: number
  written: number
  inserted: number
  deadLettered: number
  byErrorClass: Record<string, number>
  stoppedBy: string
  droppedPartitions: string[]
}

type SearchLine = LogRecord

// Long enough that no run of this file drops a day another suite wrote (lines are dated now).
const SAFE_RETENTION = ['--retention', '9000d']

function drain(topic: string, group = `${topic}-g`, extra: string[] = []): Promise<CliResult> {
  return runCli(['worker', 'logs', '--topic', topic, '--group', group, '--from-beginning', '--stop-when-caught-up', '--metrics-port', '0', '--json', ...SAFE_RETENTION, ...extra], {
    timeoutMs: 300_000,
  })
}

function summaryOf(result: CliResult): LogsSummary {
  expect(result.code, result.stderr.slice(-3000)).toBe(0)
  return JSON.parse(result.stdout) as LogsSummary
}

function searchLines(result: CliResult, topic: string): SearchLine[] {
  expect(result.code, result.stderr.slice(-2000)).toBe(0)
  return result.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as SearchLine)
    .filter((line) => line.kafkaTopic === topic)
}

function messagesOf(records: SyntheticLogRecord[]) {
  return records.map((r) => ({key: r.key, value: r.value, headers: r.headers}))
}

async function rowCount(pool: pg.Pool, topic: string): Promise<{rows: number; distinct: number}> {
  const {rows} = await pool.query<{rows: string; distinct: string}>(
    `SELECT count(*) AS rows, count(DISTINCT (kafka_partition, kafka_offset)) AS distinct FROM pipeline.logs WHERE kafka_topic = $1`,
    [topic],
  )
  return {rows: Number(rows[0]!.rows), distinct: Number(rows[0]!.distinct)}
}

async function deleteLogRows(pool: pg.Pool, topic: string): Promise<void> {
  await pool.query('DELETE FROM pipeline.logs WHERE kafka_topic = $1', [topic])
}

describe('kpipe worker logs: 50,000 mixed lines', () => {
  const topic = uniqueName('e2e-logs')
  const records = syntheticLogRecords(50_000, {scope: topic, startMs: Date.now() - 20 * 60_000, spacingMs: 20})
  const lines = records.filter((r) => !r.expected.deadLetter)
  let pool: pg.Pool
  let summary: LogsSummary

  beforeAll(async () => {
    pool = await pgPool()
    await createTopics(topic, 3)
    await produce(topic, messagesOf(records))
    summary = summaryOf(await drain(topic))
  }, 400_000)

  afterAll(async () => {
    await deleteLogRows(pool, topic)
    await deleteTopics(topic)
    await pool.end()
  })

  it('accounts for every line: rows plus dead letters equal the lines produced, and only non-lines are dead letters', async () => {
    const deadLetters = records.filter((r) => r.expected.deadLetter)
    expect(deadLetters.length).toBeGreaterThan(0)
    expect(summary).toMatchObject({consumed: 50_000, written: lines.length, inserted: lines.length, deadLettered: deadLetters.length, stoppedBy: 'caught-up'})
    const counts = await rowCount(pool, topic)
    expect(counts).toEqual({rows: lines.length, distinct: lines.length})
    const dlq = await readTopic(`${topic}.dlq`)
    expect(counts.rows + dlq.length).toBe(records.length)
    const expectedClasses: Record<string, number> = {}
    for (const r of deadLetters) if (r.expected.deadLetter) expectedClasses[r.expected.errorClass] = (expectedClasses[r.expected.errorClass] ?? 0) + 1
    const actualClasses: Record<string, number> = {}
    for (const letter of dlq) actualClasses[letter.headers['kpipe.dlq.error.class']!] = (actualClasses[letter.headers['kpipe.dlq.error.class']!] ?? 0) + 1
    expect(actualClasses).toEqual(expectedClasses)
    expect(new Set(dlq.map((l) => l.headers['kpipe.dlq.worker']))).toEqual(new Set(['logs']))
  })

  it('stores each line with the level, service and correlation id it was written with, whatever its shape', async () => {
    const {rows} = await pool.query<{level: string; service: string; correlation_id: string | null; n: string}>(
      'SELECT level, service, correlation_id, count(*) AS n FROM pipeline.logs WHERE kafka_topic = $1 GROUP BY 1, 2, 3',
      [topic],
    )
    const actual = new Map(rows.map((r) => [`${r.level}|${r.service}|${r.correlation_id}`, Number(r.n)]))
    const expected = new Map<string, number>()
    for (const r of lines) {
      if (r.expected.deadLetter) continue
      const key = `${r.expected.level}|${r.expected.service}|${r.expected.correlationId}`
      expected.set(key, (expected.get(key) ?? 0) + 1)
    }
    expect(actual).toEqual(expected)
  })

  it('logs search --level error --since 1h --json returns exactly the error-and-worse lines produced', async () => {
    const services = [...new Set(lines.flatMap((r) => (r.expected.deadLetter ? [] : [r.expected.service])))]
    const result = await runCli(['logs', 'search', '--level', 'error', '--since', '1h', '--limit', '100000', '--json', ...services.flatMap((s) => ['--service', s])])
    const found = searchLines(result, topic)
    const expected = lines.filter((r) => !r.expected.deadLetter && (r.expected.level === 'error' || r.expected.level === 'fatal'))
    expect(expected.length).toBeGreaterThan(100)
    expect(found).toHaveLength(expected.length)
    expect(new Set(found.map((l) => l.level))).toEqual(new Set(['error', 'fatal']))
    // Newest last, like tail.
    const times = found.map((l) => Date.parse(l.ts))
    expect(times).toEqual([...times].sort((a, b) => a - b))
    expect(Object.keys(found[0]!).sort()).toEqual(['attrs', 'correlationId', 'kafkaOffset', 'kafkaPartition', 'kafkaTopic', 'level', 'message', 'service', 'ts'])
  })

  it('--correlation-id finds the lines of an id given under each field name', async () => {
    const fields = ['correlationId', 'correlation_id', 'traceId', 'trace_id', 'requestId', 'request_id']
    for (const field of fields) {
      const record = lines.find((r) => !r.expected.deadLetter && r.expected.correlationId && new RegExp(`"${field}":|\\b${field}=`).test(r.value?.toString() ?? ''))
      expect(record, `a line with ${field}`).toBeDefined()
      const id = (record!.expected as {correlationId: string}).correlationId
      const result = await runCli(['logs', 'search', '--correlation-id', id, '--since', '2h', '--json'])
      const found = searchLines(result, topic)
      const expected = lines.filter((r) => !r.expected.deadLetter && r.expected.correlationId === id)
      expect(found.map((l) => l.correlationId)).toEqual(expected.map(() => id))
      expect(found.length, `${field}: ${id}`).toBe(expected.length)
    }
  })

  it('a second drain of the same records (a redelivery) adds no row', async () => {
    const again = summaryOf(await drain(topic, `${topic}-replay`))
    expect(again).toMatchObject({consumed: 50_000, written: lines.length, inserted: 0})
    expect(await rowCount(pool, topic)).toEqual({rows: lines.length, distinct: lines.length})
  })
})

describe('kpipe worker logs: crash, follow and retention', () => {
  const topics: string[] = []
  let pool: pg.Pool
  const children: ChildProcess[] = []

  const newTopic = async () => {
    const topic = uniqueName('e2e-logs')
    topics.push(topic)
    await createTopics(topic, 3)
    return topic
  }

  const spawnCli = (args: string[]) => {
    const child = spawn(process.execPath, [binRun, ...args], {env: process.env, stdio: ['ignore', 'pipe', 'pipe']})
    children.push(child)
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
    const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null}>((resolve) => child.on('close', (code, signal) => resolve({code, signal})))
    return {child, exited, stdout: () => stdout, stderr: () => stderr}
  }

  beforeAll(async () => {
    pool = await pgPool()
  })

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    for (const topic of topics) {
      await deleteLogRows(pool, topic)
      await deleteTopics(topic)
    }
    await pool.end()
  })

  it('a worker killed with SIGKILL mid-drain and restarted leaves every line once', async () => {
    const topic = await newTopic()
    const records = syntheticLogRecords(30_000, {scope: topic, startMs: Date.now() - 10 * 60_000, spacingMs: 10, seed: 7})
    const lineCount = records.filter((r) => !r.expected.deadLetter).length
    await produce(topic, messagesOf(records))
    const worker = spawnCli(['worker', 'logs', '--topic', topic, '--group', `${topic}-g`, '--from-beginning', '--metrics-port', '0', '--batch-size', '200', '--concurrency', '1', ...SAFE_RETENTION])
    // Killed once some rows are in, long before the drain (150 sequential batches) is over.
    await waitUntil(async () => (await rowCount(pool, topic)).rows >= 2000 || worker.child.exitCode !== null, 120_000, 'the first rows')
    worker.child.kill('SIGKILL')
    expect((await worker.exited).signal).toBe('SIGKILL')
    const summary = summaryOf(await drain(topic))
    // The restart read again what the killed worker had not committed.
    expect(summary.consumed).toBeGreaterThan(0)
    expect(await rowCount(pool, topic)).toEqual({rows: lineCount, distinct: lineCount})
  })

  it('logs search --follow prints a line produced after it started, once, and exits 0 on SIGINT', async () => {
    const topic = await newTopic()
    const service = `${topic}-follow`
    const worker = spawnCli(['worker', 'logs', '--topic', topic, '--group', `${topic}-g`, '--metrics-port', '0', ...SAFE_RETENTION])
    await waitUntil(async () => /joined consumer group/.test(worker.stderr()), 60_000, 'the worker to join')
    const follow = spawnCli(['logs', 'search', '--follow', '--service', service, '--json'])
    await sleep(1500) // the first poll found nothing: what follows was produced after it started
    expect(follow.stdout()).toBe('')
    const message = `payment settled ${topic}`
    await produce(topic, [{key: service, value: JSON.stringify({level: 'warn', msg: message, ts: new Date().toISOString()})}])
    await waitUntil(async () => follow.stdout().includes(message), 60_000, '--follow to print the new line')
    await sleep(3000) // several more polls: the line must not come again
    follow.child.kill('SIGINT')
    const {code} = await follow.exited
    expect(code, follow.stderr()).toBe(0)
    const printed = follow.stdout().split('\n').filter(Boolean).map((l) => JSON.parse(l) as SearchLine)
    expect(printed).toHaveLength(1)
    expect(printed[0]).toMatchObject({service, level: 'warn', message, kafkaTopic: topic})
    worker.child.kill('SIGTERM')
    expect((await worker.exited).code).toBe(0)
  })

  it('drops day partitions older than the retention, keeping newer days', async () => {
    const topic = await newTopic()
    const oldDay = Date.parse('2001-01-15T12:00:00Z')
    const old = Array.from({length: 50}, (_, i) => ({key: `${topic}-svc`, value: JSON.stringify({ts: new Date(oldDay + i * 1000).toISOString(), level: 'info', msg: `old ${i}`})}))
    const recent = Array.from({length: 50}, (_, i) => ({key: `${topic}-svc`, value: JSON.stringify({ts: new Date(Date.now() - i * 1000).toISOString(), level: 'info', msg: `new ${i}`})}))
    await produce(topic, [...old, ...recent])
    const first = summaryOf(await drain(topic))
    expect(first.written).toBe(100)
    const before = await pool.query<{n: string}>(`SELECT count(*) AS n FROM pipeline.logs WHERE kafka_topic = $1 AND ts < '2002-01-01'`, [topic])
    expect(Number(before.rows[0]!.n)).toBe(50)

    // 9000 days before now is in 2002: the 2001 day is past it, every recent day is not.
    const second = summaryOf(await drain(topic))
    expect(second.droppedPartitions).toContain('logs_p20010115')
    const after = await pool.query<{old: string; recent: string}>(
      `SELECT count(*) FILTER (WHERE ts < '2002-01-01') AS old, count(*) FILTER (WHERE ts >= '2002-01-01') AS recent FROM pipeline.logs WHERE kafka_topic = $1`,
      [topic],
    )
    expect(after.rows[0]).toEqual({old: '0', recent: '50'})
    const {rows} = await pool.query<{n: string}>(`SELECT count(*) AS n FROM pg_class WHERE relname = 'logs_p20010115'`)
    expect(rows[0]!.n).toBe('0')
  })
})
