/**
 * `kpipe worker analytics` end to end: the built CLI against the stack's Kafka and BigQuery
 * emulator, read back with SQL through the official client. 50,000 events land and a redelivery
 * leaves the view at one row per record; a worker killed with SIGKILL and restarted leaves
 * exactly one row per record in the view; BigQuery unreachable for 20 s (a TCP proxy of the
 * test's own, so other suites keep the emulator) loses nothing, commits nothing past what
 * BigQuery took, shows on /metrics and /readyz and recovers by itself; a row the warehouse
 * refuses goes to the dead-letter topic with the reason while the rest of its batch lands.
 *
 * The emulator never deduplicates insert ids, so every redelivery really lands a duplicate in
 * the raw table: the view is what proves one row per record. The file has a dataset of its own,
 * deleted after; each test its own topic and table.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {createServer} from 'node:http'
import {createServer as createNetServer} from 'node:net'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ANALYTICS_SCHEMA} from '../../src/lib/bigquery/analytics-table.js'
import {createBigQuery} from '../../src/lib/bigquery/client.js'
import type {EventEnvelope} from '../../src/lib/records/envelope.js'
import {encodeAvroEvent} from '../../src/lib/records/avro-event.js'
import {defaultEventSchemas} from '../../src/lib/records/schema-store.js'
import {binRun, runCli, type CliResult} from '../helpers/cli.js'
import {privatePort} from '../helpers/services.js'
import {
  committedTotal,
  createTopics,
  deleteTopics,
  kafka,
  makeEvents,
  produce,
  readTopic,
  scrapeMetric,
  sleep,
  tcpProxy,
  uniqueName,
  waitUntil,
  type TcpProxy,
} from '../integration/workers/helpers.js'

const PROJECT = process.env.KPIPE_BQ_PROJECT ?? 'local'
const ENDPOINT = process.env.KPIPE_BQ_ENDPOINT ?? 'http://localhost:9050'
const DATASET = `kpipe_e2e_analytics_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 7)}`
const bigquery = createBigQuery({project: PROJECT, dataset: DATASET, endpoint: ENDPOINT}, {autoRetry: false})
const ENV = {KPIPE_BQ_PROJECT: PROJECT, KPIPE_BQ_DATASET: DATASET, KPIPE_BQ_ENDPOINT: ENDPOINT}

interface AnalyticsSummary {
  consumed: number
  written: number
  inserted: number
  deadLettered: number
  byErrorClass: Record<string, number>
  stoppedBy: string
  table: string
  view: string
  created: string[]
}

async function sql<R>(query: string): Promise<R[]> {
  return (await bigquery.query({query}))[0] as R[]
}

const tableRef = (table: string) => `\`${PROJECT}.${DATASET}.${table}\``

/** Rows of the raw table, distinct Kafka coordinates in it, and rows of the view. */
async function counts(table: string, topic: string): Promise<{raw: number; coordinates: number; view: number}> {
  const [raw] = await sql<{raw: number; coordinates: number}>(
    `SELECT count(*) AS raw, count(DISTINCT FORMAT('%d-%d', kafka_partition, kafka_offset)) AS coordinates FROM ${tableRef(table)} WHERE kafka_topic = '${topic}'`,
  )
  const [view] = await sql<{view: number}>(`SELECT count(*) AS view FROM ${tableRef(`${table}_dedup`)} WHERE kafka_topic = '${topic}'`)
  return {raw: raw!.raw, coordinates: raw!.coordinates, view: view!.view}
}

/** For each partition, whether every offset below the committed one is in BigQuery. */
async function committedIsStored(group: string, topic: string, table: string): Promise<{committed: number; missing: number}> {
  const admin = kafka.admin()
  await admin.connect()
  const [offsets] = await admin.fetchOffsets({groupId: group, topics: [topic]})
  await admin.disconnect()
  let committed = 0
  let missing = 0
  for (const {partition, offset} of offsets!.partitions) {
    const upTo = Math.max(0, Number(offset))
    committed += upTo
    if (upTo === 0) continue
    const [row] = await sql<{n: number}>(
      `SELECT count(DISTINCT kafka_offset) AS n FROM ${tableRef(table)} WHERE kafka_topic = '${topic}' AND kafka_partition = ${partition} AND kafka_offset < ${upTo}`,
    )
    missing += upTo - row!.n
  }
  return {committed, missing}
}

function drain(topic: string, table: string, options: {group?: string; extra?: string[]; env?: Record<string, string>} = {}): Promise<CliResult> {
  const args = ['worker', 'analytics', '--topic', topic, '--group', options.group ?? `${topic}-g`, '--table', table]
  return runCli([...args, '--from-beginning', '--stop-when-caught-up', '--metrics-port', '0', '--json', ...(options.extra ?? [])], {env: {...ENV, ...options.env}, timeoutMs: 300_000})
}

function summaryOf(result: CliResult): AnalyticsSummary {
  expect(result.code, result.stderr.slice(-3000)).toBe(0)
  return JSON.parse(result.stdout) as AnalyticsSummary
}

interface Worker {
  child: ChildProcess
  exited: Promise<{code: number | null; signal: NodeJS.Signals | null}>
  stderr(): string
}

const children: ChildProcess[] = []

function startWorker(args: string[], env: Record<string, string> = {}): Worker {
  const child = spawn(process.execPath, [binRun, 'worker', 'analytics', ...args], {env: {...process.env, ...ENV, ...env}, stdio: ['ignore', 'pipe', 'pipe']})
  children.push(child)
  let stderr = ''
  child.stdout!.resume()
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null}>((resolve) => child.on('close', (code, signal) => resolve({code, signal})))
  return {child, exited, stderr: () => stderr}
}

/** Events keyed by their entity, every tenth Avro-encoded (the envelope's other encoding). */
function messagesOf(events: EventEnvelope[]) {
  const writer = defaultEventSchemas().writer()
  return events.map((event, i) => ({key: event.key, value: i % 10 === 9 ? encodeAvroEvent(event, writer) : JSON.stringify(event)}))
}

async function readyz(port: number): Promise<{status: number; reasons: string[]}> {
  const response = await fetch(`http://127.0.0.1:${port}/readyz`)
  return {status: response.status, reasons: ((await response.json()) as {reasons: string[]}).reasons}
}

/**
 * An HTTP proxy in front of the emulator that can answer every insertAll with HTTP 500 (reason
 * internalError, as BigQuery does in a passing failure) while passing every other call through.
 */
async function failingInsertAllProxy(endpoint: string): Promise<{url: string; failInserts: boolean; refused: number; close(): Promise<void>}> {
  const state = {failInserts: false, refused: 0}
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      void (async () => {
        if (state.failInserts && request.method === 'POST' && /\/insertAll/.test(request.url ?? '')) {
          state.refused++
          response.writeHead(500, {'content-type': 'application/json'})
          response.end(JSON.stringify({error: {code: 500, message: 'An internal error occurred and the request could not be completed.', errors: [{reason: 'internalError', message: 'An internal error occurred and the request could not be completed.'}]}}))
          return
        }
        const headers = Object.fromEntries(Object.entries(request.headers).filter(([name]) => !['host', 'content-length', 'connection', 'accept-encoding'].includes(name)).map(([k, v]) => [k, String(v)]))
        const upstream = await fetch(new URL(request.url ?? '/', endpoint), {method: request.method, headers, body: chunks.length > 0 ? Buffer.concat(chunks) : undefined})
        response.writeHead(upstream.status, {'content-type': upstream.headers.get('content-type') ?? 'application/json'})
        response.end(Buffer.from(await upstream.arrayBuffer()))
      })().catch(() => response.destroy())
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as {port: number}
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  })
}

const topics: string[] = []
async function newTopic(prefix: string, partitions = 3): Promise<string> {
  const topic = uniqueName(prefix)
  topics.push(topic)
  await createTopics(topic, partitions)
  return topic
}

beforeAll(async () => {
  await bigquery.dataset(DATASET).create()
})

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  for (const topic of topics) await deleteTopics(topic)
  await bigquery.dataset(DATASET).delete({force: true}).catch(() => undefined)
}, 120_000)

describe('kpipe worker analytics: 50,000 events', () => {
  const table = 'events'
  let topic: string
  let events: EventEnvelope[]
  let summary: AnalyticsSummary

  beforeAll(async () => {
    topic = await newTopic('e2e-analytics')
    events = makeEvents(50_000, topic)
    await produce(topic, messagesOf(events))
    summary = summaryOf(await drain(topic, table))
  }, 400_000)

  it('lands every event once, read back with SQL, with its values; the summary says where', async () => {
    expect(summary).toMatchObject({consumed: 50_000, written: 50_000, deadLettered: 0, stoppedBy: 'caught-up'})
    expect(summary.table).toBe(`${PROJECT}.${DATASET}.events`)
    expect(summary.view).toBe(`${PROJECT}.${DATASET}.events_dedup`)
    expect(await counts(table, topic)).toEqual({raw: 50_000, coordinates: 50_000, view: 50_000})
    const [ids] = await sql<{ids: number}>(`SELECT count(DISTINCT event_id) AS ids FROM ${tableRef('events_dedup')} WHERE kafka_topic = '${topic}'`)
    expect(ids!.ids).toBe(50_000)

    const byType = await sql<{type: string; n: number}>(`SELECT type, count(*) AS n FROM ${tableRef('events_dedup')} WHERE kafka_topic = '${topic}' GROUP BY type ORDER BY type`)
    const expected = new Map<string, number>()
    for (const event of events) expected.set(event.type, (expected.get(event.type) ?? 0) + 1)
    expect(new Map(byType.map((r) => [r.type, r.n]))).toEqual(expected)

    // A JSON and an Avro one, field by field.
    for (const event of [events[123]!, events[129]!]) {
      const [row] = await sql<Record<string, unknown>>(
        `SELECT event_id, type, source, entity_key, correlation_id, schema_version, UNIX_MILLIS(occurred_at) AS occurred_ms,
                CAST(JSON_VALUE(payload, '$.n') AS INT64) AS n, JSON_VALUE(payload, '$.nested.ok') AS ok
           FROM ${tableRef('events_dedup')} WHERE kafka_topic = '${topic}' AND event_id = '${event.eventId}'`,
      )
      expect(row).toEqual({
        event_id: event.eventId,
        type: event.type,
        source: event.source,
        entity_key: event.key,
        correlation_id: event.correlationId,
        schema_version: event.schemaVersion,
        occurred_ms: Date.parse(event.occurredAt),
        n: (event.payload as {n: number}).n,
        ok: 'true',
      })
    }
  })

  it('a redelivery of every record lands duplicates in the raw table (the emulator keeps repeated insert ids); the view still has one row per record', async () => {
    const again = summaryOf(await drain(topic, table, {group: `${topic}-replay`}))
    expect(again).toMatchObject({consumed: 50_000, written: 50_000, deadLettered: 0, created: []})
    expect(await counts(table, topic)).toEqual({raw: 100_000, coordinates: 50_000, view: 50_000})
  })
})

describe('kpipe worker analytics: crashes, outages and refusals', () => {
  it('a worker killed with SIGKILL mid-run and restarted leaves exactly one row per record in the view', async () => {
    const topic = await newTopic('e2e-analytics-kill')
    const table = 'killed'
    await produce(topic, messagesOf(makeEvents(50_000, topic)))
    // Small batches on one partition at a time: many commits, and the kill lands between them.
    const worker = startWorker(['--topic', topic, '--group', `${topic}-g`, '--table', table, '--from-beginning', '--metrics-port', '0', '--batch-size', '500', '--max-rows', '100', '--concurrency', '1'])
    await waitUntil(
      async () => worker.child.exitCode !== null || (await sql<{n: number}>(`SELECT count(*) AS n FROM ${tableRef(table)}`).catch(() => [{n: 0}]))[0]!.n >= 5000,
      120_000,
      'the first rows',
    )
    worker.child.kill('SIGKILL')
    expect((await worker.exited).signal, worker.stderr().slice(-2000)).toBe('SIGKILL')
    const before = await counts(table, topic)
    expect(before.view).toBeLessThan(50_000)

    const summary = summaryOf(await drain(topic, table))
    expect(summary.consumed).toBeGreaterThan(0)
    const after = await counts(table, topic)
    expect(after.view).toBe(50_000)
    expect(after.coordinates).toBe(50_000)
    expect(after.raw).toBeGreaterThanOrEqual(50_000) // what was written but not committed came again
  }, 300_000)

  it('BigQuery unreachable for 20 s mid-run: nothing lost, no commit past what BigQuery took, /metrics and /readyz show it, and it recovers by itself', async () => {
    const topic = await newTopic('e2e-analytics-outage')
    const table = 'outage'
    const group = `${topic}-g`
    const proxy: TcpProxy = await tcpProxy(ENDPOINT)
    try {
      const port = privatePort()
      // --from-beginning: "latest" may be resolved after the first produce on a loaded machine.
      const worker = startWorker(['--topic', topic, '--group', group, '--table', table, '--from-beginning', '--metrics-port', String(port), '--batch-size', '500'], {
        KPIPE_BQ_ENDPOINT: `http://127.0.0.1:${proxy.port}`,
      })
      const events = makeEvents(10_000, topic)
      await waitUntil(async () => /joined consumer group/.test(worker.stderr()), 60_000, 'the worker to join its group')
      await produce(topic, messagesOf(events.slice(0, 5000)))
      await waitUntil(async () => (await committedTotal(group, topic)) === 5000, 60_000, 'the first 5,000 to be committed')
      await waitUntil(async () => (await readyz(port)).status === 200, 30_000, '/readyz 200')

      proxy.cut()
      const cutAt = Date.now()
      await produce(topic, messagesOf(events.slice(5000)))
      await waitUntil(async () => (await scrapeMetric(port, 'kpipe_worker_sink_up')) === 0, 30_000, 'kpipe_worker_sink_up 0')
      const failuresEarly = (await scrapeMetric(port, 'kpipe_worker_sink_failures_total')) ?? 0
      expect(failuresEarly).toBeGreaterThan(0)
      await waitUntil(async () => (await readyz(port)).status === 503, 30_000, '/readyz 503 while BigQuery is unreachable')
      expect((await readyz(port)).reasons.join(' ')).toMatch(/sink analytics/)
      // Nothing is committed past what BigQuery took, while it is away.
      expect(await committedIsStored(group, topic, table)).toEqual({committed: 5000, missing: 0})
      await sleep(Math.max(0, 20_000 - (Date.now() - cutAt)))
      const failuresLate = (await scrapeMetric(port, 'kpipe_worker_sink_failures_total')) ?? 0
      expect(failuresLate).toBeGreaterThan(failuresEarly)
      expect(await scrapeMetric(port, 'kpipe_worker_bigquery_requests_total', {outcome: 'failed'})).toBeGreaterThan(0)
      expect(await committedIsStored(group, topic, table)).toEqual({committed: 5000, missing: 0})

      proxy.heal()
      await waitUntil(async () => (await committedTotal(group, topic)) === 10_000, 90_000, 'the worker to catch up by itself')
      expect(await scrapeMetric(port, 'kpipe_worker_sink_up')).toBe(1)
      await waitUntil(async () => (await readyz(port)).status === 200, 30_000, '/readyz 200 again')
      expect(await committedIsStored(group, topic, table)).toEqual({committed: 10_000, missing: 0})
      const stored = await counts(table, topic)
      expect(stored.view).toBe(10_000)
      expect(stored.coordinates).toBe(10_000)
      expect(await scrapeMetric(port, 'kpipe_worker_bigquery_request_rows_sum')).toBeGreaterThanOrEqual(10_000)

      worker.child.kill('SIGTERM')
      expect((await worker.exited).code, worker.stderr().slice(-2000)).toBe(0)
    } finally {
      await proxy.dispose()
    }
  }, 300_000)

  it('insertAll failing with HTTP 500 for every request (an outage, while tables.get still answers) dead-letters nothing and lands everything once it passes', async () => {
    const topic = await newTopic('e2e-analytics-500', 1)
    const table = 'failing'
    const group = `${topic}-g`
    const proxy = await failingInsertAllProxy(ENDPOINT)
    try {
      const port = privatePort()
      const worker = startWorker(['--topic', topic, '--group', group, '--table', table, '--from-beginning', '--metrics-port', String(port)], {KPIPE_BQ_ENDPOINT: proxy.url})
      await waitUntil(async () => /joined consumer group/.test(worker.stderr()), 60_000, 'the worker to join its group')
      proxy.failInserts = true
      await produce(topic, messagesOf(makeEvents(2000, topic)))
      await waitUntil(async () => ((await scrapeMetric(port, 'kpipe_worker_sink_failures_total')) ?? 0) >= 3, 60_000, 'three failed writes')
      await sleep(8000) // several more retries, each answered 500, the control insert too
      expect(proxy.refused).toBeGreaterThan(3)
      // Its series exist from the start (one per error class), all still at 0.
      expect(await scrapeMetric(port, 'kpipe_worker_records_dead_lettered_total')).toBe(0)
      expect(await committedTotal(group, topic)).toBe(0)

      proxy.failInserts = false
      await waitUntil(async () => (await committedTotal(group, topic)) === 2000, 90_000, 'the worker to write everything once insertAll answers')
      expect((await counts(table, topic)).view).toBe(2000)
      worker.child.kill('SIGTERM')
      expect((await worker.exited).code, worker.stderr().slice(-2000)).toBe(0)
      expect(worker.stderr()).not.toMatch(/sink rejected a record/)
      expect((await readTopic(`${topic}.dlq`)).length).toBe(0)
    } finally {
      await proxy.close()
    }
  }, 300_000)

  it('a row the warehouse refuses goes to the dead-letter topic with the reason, and the rest of its batch lands', async () => {
    const topic = await newTopic('e2e-analytics-refused', 1)
    const table = 'typed'
    // A table an analyst typed: entity_key INT64. The emulator fails a whole insertAll request
    // with HTTP 500 for one key that is not a number (Google refuses that row alone).
    await bigquery.dataset(DATASET).createTable(table, {schema: {fields: ANALYTICS_SCHEMA.map((f) => (f.name === 'entity_key' ? {...f, type: 'INT64'} : f))}})
    const events = makeEvents(300, topic).map((event, i) => ({...event, key: i === 150 ? 'user-not-a-number' : String(10_000 + i)}))
    await produce(topic, messagesOf(events))
    const result = await drain(topic, table)
    const summary = summaryOf(result)
    expect(summary).toMatchObject({consumed: 300, written: 299, deadLettered: 1, byErrorClass: {sink: 1}})
    expect(result.stderr).toMatch(/types entity_key as INT64 \(kpipe writes STRING\)/)

    const letters = await readTopic(`${topic}.dlq`)
    expect(letters).toHaveLength(1)
    expect(letters[0]!.headers).toMatchObject({
      'kpipe.dlq.error.class': 'sink',
      'kpipe.dlq.worker': 'analytics',
      'kpipe.dlq.original.topic': topic,
      'kpipe.dlq.original.offset': '150',
    })
    expect(letters[0]!.headers['kpipe.dlq.error.message']).toMatch(/^BigQuery refused the row: HTTP 500 /)
    expect(letters[0]!.key).toBe('user-not-a-number')

    const stored = await counts(table, topic)
    expect(stored.view).toBe(299)
    const [refused] = await sql<{n: number}>(`SELECT count(*) AS n FROM ${tableRef(table)} WHERE kafka_offset = 150`)
    expect(refused!.n).toBe(0)
  }, 300_000)

  it('exits 3 naming BigQuery when its endpoint is unreachable or never answers, and 2 on a dataset name BigQuery cannot have', async () => {
    const topic = await newTopic('e2e-analytics-start', 1)
    const unreachable = await drain(topic, 'events', {env: {KPIPE_BQ_ENDPOINT: 'http://127.0.0.1:1'}})
    expect(unreachable.code, unreachable.stderr.slice(-2000)).toBe(3)
    expect(unreachable.stdout).toContain('"exitCode": 3')
    expect(unreachable.stderr).toMatch(/^Error: BigQuery is unreachable at http:\/\/127\.0\.0\.1:1 \(connect ECONNREFUSED/m)
    expect(unreachable.stderr).toMatch(/^Hint: Check --bq-endpoint/m)

    // A BigQuery that takes the connection and never answers: the start-up gives up, exit 3.
    const hung = createNetServer(() => undefined)
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve))
    const hungAt = `http://127.0.0.1:${(hung.address() as {port: number}).port}`
    const silent = await drain(topic, 'events', {env: {KPIPE_BQ_ENDPOINT: hungAt}}).finally(() => hung.close())
    expect(silent.code, silent.stderr.slice(-2000)).toBe(3)
    expect(silent.stderr).toMatch(new RegExp(`^Error: BigQuery is unreachable at ${hungAt.replaceAll('.', '\\.')} \\(BigQuery did not answer at start-up within 15 s\\)`, 'm'))

    const badName = await drain(topic, 'events', {env: {KPIPE_BQ_DATASET: 'no-dashes-here'}})
    expect(badName.code, badName.stderr.slice(-2000)).toBe(2)
    expect(badName.stderr).toMatch(/^Error: environment variable KPIPE_BQ_DATASET: "no-dashes-here" is not a BigQuery dataset name/m)
    const badFlag = await drain(topic, 'events', {extra: ['--dataset', 'a`b']})
    expect(badFlag.code).toBe(2)
    expect(badFlag.stderr).toMatch(/^Error: flag --bq-dataset: "a`b" is not a BigQuery dataset name/m)
    for (const result of [unreachable, silent, badName, badFlag]) expect(result.stderr).not.toMatch(/bug in kpipe|MetadataLookupWarning/)
  }, 120_000)
})
