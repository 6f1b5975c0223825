/**
 * DESIGN §6 drain benchmark: N (default 1,000,000) queued events of ~250 bytes drained into
 * PostgreSQL + Redis by `kpipe worker events`, beside, in the same run and on the same machine:
 *   (a) the bare PostgreSQL ceiling: upsertEvents() of the same rows from Node, one connection
 *       (or --bare-connections N, writing in parallel);
 *   (b) Kafka Connect (connect-standalone of the stack's Kafka) with the Debezium JDBC sink
 *       writing the same events into a table with the same columns and indexes.
 * Prints a table with ratios and writes it to bench/results/<date>-events-drain.md.
 *
 *   eval "$(./scripts/stack env)"; npm run build
 *   npx tsx bench/events-drain.ts [--events 1000000] [--no-connect] [--no-bare] [--bare-connections 1] [--concurrency 6] [--batch-size 2000]
 *                                 [--compression none|lz4|zstd] [--kafka-read] [--json-out FILE]
 *
 * --compression has kafkajs (this script, not kpipe) compress both topics' batches with the codecs
 * the worker registers; --kafka-read adds kafka-consumer-perf-test of the kpipe topic (the bare
 * read: the ceiling of any drain); --json-out also writes the figures as JSON for bench/run.ts,
 * with the worker's records written every 500 ms of its drain (its /metrics endpoint).
 *
 * Peak RSS is VmHWM from /proc/<pid>/status, sampled until the process exits.
 */
import {spawn} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {cpus, tmpdir} from 'node:os'
import path from 'node:path'
import {parseArgs} from 'node:util'

import {Redis} from 'ioredis'
import {CompressionTypes, Kafka, logLevel, type Message} from 'kafkajs'

import {upsertEvents, type EventRow} from '../src/lib/postgres/events-store.js'
import {migrate} from '../src/lib/postgres/migrations.js'
import {createPgPool} from '../src/lib/postgres/pool.js'
import {registerCompressionCodecs} from '../src/lib/workers/codecs.js'
import {consumerPerfTest, exited, fmt, freePort, load, loadAverage, log, produceFast, sampleMetric, trackMachineCpu, trackProcess, writeJsonOut, type CounterSample, type CpuSplit} from './lib/harness.js'

const REPO = path.resolve(import.meta.dirname, '..')
const {values: args} = parseArgs({
  options: {
    events: {type: 'string', default: '1000000'},
    'no-connect': {type: 'boolean', default: false},
    'no-bare': {type: 'boolean', default: false},
    concurrency: {type: 'string', default: '6'},
    'batch-size': {type: 'string', default: '2000'},
    'connect-tasks': {type: 'string', default: '2'},
    'bare-connections': {type: 'string', default: '1'},
    'worker-args': {type: 'string', default: ''},
    compression: {type: 'string', default: 'none'},
    'kafka-read': {type: 'boolean', default: false},
    'json-out': {type: 'string'},
  },
})
const N = Number(args.events)
const COMPRESSIONS = {none: CompressionTypes.None, gzip: CompressionTypes.GZIP, snappy: CompressionTypes.Snappy, lz4: CompressionTypes.LZ4, zstd: CompressionTypes.ZSTD} as const
if (!(args.compression! in COMPRESSIONS)) throw new Error(`--compression must be one of ${Object.keys(COMPRESSIONS).join(', ')}`)
const COMPRESSION = COMPRESSIONS[args.compression as keyof typeof COMPRESSIONS]
const BROKERS = (process.env.KPIPE_BROKERS ?? 'localhost:9092').split(',')
const PG_URL = process.env.KPIPE_PG_URL ?? 'postgres://localhost:5432/kpipe'
const REDIS_URL = process.env.KPIPE_REDIS_URL ?? 'redis://localhost:6379'
const DEBEZIUM_VERSION = '3.6.0.Final' // 3.6.1.Final is not on Maven Central (latest there: 3.6.0.Final)
const CACHE = path.join(process.env.HOME ?? '/root', '.cache/kpipe')
const id = Date.now().toString(36)
const scope = `b${id}`
const kpipeTopic = `bench-drain-${id}`
const connectTopic = `bench-connect-${id}`
const kafka = new Kafka({clientId: 'kpipe-bench', brokers: BROKERS, logLevel: logLevel.NOTHING})

interface BenchEvent {
  eventId: string
  type: string
  source: string
  occurredAt: string
  key: string
  correlationId: string
  schemaVersion: number
  payload: {plan: string; seats: number; country: string; trial: boolean}
}

function event(i: number): BenchEvent {
  const types = ['user.signup', 'user.login', 'order.placed', 'page.viewed']
  return {
    eventId: `${id.padStart(8, '0').slice(-8)}-7c1d-4e0b-9f3a-${String(i).padStart(12, '0')}`,
    type: `${scope}.${types[i % types.length]}`,
    source: 'accounts',
    occurredAt: new Date(1_795_000_000_000 + i * 3).toISOString(),
    key: `${scope}-user-${i % 20_000}`,
    correlationId: `req-${(i * 7919) % 1_000_003}`,
    schemaVersion: 1,
    payload: {plan: i % 3 ? 'pro' : 'free', seats: i % 50, country: 'DE', trial: i % 2 === 0},
  }
}

// The Connect side reads the same events flattened to the table's columns (payload as JSON text),
// with one schema for every message given by value.converter.schema.content (Kafka ≥ 4.2).
function connectValue(e: BenchEvent): string {
  return JSON.stringify({
    event_id: e.eventId,
    type: e.type,
    source: e.source,
    entity_key: e.key,
    occurred_at: e.occurredAt,
    correlation_id: e.correlationId,
    schema_version: e.schemaVersion,
    payload: JSON.stringify(e.payload),
  })
}
const CONNECT_SCHEMA = {
  type: 'struct',
  optional: false,
  fields: [
    {field: 'event_id', type: 'string', optional: false},
    {field: 'type', type: 'string', optional: false},
    {field: 'source', type: 'string', optional: false},
    {field: 'entity_key', type: 'string', optional: false},
    {field: 'occurred_at', type: 'string', optional: false},
    {field: 'correlation_id', type: 'string', optional: true},
    {field: 'schema_version', type: 'int32', optional: true},
    {field: 'payload', type: 'string', optional: false},
  ],
}

async function createTopics(): Promise<void> {
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      {topic: kpipeTopic, numPartitions: 6, replicationFactor: 1},
      {topic: `${kpipeTopic}.dlq`, numPartitions: 1, replicationFactor: 1},
      {topic: connectTopic, numPartitions: 6, replicationFactor: 1},
    ],
  })
  await admin.disconnect()
}

function produceAll(topic: string, toMessage: (i: number) => Message): Promise<number> {
  return produceFast(kafka, topic, N, toMessage, {compression: COMPRESSION, label: args.compression})
}

interface Result {
  name: string
  events: number
  seconds: number
  eventsPerSec: number
  peakRssMiB: number | null
  cpuSeconds?: number
  wallSeconds?: number
  /** CPU of every process over the drain (first write → last), per event: where the time went. */
  cpuUsPerEvent?: Record<string, number> & {machineIdleShare: number}
  note: string
}

/** The machine's processes, grouped for the CPU split of a drain. */
function processGroup(pid: number, comm: string, cmdline: string): string {
  if (pid === process.pid) return 'bench harness'
  if (/bin\/run\.js worker events/.test(cmdline)) return 'kpipe worker'
  if (comm === 'postgres') return 'PostgreSQL'
  if (comm.startsWith('redis-server')) return 'Redis'
  if (/ConnectStandalone/.test(cmdline)) return 'Kafka Connect'
  if (/ kafka\.Kafka /.test(cmdline)) return 'Kafka broker'
  return 'other'
}
let machine: ReturnType<typeof trackMachineCpu> | undefined

function perEvent(split: CpuSplit): Record<string, number> & {machineIdleShare: number} {
  const out: Record<string, number> = {}
  for (const [group, seconds] of Object.entries(split.seconds)) if (seconds > 0) out[group] = Math.round((seconds * 1e6 * 10) / N) / 10
  out.machine = Math.round((split.busySeconds * 1e6 * 10) / N) / 10
  return {...out, machineIdleShare: Math.round((1000 * split.idleSeconds) / (split.idleSeconds + split.busySeconds)) / 1000}
}

function describeSplit(split: Result['cpuUsPerEvent']): string {
  if (!split) return ''
  const {machine: total, machineIdleShare, ...groups} = split
  const parts = Object.entries(groups)
    .sort((a, b) => b[1] - a[1])
    .map(([group, us]) => `${group} ${us}`)
  return `; CPU µs per event over the drain: ${parts.join(', ')} (machine ${total}, ${Math.round(machineIdleShare * 100)}% idle)`
}

/** The worker's records written, every 500 ms of its drain (for the drain-rate picture). */
let drainSeries: CounterSample[] = []
/** The worker's RSS once a second from its start (is it flat?). */
let workerRssSeries: {atMs: number; rssMiB: number}[] = []

async function runKpipe(): Promise<Result> {
  log('kpipe worker events: draining')
  const metricsPort = await freePort()
  const started = Date.now()
  const child = spawn(
    process.execPath,
    [path.join(REPO, 'bin/run.js'), 'worker', 'events', '--topic', kpipeTopic, '--group', `${kpipeTopic}-g`, '--from-beginning', '--stop-when-caught-up',
      '--json', '--metrics-port', String(metricsPort), '--log-level', 'warn', '--concurrency', args.concurrency!, '--batch-size', args['batch-size']!, ...args['worker-args']!.split(' ').filter(Boolean)],
    {cwd: REPO, env: {...process.env, KPIPE_BROKERS: BROKERS.join(','), KPIPE_PG_URL: PG_URL, KPIPE_REDIS_URL: REDIS_URL}, stdio: ['ignore', 'pipe', 'pipe']},
  )
  const rss = trackProcess(child.pid!)
  const sampledFrom = Date.now()
  const written = sampleMetric(metricsPort, 'kpipe_worker_records_written_total')
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  const code = await exited(child)
  const exitedAt = Date.now()
  const wall = (exitedAt - started) / 1000
  const {peakRssMiB: peak, cpuSeconds: cpu, rssSeries: rssOverTime} = rss.stop()
  drainSeries = written.stop()
  // The drain: from the last sample before the first write to the exit (a second of shutdown).
  const firstWrite = drainSeries.findIndex((x) => x.value > 0)
  const drainFrom = sampledFrom + (firstWrite > 0 ? drainSeries[firstWrite - 1]!.atMs : 0)
  workerRssSeries = rssOverTime
  if (code !== 0) throw new Error(`kpipe worker events exited ${code}: ${stderr.slice(-3000)}`)
  const summary = JSON.parse(stdout) as {consumed: number; inserted: number; durationMs: number; deadLettered: number; projectionsStale: boolean}
  if (summary.inserted !== N || summary.deadLettered !== 0) throw new Error(`kpipe inserted ${summary.inserted} of ${N}: ${stdout}`)
  const seconds = summary.durationMs / 1000
  return {
    name: args['worker-args']!.includes('--no-projections') ? 'kpipe worker events → PostgreSQL only (--no-projections)' : 'kpipe worker events → PostgreSQL + Redis',
    events: N,
    seconds,
    eventsPerSec: Math.round(N / seconds),
    peakRssMiB: peak,
    cpuSeconds: cpu,
    wallSeconds: wall,
    ...(machine ? {cpuUsPerEvent: perEvent(machine.between(drainFrom, exitedAt))} : {}),
    note: `concurrency ${args.concurrency}, batch ${args['batch-size']}${args['worker-args'] ? ` ${args['worker-args']}` : ''}; wall ${wall.toFixed(1)} s with start-up and caught-up check (${Math.round(N / wall).toLocaleString('en-US')}/s); projections stale at exit: ${summary.projectionsStale}`,
  }
}

async function runBare(): Promise<Result> {
  const connections = Number(args['bare-connections'])
  const plural = connections === 1 ? '' : 's'
  log(`bare upsertEvents: same rows, ${connections} connection${plural}, scratch schema`)
  const schema = `kpipe_bench_bare_${id}`
  const pool = createPgPool({url: PG_URL}, {max: connections, applicationName: 'kpipe bench bare upsert'})
  const setup = await pool.connect()
  try {
    await migrate(setup, {schema})
    setup.release()
    const batch = Number(args['batch-size'])
    let next = 0
    const started = process.hrtime.bigint()
    // Each connection takes the next batch until none is left: `connections` writes in flight.
    await Promise.all(
      Array.from({length: connections}, async () => {
        const client = await pool.connect()
        try {
          for (let start = next; start < N; start = next) {
            next += batch
            const rows: EventRow[] = []
            for (let i = start; i < Math.min(N, start + batch); i++) {
              // Row building is part of the measure, as the worker's decode is part of its.
              const e = JSON.parse(JSON.stringify(event(i))) as BenchEvent
              rows.push({...e, kafkaTopic: kpipeTopic, kafkaPartition: i % 6, kafkaOffset: String(Math.floor(i / 6))})
            }
            await upsertEvents(client, rows, {schema})
          }
        } finally {
          client.release()
        }
      }),
    )
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    return {
      name: `(a) bare upsertEvents from Node, ${connections} connection${plural}`,
      events: N,
      seconds,
      eventsPerSec: Math.round(N / seconds),
      peakRssMiB: null,
      note: `batch ${batch}, same table and indexes (scratch schema)`,
    }
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined)
    await pool.end()
  }
}

async function ensureDebezium(): Promise<string> {
  const file = `debezium-connector-jdbc-${DEBEZIUM_VERSION}-plugin.tar.gz`
  const pluginDir = path.join(CACHE, `connect-plugins-${DEBEZIUM_VERSION}`)
  if (existsSync(path.join(pluginDir, 'debezium-connector-jdbc'))) return pluginDir
  mkdirSync(pluginDir, {recursive: true})
  const url = `https://repo1.maven.org/maven2/io/debezium/debezium-connector-jdbc/${DEBEZIUM_VERSION}/${file}`
  log(`downloading ${url}`)
  await sh(`cd ${CACHE} && [ -f ${file} ] || { curl -fsSL -o ${file}.part ${url} && mv ${file}.part ${file}; } && tar -xzf ${file} -C ${pluginDir}`)
  return pluginDir
}

function sh(command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', command], {stdio: ['ignore', 'pipe', 'pipe']})
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command}: ${err}`))))
  })
}

async function runConnect(): Promise<Result> {
  const pluginPath = await ensureDebezium()
  const schema = `kpipe_bench_connect_${id}`
  const pool = createPgPool({url: PG_URL}, {max: 1, applicationName: 'kpipe bench connect watcher'})
  // The same columns and indexes as pipeline.events (created by the real migration in a scratch schema).
  const client = await pool.connect()
  await migrate(client, {schema})
  await client.query(`ALTER TABLE ${schema}.events ALTER COLUMN kafka_topic DROP NOT NULL, ALTER COLUMN kafka_partition DROP NOT NULL, ALTER COLUMN kafka_offset DROP NOT NULL`)
  client.release()
  const pg = new URL(PG_URL)
  const dir = mkdtempSync(path.join(tmpdir(), 'kpipe-bench-connect-'))
  writeFileSync(
    path.join(dir, 'worker.properties'),
    [
      `bootstrap.servers=${BROKERS.join(',')}`,
      'key.converter=org.apache.kafka.connect.storage.StringConverter',
      'value.converter=org.apache.kafka.connect.json.JsonConverter',
      'value.converter.schemas.enable=true',
      `value.converter.schema.content=${JSON.stringify(CONNECT_SCHEMA)}`,
      `offset.storage.file.filename=${path.join(dir, 'offsets')}`,
      'offset.flush.interval.ms=5000',
      `plugin.path=${pluginPath}`,
      'consumer.max.poll.records=2000',
      'consumer.auto.offset.reset=earliest',
      `listeners=http://127.0.0.1:0`,
    ].join('\n'),
  )
  writeFileSync(
    path.join(dir, 'connector.properties'),
    [
      `name=bench-jdbc-${id}`,
      'connector.class=io.debezium.connector.jdbc.JdbcSinkConnector',
      `tasks.max=${args['connect-tasks']}`,
      `topics=${connectTopic}`,
      `connection.url=jdbc:postgresql://${pg.hostname}:${pg.port || 5432}${pg.pathname}?stringtype=unspecified`,
      `connection.username=${decodeURIComponent(pg.username || 'postgres')}`,
      `connection.password=${decodeURIComponent(pg.password || '')}`,
      'insert.mode=upsert',
      'primary.key.mode=record_value',
      'primary.key.fields=event_id',
      'schema.evolution=none',
      `collection.name.format=${schema}.events`,
      'batch.size=2000',
      'use.time.zone=UTC',
    ].join('\n'),
  )
  log(`Kafka Connect (standalone) + Debezium JDBC sink ${DEBEZIUM_VERSION}, tasks.max=${args['connect-tasks']}: draining`)
  const started = Date.now()
  const child = spawn(path.join(REPO, 'scripts/stack'), ['tool', 'connect-standalone', path.join(dir, 'worker.properties'), path.join(dir, 'connector.properties')], {
    cwd: REPO,
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)))
  const rss = trackProcess(child.pid!) // `stack tool` execs java: same pid
  let firstRowAt: number | undefined
  let rows = 0
  try {
    const deadline = Date.now() + 30 * 60_000
    while (rows < N) {
      if (Date.now() > deadline) throw new Error(`Connect wrote ${rows} of ${N} rows in 30 minutes`)
      if (child.exitCode !== null) throw new Error(`connect-standalone exited ${child.exitCode}: ${stderr.slice(-4000)}`)
      await new Promise((resolve) => setTimeout(resolve, 500))
      const {rows: r} = await pool.query<{n: string}>(`SELECT count(*) AS n FROM ${schema}.events`)
      rows = Number(r[0]!.n)
      if (rows > 0 && firstRowAt === undefined) firstRowAt = Date.now()
    }
  } finally {
    child.kill('SIGTERM')
    const stopped = await Promise.race([exited(child), new Promise((resolve) => setTimeout(() => resolve('timeout'), 15_000))])
    if (stopped === 'timeout') child.kill('SIGKILL')
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined)
    await pool.end()
  }
  const done = Date.now()
  const {peakRssMiB: peak, cpuSeconds: cpu} = rss.stop()
  // The row count is asked every 500 ms: the drain began at most that long before the first row was seen.
  const cpuUsPerEvent = machine && firstRowAt !== undefined ? perEvent(machine.between(firstRowAt - 500, done)) : undefined
  // JVM start-up and the connector's own start are excluded: first row to last row.
  const seconds = (done - (firstRowAt ?? started)) / 1000
  return {
    name: `(b) Kafka Connect + Debezium JDBC sink ${DEBEZIUM_VERSION}`,
    events: N,
    seconds,
    eventsPerSec: Math.round(N / seconds),
    peakRssMiB: peak,
    cpuSeconds: cpu,
    wallSeconds: (done - started) / 1000,
    ...(cpuUsPerEvent ? {cpuUsPerEvent} : {}),
    note: `tasks.max ${args['connect-tasks']}, batch.size 2000, upsert on event_id; first row → last row (wall with JVM start ${((done - started) / 1000).toFixed(1)} s)`,
  }
}

async function runKafkaRead(): Promise<Result> {
  log(`kafka-consumer-perf-test: reading the kpipe topic (load ${load()})`)
  const read = await consumerPerfTest({repo: REPO, brokers: BROKERS, topic: kpipeTopic, count: N, group: `${kpipeTopic}-perf`})
  return {
    name: '(c) bare Kafka read: kafka-consumer-perf-test',
    events: N,
    seconds: read.seconds,
    eventsPerSec: read.recordsPerSec,
    peakRssMiB: read.peakRssMiB,
    cpuSeconds: read.cpuSeconds,
    wallSeconds: read.wallSeconds,
    note: `the ceiling of any drain: Java consumer of the stack's Kafka, fetch time (group join ${read.rebalanceMs} ms excluded); wall with JVM start ${read.wallSeconds.toFixed(1)} s`,
  }
}

async function cleanup(): Promise<void> {
  const admin = kafka.admin()
  await admin.connect()
  await admin.deleteTopics({topics: [kpipeTopic, `${kpipeTopic}.dlq`, connectTopic]}).catch(() => undefined)
  await admin.deleteGroups([`${kpipeTopic}-g`, `${kpipeTopic}-perf`]).catch(() => undefined) // a group never joined is not there
  await admin.disconnect()
  const pool = createPgPool({url: PG_URL}, {max: 1})
  await pool.query('DELETE FROM pipeline.events WHERE kafka_topic = $1', [kpipeTopic]).catch(() => undefined)
  // The next run's worker then writes into a table like this one's was (its peers get fresh ones),
  // not past a million dead rows and their index entries.
  await pool.query('VACUUM pipeline.events').catch(() => undefined)
  await pool.end()
  const redis = new Redis(REDIS_URL)
  for (const pattern of [`kpipe:entity:${scope}-*`, `kpipe:counts:${scope}.*`, `kpipe:count-buckets:${scope}.*`]) {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 2000)
      cursor = next
      if (keys.length > 0) await redis.unlink(...keys)
    } while (cursor !== '0')
  }
  redis.disconnect()
}


let avgBytesSeen = 0

async function main(): Promise<void> {
  if (!existsSync(path.join(REPO, 'dist/commands/worker/events.js'))) throw new Error('run `npm run build` first')
  log(`${fmt(N)} events, compression ${args.compression}; machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load ${load()}`)
  const loadAtStart = loadAverage()
  registerCompressionCodecs()
  await createTopics()
  const results: Result[] = []
  machine = trackMachineCpu(processGroup)
  try {
    const avgBytes = await produceAll(kpipeTopic, (i) => {
      const e = event(i)
      return {key: e.key, value: JSON.stringify(e)}
    })
    if (!args['no-connect']) {
      await produceAll(connectTopic, (i) => {
        const e = event(i)
        return {key: e.key, value: connectValue(e)}
      })
    }
    avgBytesSeen = avgBytes
    log(`average value size ${avgBytes} bytes`)
    results.push(await runKpipe())
    if (!args['no-bare']) results.push(await runBare())
    if (!args['no-connect']) results.push(await runConnect())
    if (args['kafka-read']) results.push(await runKafkaRead())
  } finally {
    machine.stop()
    await cleanup().catch((error: unknown) => log(`cleanup failed: ${String(error)}`))
  }

  const kpipe = results[0]!
  const bare = results.find((r) => r.name.startsWith('(a)'))
  const connect = results.find((r) => r.name.startsWith('(b)'))
  const read = results.find((r) => r.name.startsWith('(c)'))
  const lines = [
    `# events drain benchmark — ${new Date().toISOString()}`,
    '',
    `${fmt(N)} queued events (JSON envelopes of ${avgBytesSeen} bytes on average, 6 partitions, compression ${args.compression} by kafkajs) on ${cpus().length} CPUs; load average at the end ${load()}.`,
    'Command: `eval "$(./scripts/stack env)"; npm run build; npx tsx bench/events-drain.ts ' + process.argv.slice(2).join(' ') + '`',
    '',
    '| run | events | seconds | events/s | peak RSS | notes |',
    '|---|---:|---:|---:|---:|---|',
    ...results.map((r) => `| ${r.name} | ${fmt(r.events)} | ${r.seconds.toFixed(1)} | ${fmt(r.eventsPerSec)} | ${r.peakRssMiB === null ? '-' : `${r.peakRssMiB} MiB`} | ${r.note}${describeSplit(r.cpuUsPerEvent)} |`),
    '',
    '| ratio | value | target (DESIGN §6) |',
    '|---|---:|---|',
    `| kpipe events/s | ${fmt(kpipe.eventsPerSec)} | ≥ 30,000 ${kpipe.eventsPerSec >= 30_000 ? '✓' : '✗'} |`,
    ...(connect ? [`| kpipe ÷ Connect | ${(kpipe.eventsPerSec / connect.eventsPerSec).toFixed(2)}× | ≥ 2× ${kpipe.eventsPerSec >= 2 * connect.eventsPerSec ? '✓' : '✗'} |`] : []),
    ...(bare ? [`| kpipe ÷ bare upsert ceiling | ${((100 * kpipe.eventsPerSec) / bare.eventsPerSec).toFixed(0)}% | (report) |`] : []),
    ...(read ? [`| kpipe ÷ bare Kafka read | ${((100 * kpipe.eventsPerSec) / read.eventsPerSec).toFixed(0)}% | (report) |`] : []),
    `| kpipe peak RSS | ${kpipe.peakRssMiB} MiB | < 250 MB ${kpipe.peakRssMiB !== null && kpipe.peakRssMiB * 1.048576 < 250 ? '✓' : '✗'} |`,
    '',
  ]
  const text = lines.join('\n')
  process.stdout.write(`${text}\n`)
  const file = path.join(REPO, 'bench/results', `${new Date().toISOString().slice(0, 10)}-events-drain.md`)
  mkdirSync(path.dirname(file), {recursive: true})
  writeFileSync(file, existsSync(file) ? `${readFileSync(file, 'utf8')}\n${text}\n` : `${text}\n`)
  log(`written to ${path.relative(REPO, file)}`)
  const figures = (r: Result | undefined) => (r ? {...r, recordsPerSec: r.eventsPerSec} : null)
  writeJsonOut(args['json-out'], {
    bench: 'events-drain',
    events: N,
    compression: args.compression,
    avgBytes: avgBytesSeen,
    concurrency: Number(args.concurrency),
    bareConnections: Number(args['bare-connections']),
    loadAverageAtStart: loadAtStart,
    kpipe: figures(kpipe),
    bare: figures(bare),
    connect: figures(connect),
    kafkaRead: figures(read),
    drainSeries,
    workerRssSeries,
  })
}

await main()
