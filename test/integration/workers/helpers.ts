/**
 * Shared pieces of the events-worker tests against the real stack (./scripts/stack up): each test
 * gets its own topic, dead-letter topic, consumer group, event types and entity keys, and cleans
 * up its rows by kafka_topic, so tests never see each other's data.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {randomUUID} from 'node:crypto'
import {existsSync} from 'node:fs'
import path from 'node:path'

import {Redis} from 'ioredis'
import {CompressionTypes, Kafka, logLevel, type IHeaders, type Message} from 'kafkajs'
import pg from 'pg'
import {afterAll, afterEach, beforeAll} from 'vitest'

import type {EventEnvelope} from '../../../src/lib/records/envelope.js'
import {migrate} from '../../../src/lib/postgres/migrations.js'
import {registerCompressionCodecs} from '../../../src/lib/workers/codecs.js'
import {privatePort, STACK_PG_URL} from '../../helpers/services.js'
import {tcpProxy, type TcpProxy} from '../../helpers/tcp-proxy.js'

export {tcpProxy, type TcpProxy} from '../../helpers/tcp-proxy.js'

export const REPO = path.resolve(import.meta.dirname, '../../..')
export const BROKERS = (process.env.KPIPE_BROKERS ?? 'localhost:9092').split(',')
// Resolved like kpipe resolves it (the OS user fills in a URL without one, as psql does).
export const PG_URL = STACK_PG_URL
export const REDIS_URL = process.env.KPIPE_REDIS_URL ?? 'redis://localhost:6379'

registerCompressionCodecs()
export const kafka = new Kafka({clientId: 'kpipe-tests', brokers: BROKERS, logLevel: logLevel.NOTHING})

/**
 * Bounds of the tests that drain tens of thousands of events, and of their waits: they only
 * catch a hang. The machine is shared (2 cores, several engineers, the e2e project alongside),
 * so no test may count on a speed; speed is measured in bench/.
 */
export const HEAVY_TEST_TIMEOUT_MS = 900_000
export const PATIENCE_MS = 300_000

export function uniqueName(prefix = 'test-events'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`
}

export async function createTopics(topic: string, partitions: number): Promise<void> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {topic, numPartitions: partitions, replicationFactor: 1},
        {topic: `${topic}.dlq`, numPartitions: 1, replicationFactor: 1},
      ],
    })
  } finally {
    await admin.disconnect()
  }
}

export async function deleteTopics(topic: string): Promise<void> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    await admin.deleteTopics({topics: [topic, `${topic}.dlq`]}).catch(() => undefined)
  } finally {
    await admin.disconnect()
  }
}

export type TestEvent = EventEnvelope

/** n valid events over `entities` entities, of two types (named per test), one minute apart in groups. */
export function makeEvents(n: number, scope: string, options: {entities?: number; start?: number} = {}): TestEvent[] {
  const entities = options.entities ?? 1000
  const base = Date.parse('2026-01-01T00:00:00Z')
  return Array.from({length: n}, (_, i) => {
    const index = (options.start ?? 0) + i
    return {
      eventId: `${scope}-${index}`,
      type: index % 3 === 0 ? `${scope}.order.placed` : `${scope}.user.seen`,
      source: 'tests',
      occurredAt: new Date(base + index * 37).toISOString(),
      key: `${scope}-entity-${index % entities}`,
      correlationId: index % 5 === 0 ? null : `corr-${index}`,
      schemaVersion: 1,
      payload: {n: index, note: 'x'.repeat(60), nested: {ok: true}},
    }
  })
}

export function eventMessage(event: TestEvent): Message {
  return {key: event.key, value: JSON.stringify(event)}
}

/** Poison of every kind the decoder knows, with the class it must be dead-lettered with. */
export function poisonMessages(scope: string, count: number, maxBytes: number): {message: Message; errorClass: string}[] {
  const kinds: ((i: number) => {message: Message; errorClass: string})[] = [
    (i) => ({message: {key: `p-${i}`, value: `{"eventId": "${scope}-bad-${i}", oops`}, errorClass: 'decode'}),
    (i) => ({message: {key: `p-${i}`, value: Buffer.from([0xff, 0xfe, 0x7b, 0x00, 0xc3])}, errorClass: 'decode'}),
    (i) => ({message: {key: `p-${i}`, value: null}, errorClass: 'decode'}),
    (i) => ({message: {key: `p-${i}`, value: JSON.stringify([1, 2, i])}, errorClass: 'validation'}),
    (i) => ({
      message: {key: `p-${i}`, value: JSON.stringify({eventId: 42, type: 't', source: 's', occurredAt: 'yesterday', key: 'k', schemaVersion: 1, payload: {}})},
      errorClass: 'validation',
    }),
    (i) => ({
      message: {key: `p-${i}`, value: JSON.stringify({eventId: `${scope}-nopayload-${i}`, type: 't', source: 's', occurredAt: '2026-01-01T00:00:00Z', key: 'k', schemaVersion: 1})},
      errorClass: 'validation',
    }),
    // Avro single-object marker with a fingerprint no schema in the repository has.
    (i) => ({message: {key: `p-${i}`, value: Buffer.concat([Buffer.from([0xc3, 0x01]), Buffer.from('deadbeefcafebabe', 'hex'), Buffer.from([2, 0x61])])}, errorClass: 'schema'}),
    (i) => ({message: {key: `p-${i}`, value: JSON.stringify({eventId: `${scope}-big-${i}`, pad: 'x'.repeat(maxBytes + 10)})}, errorClass: 'oversize'}),
  ]
  return Array.from({length: count}, (_, i) => kinds[i % kinds.length]!(i))
}

/** Produces messages in order (each list element keeps its position), in sendBatch chunks. */
export async function produce(topic: string, messages: Message[], options: {compression?: CompressionTypes; chunk?: number} = {}): Promise<void> {
  // Idempotent: on a loaded machine a send can time out after the broker wrote it, and a plain
  // producer's retry would then write it twice, changing the offsets a test expects.
  const producer = kafka.producer({allowAutoTopicCreation: false, idempotent: true, maxInFlightRequests: 1})
  await producer.connect()
  try {
    const chunk = options.chunk ?? 2000
    for (let i = 0; i < messages.length; i += chunk) {
      await producer.send({topic, acks: -1, compression: options.compression ?? CompressionTypes.None, messages: messages.slice(i, i + chunk)})
    }
  } finally {
    await producer.disconnect()
  }
}

/** Interleaves poison into valid messages at fixed spacing. */
export function interleave(valid: Message[], poison: Message[]): Message[] {
  const out: Message[] = []
  const every = Math.max(1, Math.floor(valid.length / Math.max(1, poison.length)))
  let p = 0
  valid.forEach((message, i) => {
    out.push(message)
    if ((i + 1) % every === 0 && p < poison.length) out.push(poison[p++]!)
  })
  while (p < poison.length) out.push(poison[p++]!)
  return out
}

const migrated = new Set<string>()
/** A pool on the stack's PostgreSQL (or the database at `url`), its pipeline schema migrated. */
export async function pgPool(url: string = PG_URL): Promise<pg.Pool> {
  const pool = new pg.Pool({connectionString: url, max: 2})
  // A server restarted under an idle connection must not end the test process.
  pool.on('error', () => undefined)
  if (!migrated.has(url)) {
    const client = await pool.connect()
    try {
      await migrate(client)
      migrated.add(url)
    } finally {
      client.release()
    }
  }
  return pool
}

export async function rowCounts(pool: pg.Pool, topic: string): Promise<{rows: number; distinct: number}> {
  const {rows} = await pool.query<{rows: string; distinct: string}>(
    'SELECT count(*) AS rows, count(DISTINCT event_id) AS distinct FROM pipeline.events WHERE kafka_topic = $1',
    [topic],
  )
  return {rows: Number(rows[0]!.rows), distinct: Number(rows[0]!.distinct)}
}

export async function deleteRows(pool: pg.Pool, topic: string): Promise<void> {
  await pool.query('DELETE FROM pipeline.events WHERE kafka_topic = $1', [topic])
}

export function redisClient(url: string = REDIS_URL): Redis {
  const client = new Redis(url, {lazyConnect: false, maxRetriesPerRequest: 3})
  client.on('error', () => undefined) // a command fails instead; the tests look at those
  return client
}

/** Deletes the projection keys of one test's scope. */
export async function deleteProjections(redis: Redis, scope: string): Promise<void> {
  for (const pattern of [`kpipe:entity:${scope}-*`, `kpipe:counts:${scope}.*`, `kpipe:count-buckets:${scope}.*`]) {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) await redis.unlink(...keys)
    } while (cursor !== '0')
  }
}

/** A snapshot of one scope's projections: every entity hash and every count, for equality checks. */
export async function projectionSnapshot(redis: Redis, scope: string): Promise<Record<string, unknown>> {
  const snapshot: Record<string, unknown> = {}
  for (const pattern of [`kpipe:entity:${scope}-*`, `kpipe:counts:${scope}.*`]) {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
      cursor = next
      for (const key of keys) {
        snapshot[key] = key.startsWith('kpipe:entity:') ? await redis.hgetall(key) : await redis.pfcount(key)
      }
    } while (cursor !== '0')
  }
  return Object.fromEntries(Object.entries(snapshot).sort(([a], [b]) => a.localeCompare(b)))
}

export interface DeadLetterRead {
  key: string | null
  value: Buffer | null
  headers: Record<string, string>
  /** The headers as they came, bytes and all (`headers` decodes them as UTF-8). */
  rawHeaders: IHeaders
  timestamp: string
}

/** Reads every record of a dead-letter topic (from the start, until its end offset). */
export async function readTopic(topic: string): Promise<DeadLetterRead[]> {
  const admin = kafka.admin()
  await admin.connect()
  let total: number
  try {
    const ends = await admin.fetchTopicOffsets(topic)
    total = ends.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0)
  } finally {
    await admin.disconnect()
  }
  const out: DeadLetterRead[] = []
  if (total === 0) return out
  const consumer = kafka.consumer({groupId: uniqueName('test-reader'), maxWaitTimeInMs: 200})
  await consumer.connect()
  try {
    await consumer.subscribe({topic, fromBeginning: true})
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${out.length} of ${total} records of ${topic}`)), 60_000)
      consumer
        .run({
          eachMessage: async ({message}) => {
            const headers: Record<string, string> = {}
            for (const [name, value] of Object.entries(message.headers ?? ({} as IHeaders))) headers[name] = String(value)
            out.push({key: message.key?.toString() ?? null, value: message.value, headers, rawHeaders: message.headers ?? {}, timestamp: message.timestamp})
            if (out.length >= total) {
              clearTimeout(timer)
              resolve()
            }
          },
        })
        .catch(reject)
    })
  } finally {
    await consumer.disconnect()
  }
  return out
}

export function assertBuilt(): void {
  if (!existsSync(path.join(REPO, 'dist/commands/worker/events.js'))) {
    throw new Error('These tests run the built CLI: run `npm run build` first.')
  }
}

export interface WorkerProcess {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  /** Resolves once the process exited and its stdout and stderr are read to the end. */
  exited: Promise<{code: number | null; signal: NodeJS.Signals | null}>
  /** Resolves with the first complete log line (stderr) that matches, printed before the call or after. */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>
}

/** Workers of the test that runs now: whatever happens to the test, none outlives it. */
const liveWorkers = new Set<WorkerProcess>()

async function stopLiveWorkers(): Promise<void> {
  const workers = [...liveWorkers]
  for (const worker of workers) worker.child.kill('SIGKILL')
  await Promise.all(workers.map((worker) => worker.exited))
}
// Registered on the suite of every test file that imports these helpers.
afterEach(stopLiveWorkers)
afterAll(stopLiveWorkers)

/** Starts `kpipe worker events` as a child process of the built CLI. */
export function startWorker(args: string[], env: Record<string, string> = {}): WorkerProcess {
  assertBuilt()
  const child = spawn(process.execPath, [path.join(REPO, 'bin/run.js'), 'worker', 'events', ...args], {
    cwd: REPO,
    env: {...process.env, KPIPE_BROKERS: BROKERS.join(','), KPIPE_PG_URL: PG_URL, KPIPE_REDIS_URL: REDIS_URL, ...env},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  let done = false
  const listeners = new Set<() => void>()
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString()
  })
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString()
    for (const listener of listeners) listener()
  })
  // 'close', not 'exit': 'exit' may come before the last output is read, cutting the summary short.
  const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null}>((resolve) => {
    child.once('error', () => undefined) // a spawn failure ends in 'close' too
    child.once('close', (code, signal) => {
      done = true
      for (const listener of listeners) listener()
      resolve({code, signal})
    })
  })
  // Only whole lines: a chunk may end in the middle of one.
  const completeLines = () => (done ? stderr : stderr.slice(0, stderr.lastIndexOf('\n') + 1)).split('\n')
  const worker: WorkerProcess = {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    waitForLog: (pattern, timeoutMs = 120_000) =>
      new Promise((resolve, reject) => {
        const finish = (error: Error | undefined, line?: string) => {
          listeners.delete(check)
          clearTimeout(timer)
          if (error) reject(error)
          else resolve(line!)
        }
        const check = () => {
          const line = completeLines().find((l) => pattern.test(l))
          if (line !== undefined) finish(undefined, line)
          else if (done) finish(new Error(`the worker exited before a log line matched ${pattern}; stderr:\n${stderr.slice(-3000)}`))
        }
        const timer = setTimeout(() => finish(new Error(`no log line matched ${pattern} within ${timeoutMs} ms; stderr:\n${stderr.slice(-3000)}`)), timeoutMs)
        listeners.add(check)
        check()
      }),
  }
  liveWorkers.add(worker)
  void exited.then(() => liveWorkers.delete(worker))
  return worker
}

export interface ServingWorker extends WorkerProcess {
  /** Port of its /metrics, /healthz and /readyz, as the worker logged it. */
  port: number
}

/**
 * Starts a worker that serves /metrics, /healthz and /readyz, and returns once it listens,
 * with the port read from its own log line. `--metrics-port 0` turns the server off (there is no
 * "any free port" for it), so the port is picked here, below the range `listen(0)` hands out, and
 * a worker that finds it taken all the same (EADDRINUSE before it consumed anything) is started
 * again on another.
 */
export async function startServingWorker(args: string[], env: Record<string, string> = {}): Promise<ServingWorker> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const worker = startWorker([...args, '--metrics-port', String(privatePort())], env)
    try {
      const line = await worker.waitForLog(/serving \/metrics, \/healthz and \/readyz/)
      return Object.assign(worker, {port: (JSON.parse(line) as {port: number}).port})
    } catch (error) {
      await worker.exited
      if (!/EADDRINUSE/.test(worker.stderr())) throw error
    }
  }
  throw new Error('no free port for a worker metrics server after 10 tries')
}

/** Runs the worker until it has caught up; returns its --json summary. */
export async function runWorkerUntilCaughtUp(args: string[], env: Record<string, string> = {}): Promise<{summary: Record<string, unknown>; stderr: string; code: number | null}> {
  // A worker that never catches up is killed with the test when the test times out.
  const worker = startWorker([...args, '--stop-when-caught-up', '--json'], env)
  const {code} = await worker.exited
  let summary: Record<string, unknown>
  try {
    summary = JSON.parse(worker.stdout()) as Record<string, unknown>
  } catch {
    throw new Error(`worker exited ${code} without a JSON summary; stderr:\n${worker.stderr().slice(-4000)}`)
  }
  return {summary, stderr: worker.stderr(), code}
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Reads one metric's value (sum over label sets matching `labels`) from a worker's /metrics. */
export async function scrapeMetric(port: number, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => undefined)
  if (!response?.ok) return undefined
  const text = await response.text()
  let total: number | undefined
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue
    total = (total ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return total
}

/** Runs a command line, resolving with stdout once the command exited 0 and its output is read. */
export async function sh(command: string, input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', command], {cwd: REPO, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe']})
    let out = ''
    let err = ''
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
    child.once('error', reject)
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} exited ${code}: ${err.slice(-2000)}`))))
    if (input !== undefined) {
      // A command that exits before reading all its input makes this write fail (EPIPE); its
      // exit code says what went wrong, so the write error itself is not a second failure.
      child.stdin!.on('error', () => undefined)
      child.stdin!.end(input)
    }
  })
}

export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await sleep(200)
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}

/** A fingerprint of one topic's rows, ingested_at included: equal fingerprints mean nothing changed. */
export async function rowsFingerprint(pool: pg.Pool, topic: string): Promise<string> {
  const {rows} = await pool.query<{fp: string}>(
    `SELECT md5(string_agg(event_id || '|' || kafka_partition || '|' || kafka_offset || '|' || ingested_at::text || '|' || payload::text, ',' ORDER BY event_id)) AS fp
       FROM pipeline.events WHERE kafka_topic = $1`,
    [topic],
  )
  return rows[0]!.fp
}

/** Checks that Redis holds for each entity its newest event and for each minute the right count. */
export async function expectProjectionsMatch(redis: Redis, events: TestEvent[]): Promise<{entities: number; buckets: number}> {
  const newest = new Map<string, TestEvent>()
  for (const event of events) {
    const current = newest.get(event.key)
    const t = Date.parse(event.occurredAt)
    if (!current || t > Date.parse(current.occurredAt) || (t === Date.parse(current.occurredAt) && event.eventId > current.eventId)) newest.set(event.key, event)
  }
  const problems: string[] = []
  for (const [key, event] of newest) {
    const hash = await redis.hget(`kpipe:entity:${key}`, 'eventId')
    if (hash !== event.eventId) problems.push(`${key}: ${hash} instead of ${event.eventId}`)
  }
  const buckets = new Map<string, string[]>()
  for (const event of events) {
    const d = new Date(Date.parse(event.occurredAt))
    const pad = (n: number) => String(n).padStart(2, '0')
    const bucket = `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}`
    const key = `kpipe:counts:${event.type}:${bucket}`
    buckets.set(key, [...(buckets.get(key) ?? []), event.eventId])
  }
  // The same set of ids gives the same HyperLogLog: build the expected one beside it and compare.
  const scratch = `kpipe:test-scratch:${randomUUID()}`
  for (const [key, ids] of buckets) {
    await redis.del(scratch)
    for (let i = 0; i < ids.length; i += 5000) await redis.pfadd(scratch, ...ids.slice(i, i + 5000))
    const [expected, actual] = await Promise.all([redis.pfcount(scratch), redis.pfcount(key)])
    if (expected !== actual) problems.push(`${key}: count ${actual} instead of ${expected}`)
  }
  await redis.del(scratch)
  if (problems.length > 0) throw new Error(`Redis projections differ from the events:\n${problems.slice(0, 20).join('\n')}`)
  return {entities: newest.size, buckets: buckets.size}
}

/** A proxy in front of a Redis (the stack's by default); see tcpProxy. */
export async function redisProxy(redisUrl: string = REDIS_URL): Promise<TcpProxy> {
  return tcpProxy(redisUrl)
}

/** Sum of a consumer group's committed offsets on a topic (-1, never committed, counts as 0). */
export async function committedTotal(group: string, topic: string): Promise<number> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const [offsets] = await admin.fetchOffsets({groupId: group, topics: [topic]})
    return (offsets?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0)
  } finally {
    await admin.disconnect()
  }
}

/**
 * One suite's own topic with a PostgreSQL pool and a Redis client, created before the suite and
 * cleaned up after it (rows and projections of that topic, then the topic).
 */
export function useTopicFixture(partitions = 6): {readonly topic: string; readonly pool: pg.Pool; readonly redis: Redis} {
  const topic = uniqueName()
  let pool: pg.Pool | undefined
  let redis: Redis | undefined
  beforeAll(async () => {
    pool = await pgPool()
    redis = redisClient()
    await createTopics(topic, partitions)
  })
  afterAll(async () => {
    // Whatever part of the set-up ran is undone (a failed set-up must not hide its own error).
    if (pool) await deleteRows(pool, topic)
    if (redis) await deleteProjections(redis, topic)
    await deleteTopics(topic)
    await pool?.end()
    redis?.disconnect()
  })
  return {
    topic,
    get pool() {
      return pool!
    },
    get redis() {
      return redis!
    },
  }
}
