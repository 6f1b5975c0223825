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
import {afterAll, beforeAll} from 'vitest'

import type {EventEnvelope} from '../../../src/lib/records/envelope.js'
import {migrate} from '../../../src/lib/postgres/migrations.js'
import {pgConnectionString} from '../../../src/lib/postgres/pool.js'
import {registerCompressionCodecs} from '../../../src/lib/workers/codecs.js'

export const REPO = path.resolve(import.meta.dirname, '../../..')
export const BROKERS = (process.env.KPIPE_BROKERS ?? 'localhost:9092').split(',')
// Resolved like kpipe resolves it (the OS user fills in a URL without one, as psql does).
export const PG_URL = pgConnectionString(process.env.KPIPE_PG_URL ?? 'postgres://localhost:5432/kpipe')
export const REDIS_URL = process.env.KPIPE_REDIS_URL ?? 'redis://localhost:6379'

registerCompressionCodecs()
export const kafka = new Kafka({clientId: 'kpipe-tests', brokers: BROKERS, logLevel: logLevel.NOTHING})

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
  const producer = kafka.producer({allowAutoTopicCreation: false})
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

let migrated = false
export async function pgPool(): Promise<pg.Pool> {
  const pool = new pg.Pool({connectionString: PG_URL, max: 2})
  if (!migrated) {
    const client = await pool.connect()
    try {
      await migrate(client)
      migrated = true
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

export function redisClient(): Redis {
  return new Redis(REDIS_URL, {lazyConnect: false, maxRetriesPerRequest: 3})
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
  timestamp: string
}

/** Reads every record of a dead-letter topic (from the start, until its end offset). */
export async function readTopic(topic: string): Promise<DeadLetterRead[]> {
  const admin = kafka.admin()
  await admin.connect()
  const ends = await admin.fetchTopicOffsets(topic)
  await admin.disconnect()
  const total = ends.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0)
  const out: DeadLetterRead[] = []
  if (total === 0) return out
  const consumer = kafka.consumer({groupId: uniqueName('test-reader'), maxWaitTimeInMs: 200})
  await consumer.connect()
  await consumer.subscribe({topic, fromBeginning: true})
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`read ${out.length} of ${total} records of ${topic}`)), 60_000)
    void consumer.run({
      eachMessage: async ({message}) => {
        const headers: Record<string, string> = {}
        for (const [name, value] of Object.entries(message.headers ?? ({} as IHeaders))) headers[name] = String(value)
        out.push({key: message.key?.toString() ?? null, value: message.value, headers, timestamp: message.timestamp})
        if (out.length >= total) {
          clearTimeout(timer)
          resolve()
        }
      },
    })
  })
  await consumer.disconnect()
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
  exited: Promise<{code: number | null; signal: NodeJS.Signals | null}>
  /** Resolves when a log line matches. */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>
}

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
  const listeners: (() => void)[] = []
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString()
  })
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString()
    for (const listener of listeners) listener()
  })
  const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null}>((resolve) => child.on('exit', (code, signal) => resolve({code, signal})))
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    waitForLog: (pattern, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const line = stderr.split('\n').find((l) => pattern.test(l))
          if (line) {
            clearTimeout(timer)
            resolve(line)
            return true
          }
          return false
        }
        const timer = setTimeout(() => reject(new Error(`no log line matched ${pattern} within ${timeoutMs} ms; stderr:\n${stderr.slice(-3000)}`)), timeoutMs)
        if (!check()) listeners.push(() => void check())
        void exited.then(() => {
          if (!check()) {
            clearTimeout(timer)
            reject(new Error(`worker exited before a log line matched ${pattern}; stderr:\n${stderr.slice(-3000)}`))
          }
        })
      }),
  }
}

/** Runs the worker until it has caught up; returns its --json summary. */
export async function runWorkerUntilCaughtUp(args: string[], timeoutMs = 180_000): Promise<{summary: Record<string, unknown>; stderr: string; code: number | null}> {
  const worker = startWorker([...args, '--stop-when-caught-up', '--json'])
  const timer = setTimeout(() => worker.child.kill('SIGKILL'), timeoutMs)
  const {code} = await worker.exited
  clearTimeout(timer)
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

/** A free TCP port for a worker's metrics server. */
export async function freePort(): Promise<number> {
  const {createServer} = await import('node:net')
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address() as {port: number}
      server.close(() => resolve(port))
    })
  })
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

/** Runs one of the stack's commands (./scripts/stack ARGS). */
export async function stack(...args: string[]): Promise<string> {
  const {execFile} = await import('node:child_process')
  return new Promise((resolve, reject) => {
    execFile(path.join(REPO, 'scripts/stack'), args, {cwd: REPO, timeout: 180_000, maxBuffer: 16 * 1024 * 1024}, (error, stdout, stderr) => {
      if (error) reject(new Error(`scripts/stack ${args.join(' ')} failed: ${stderr || error.message}`))
      else resolve(stdout)
    })
  })
}

/** Runs a command line, resolving with stdout. */
export async function sh(command: string, input?: string): Promise<string> {
  const {spawn: spawnChild} = await import('node:child_process')
  return new Promise((resolve, reject) => {
    const child = spawnChild('bash', ['-c', command], {cwd: REPO, stdio: ['pipe', 'pipe', 'pipe']})
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} exited ${code}: ${err.slice(-2000)}`))))
    child.stdin.end(input ?? '')
  })
}

/** Stops the stack's PostgreSQL (fast shutdown); `stack('up')` starts it again. */
export async function stopPostgres(): Promise<void> {
  const bin = (await sh('ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1')).trim()
  const data = (await sh('d=.stack/postgres; [ -L "$d" ] && d=$(readlink "$d"); echo "$d/data"')).trim()
  const asPg = process.getuid?.() === 0 ? 'runuser -u postgres -- ' : ''
  await sh(`${asPg}${bin}/pg_ctl -D ${data} -m fast -w -t 60 stop`)
}

/** Stops the stack's Redis (it keeps nothing on disk: its data is gone, as after a crash). */
export async function stopRedis(): Promise<void> {
  const port = new URL(REDIS_URL).port || '6379'
  await sh(`redis-cli -h 127.0.0.1 -p ${port} shutdown nosave || true`)
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

export interface TcpProxy {
  /** A redis:// URL that goes through the proxy. */
  url: string
  /** Stops listening and cuts every connection: clients see connection refused, as if Redis were down. */
  close(): Promise<void>
  /** Listens again on the same port. */
  open(): Promise<void>
  /** close() for good (test cleanup). */
  dispose(): Promise<void>
}

/**
 * A TCP proxy in front of the stack's Redis that a test can close and reopen: the worker loses
 * Redis while Redis keeps its data (a network partition, not a Redis restart).
 */
export async function redisProxy(): Promise<TcpProxy> {
  const {createServer, connect} = await import('node:net')
  const target = new URL(REDIS_URL)
  const targetPort = Number(target.port || 6379)
  const targetHost = target.hostname || '127.0.0.1'
  const sockets = new Set<import('node:net').Socket>()
  let server: import('node:net').Server | undefined
  let port = 0
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((client) => {
        const upstream = connect(targetPort, targetHost)
        for (const socket of [client, upstream]) {
          sockets.add(socket)
          socket.on('close', () => sockets.delete(socket))
          socket.on('error', () => {
            client.destroy()
            upstream.destroy()
          })
        }
        client.pipe(upstream)
        upstream.pipe(client)
      })
      s.once('error', reject)
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as {port: number}).port
        server = s
        resolve()
      })
    })
  const close = async () => {
    const s = server
    server = undefined
    for (const socket of sockets) socket.destroy()
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()))
  }
  await listen()
  const auth = target.username || target.password ? `${target.username}:${target.password}@` : ''
  return {url: `redis://${auth}127.0.0.1:${port}${target.pathname}`, close, open: listen, dispose: close}
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
    await deleteRows(pool!, topic)
    await deleteProjections(redis!, topic)
    await deleteTopics(topic)
    await pool!.end()
    redis!.disconnect()
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
