/**
 * DESIGN §6 drain benchmark of the logs worker: N (default 1,000,000) queued log lines of every
 * shape the parser reads (src/lib/logs/synthetic-lines.ts: JSON dialects, logfmt, plain text,
 * truncated JSON, ~2% dead letters) drained into pipeline.logs by `kpipe worker logs`, beside,
 * in the same run and on the same machine:
 *   (a) the bare PostgreSQL ceiling: insertLogs() of the same rows (parsed beforehand, outside the
 *       timing) from Node, one connection (or --bare-connections N), into a scratch schema made by
 *       the real migrations (same day partitions, same indexes);
 *   (b) the bare Kafka read: kafka-consumer-perf-test of the stack's Kafka on the same topic.
 * Prints a table with ratios and appends it to bench/results/<date>-logs-drain.md.
 *
 *   eval "$(./scripts/stack env)"; npm run build
 *   npx tsx bench/logs-drain.ts [--lines 1000000] [--partitions 3] [--batch-size 2000] [--concurrency 3]
 *                               [--compression none|lz4|zstd] [--no-bare] [--bare-connections 1]
 *                               [--no-kafka-read] [--no-dead-letters] [--worker-args="..."] [--node-options="..."] [--cpu-prof DIR]
 *
 * Peak RSS is VmHWM from /proc/<pid>/status, sampled every 200 ms until the process exits (the
 * worker re-executes itself with execve for its fixed heap: same pid, sampled throughout). CPU is
 * utime + stime from /proc/<pid>/stat of the worker and of the PostgreSQL backends serving its
 * connections (found by their client ports), so the report can say where the time went.
 *
 * Lines are dated in the last few hours: the retention pass of every logs worker on the stack
 * drops day partitions of the shared pipeline.logs older than its retention, so old dates would
 * both lose our rows and drop other suites' days; the worker here runs with --retention 9000d.
 */
import {execFile, spawn} from 'node:child_process'
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {cpus} from 'node:os'
import path from 'node:path'
import {promisify, parseArgs} from 'node:util'

import {CompressionTypes, Kafka, logLevel} from 'kafkajs'
import type pg from 'pg'

import {parseLogRecord} from '../src/lib/logs/log-parse.js'
import type {LogRow} from '../src/lib/logs/log-line.js'
import {syntheticLogRecords, type SyntheticLogRecord} from '../src/lib/logs/synthetic-lines.js'
import {DAY_MS, daysOf, ensureDayPartitions, insertLogs, partitionName, utcDayOf} from '../src/lib/postgres/logs-store.js'
import {migrate, quoteIdent} from '../src/lib/postgres/migrations.js'
import {createPgPool} from '../src/lib/postgres/pool.js'
import {registerCompressionCodecs} from '../src/lib/workers/codecs.js'
import type {SourceRecord} from '../src/lib/workers/types.js'
import {consumerPerfTest, cpuSeconds, exited, fmt, freePort, load, loadAverage, log, produceFast, sampleMetric, trackProcess, writeJsonOut, type CounterSample} from './lib/harness.js'

const REPO = path.resolve(import.meta.dirname, '..')
const {values: args} = parseArgs({
  options: {
    lines: {type: 'string', default: '1000000'},
    partitions: {type: 'string', default: '3'},
    'batch-size': {type: 'string', default: '2000'},
    concurrency: {type: 'string', default: '3'},
    compression: {type: 'string', default: 'none'},
    'no-bare': {type: 'boolean', default: false},
    'bare-connections': {type: 'string', default: '1'},
    'no-kafka-read': {type: 'boolean', default: false},
    // Leaves the ~2% dead letters out of the input (an experiment: what the per-batch dead-letter send costs).
    'no-dead-letters': {type: 'boolean', default: false},
    'worker-args': {type: 'string', default: ''},
    // Writes the worker's V8 CPU profile (.cpuprofile) into DIR (NODE_OPTIONS=--cpu-prof on the child).
    'cpu-prof': {type: 'string'},
    // Added to the worker's NODE_OPTIONS, e.g. "--max-semi-space-size=16 --max-old-space-size=192"
    // (heap flags given there replace the worker's own, see src/lib/workers/heap.ts).
    'node-options': {type: 'string', default: ''},
    // Also writes this run's figures as JSON (for bench/run.ts); the Markdown is written as before.
    'json-out': {type: 'string'},
  },
})
const N = Number(args.lines)
const PARTITIONS = Number(args.partitions)
const BATCH = Number(args['batch-size'])
const COMPRESSIONS = {none: CompressionTypes.None, lz4: CompressionTypes.LZ4, zstd: CompressionTypes.ZSTD} as const
if (!(args.compression! in COMPRESSIONS)) throw new Error(`--compression must be one of ${Object.keys(COMPRESSIONS).join(', ')}`)
const COMPRESSION = COMPRESSIONS[args.compression as keyof typeof COMPRESSIONS]
const BROKERS = (process.env.KPIPE_BROKERS ?? 'localhost:9092').split(',')
const PG_URL = process.env.KPIPE_PG_URL ?? 'postgres://localhost:5432/kpipe'
const id = Date.now().toString(36)
const scope = `bl${id}`
const topic = `bench-logs-${id}`
const group = `${topic}-g`
const readGroup = `${topic}-perf`
// Every line within the last day or two whatever N (see the file comment): 20 ms apart, closer for huge N.
const SPACING_MS = Math.max(1, Math.min(20, Math.floor((1.5 * DAY_MS) / N)))
// Lines generated; with --no-dead-letters a few more, of which the dead letters are left out.
const GENERATED = args['no-dead-letters'] ? Math.ceil(N * 1.05) + 100 : N
const START_MS = Date.now() - GENERATED * SPACING_MS - 60_000
const KAFKA_DELAY_MS = 250 // the Kafka timestamp: the line reached Kafka a quarter second after it was written

const kafka = new Kafka({clientId: 'kpipe-bench', brokers: BROKERS, logLevel: logLevel.NOTHING})

// Explicit partitions, in order: on a fresh topic record i is at offset floor(i / P) of partition
// i % P, so the bare peer's rows carry the same coordinates as the worker's.
const partitionOf = (i: number) => i % PARTITIONS
const offsetOf = (i: number) => String(Math.floor(i / PARTITIONS))
const kafkaTimestampOf = (i: number) => String(START_MS + i * SPACING_MS + KAFKA_DELAY_MS)

async function createTopics(): Promise<void> {
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      {topic, numPartitions: PARTITIONS, replicationFactor: 1},
      {topic: `${topic}.dlq`, numPartitions: 1, replicationFactor: 1},
    ],
  })
  await admin.disconnect()
}

/** Produces the records fast, each to the partition its coordinates say. */
function produceAll(records: readonly SyntheticLogRecord[]): Promise<number> {
  return produceFast(
    kafka,
    topic,
    N,
    (i) => {
      const r = records[i]!
      return {key: r.key, value: r.value, headers: r.headers, partition: partitionOf(i), timestamp: kafkaTimestampOf(i)}
    },
    {compression: COMPRESSION, label: args.compression},
  )
}

/**
 * CPU time of the PostgreSQL backends serving a process's connections: its TCP client ports
 * (ss) matched to pg_stat_activity.client_port, each backend's /proc CPU sampled every second.
 * The backends are the worker's own fresh connections, so their whole CPU time counts.
 */
function trackBackends(pid: number, watcher: pg.Pool): {stop(): Promise<number>} {
  const pgPort = new URL(PG_URL).port || '5432'
  const backends = new Map<number, number>()
  let stopped = false
  const sample = async () => {
    try {
      const {stdout} = await promisify(execFile)('ss', ['-tnpH', 'state', 'established', `dport = :${pgPort}`])
      const ports = stdout
        .split('\n')
        .filter((line) => line.includes(`pid=${pid},`))
        // Recv-Q Send-Q Local:Port Peer:Port Process
        .map((line) => Number(line.trim().split(/\s+/)[2]?.split(':').at(-1)))
        .filter((port) => Number.isFinite(port))
      if (ports.length > 0) {
        const {rows} = await watcher.query<{pid: number}>('SELECT pid FROM pg_stat_activity WHERE client_port = ANY($1::int[])', [ports])
        for (const row of rows) if (!backends.has(row.pid)) backends.set(row.pid, 0)
      }
    } catch {
      // the worker is starting or gone: the next sample finds its connections
    }
    for (const backend of backends.keys()) {
      const cpu = cpuSeconds(backend)
      if (cpu !== undefined) backends.set(backend, cpu)
    }
  }
  const loop = (async () => {
    while (!stopped) {
      await sample()
      await new Promise((resolve) => setTimeout(resolve, 1000))
    }
  })()
  return {
    stop: async () => {
      stopped = true
      await loop
      return [...backends.values()].reduce((sum, cpu) => sum + cpu, 0)
    },
  }
}

interface SinkFigures {
  /** Sink writes (batches), their records, and the seconds spent in them (all partitions). */
  writes: number
  records: number
  seconds: number
}

/**
 * Scrapes the worker's Prometheus endpoint every 500 ms and keeps the last answer: how many sink
 * writes, of how many records, taking how long. The last half second before the exit is missed.
 */
function scrapeSinkFigures(port: number): {stop(): SinkFigures | undefined} {
  let last: SinkFigures | undefined
  const value = (text: string, name: string) => Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN)
  const timer = setInterval(() => {
    fetch(`http://127.0.0.1:${port}/metrics`)
      .then(async (response) => {
        const text = await response.text()
        const figures = {
          writes: value(text, 'kpipe_worker_batch_records_count'),
          records: value(text, 'kpipe_worker_batch_records_sum'),
          seconds: value(text, 'kpipe_worker_sink_latency_seconds_sum'),
        }
        if (Object.values(figures).every(Number.isFinite)) last = figures
      })
      .catch(() => undefined) // not listening yet, or gone
  }, 500)
  return {
    stop: () => {
      clearInterval(timer)
      return last
    },
  }
}

interface Result {
  name: string
  lines: number
  seconds: number
  linesPerSec: number
  peakRssMiB: number | null
  /** CPU µs per line of the process itself and of its PostgreSQL backends. */
  cpuUsPerLine: {process?: number; postgres?: number}
  note: string
}

/** The worker's records written, every 500 ms of its drain (for the drain-rate picture). */
let drainSeries: CounterSample[] = []

const perLine = (seconds: number, lines: number) => Math.round((seconds * 1e6) / lines)

async function runKpipe(expected: {rows: number; deadLetters: number}): Promise<Result> {
  log(`kpipe worker logs: draining (load ${load()})`)
  const watcher = createPgPool({url: PG_URL}, {max: 1, applicationName: 'kpipe bench logs-drain watcher'})
  const env: NodeJS.ProcessEnv = {...process.env, KPIPE_BROKERS: BROKERS.join(','), KPIPE_PG_URL: PG_URL}
  const nodeOptions = [env.NODE_OPTIONS ?? '', args['node-options']!]
  if (args['cpu-prof']) {
    mkdirSync(args['cpu-prof'], {recursive: true})
    nodeOptions.push(`--cpu-prof --cpu-prof-dir=${path.resolve(args['cpu-prof'])}`)
  }
  if (nodeOptions.some(Boolean)) env.NODE_OPTIONS = nodeOptions.filter(Boolean).join(' ')
  const metricsPort = await freePort()
  const started = Date.now()
  const child = spawn(
    process.execPath,
    [
      path.join(REPO, 'bin/run.js'),
      'worker',
      'logs',
      '--topic',
      topic,
      '--group',
      group,
      '--from-beginning',
      '--stop-when-caught-up',
      '--json',
      '--metrics-port',
      String(metricsPort),
      '--log-level',
      'warn',
      // Never drop a day partition of the shared pipeline.logs (other suites' lines are dated now too).
      '--retention',
      '9000d',
      '--concurrency',
      args.concurrency!,
      '--batch-size',
      String(BATCH),
      ...args['worker-args']!.split(' ').filter(Boolean),
    ],
    {cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe']},
  )
  const tracked = trackProcess(child.pid!)
  const backends = trackBackends(child.pid!, watcher)
  const scrape = scrapeSinkFigures(metricsPort)
  const written = sampleMetric(metricsPort, 'kpipe_worker_records_written_total')
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  const code = await exited(child)
  const wall = (Date.now() - started) / 1000
  const {peakRssMiB, cpuSeconds: workerCpu} = tracked.stop()
  const pgCpu = await backends.stop()
  const sink = scrape.stop()
  drainSeries = written.stop()
  await watcher.end()
  if (code !== 0) throw new Error(`kpipe worker logs exited ${code}: ${stderr.slice(-3000)}`)
  const summary = JSON.parse(stdout) as {consumed: number; inserted: number; durationMs: number; deadLettered: number; droppedPartitions: string[]}
  if (summary.consumed !== N || summary.inserted !== expected.rows || summary.deadLettered !== expected.deadLetters) {
    throw new Error(`kpipe consumed ${summary.consumed}, inserted ${summary.inserted} (expected ${expected.rows}), dead-lettered ${summary.deadLettered} (expected ${expected.deadLetters}): ${stdout}`)
  }
  if (summary.droppedPartitions.length > 0) throw new Error(`the worker dropped partitions: ${summary.droppedPartitions.join(', ')}`)
  const seconds = summary.durationMs / 1000
  const concurrency = Number(args.concurrency)
  // Each partition's loop is serial: the share of its time spent waiting on sink.write (PostgreSQL).
  const sinkNote = sink
    ? `; ${fmt(sink.writes)} sink writes of ${Math.round(sink.records / sink.writes)} rows on average, ${((1000 * sink.seconds) / sink.writes).toFixed(0)} ms each, ` +
      `${((100 * sink.seconds) / (Math.min(concurrency, PARTITIONS) * seconds)).toFixed(0)}% of the ${Math.min(concurrency, PARTITIONS)} partition loops' time (last scrape)`
    : ''
  return {
    name: 'kpipe worker logs → pipeline.logs',
    lines: N,
    seconds,
    linesPerSec: Math.round(N / seconds),
    peakRssMiB,
    cpuUsPerLine: {process: perLine(workerCpu, N), postgres: pgCpu > 0 ? perLine(pgCpu, N) : undefined},
    note:
      `concurrency ${args.concurrency}, batch ${BATCH}${args['worker-args'] ? ` ${args['worker-args']}` : ''}; ${fmt(expected.rows)} rows + ${fmt(expected.deadLetters)} dead letters; ` +
      `wall ${wall.toFixed(1)} s with start-up and caught-up check (${fmt(Math.round(N / wall))}/s); CPU worker ${workerCpu.toFixed(1)} s, its PostgreSQL backends ${pgCpu.toFixed(1)} s` +
      sinkNote +
      (args['node-options'] ? `; NODE_OPTIONS ${args['node-options']}` : '') +
      (args['cpu-prof'] ? '; with --cpu-prof' : ''),
  }
}

async function runBare(rows: LogRow[]): Promise<Result> {
  const connections = Number(args['bare-connections'])
  const plural = connections === 1 ? '' : 's'
  log(`bare insertLogs: same ${fmt(rows.length)} rows, ${connections} connection${plural}, scratch schema (load ${load()})`)
  const schema = `kpipe_bench_logs_bare_${id}`
  const pool = createPgPool({url: PG_URL}, {max: connections, applicationName: 'kpipe bench bare insertLogs'})
  const setup = await pool.connect()
  try {
    await migrate(setup, {schema})
    await ensureDayPartitions(setup, daysOf(rows), {schema})
    setup.release()
    // The worker's batches each hold one partition's records in offset order; so do these.
    const batches: LogRow[][] = []
    for (let p = 0; p < PARTITIONS; p++) {
      const ofPartition = rows.filter((row) => row.kafkaPartition === p)
      for (let start = 0; start < ofPartition.length; start += BATCH) batches.push(ofPartition.slice(start, start + BATCH))
    }
    const clients = await Promise.all(Array.from({length: connections}, () => pool.connect()))
    const backendPids = await Promise.all(clients.map(async (client) => (await client.query<{pid: number}>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid))
    const cpuBefore = backendPids.map((pid) => cpuSeconds(pid) ?? 0)
    const nodeBefore = process.cpuUsage()
    let next = 0
    let inserted = 0
    const started = process.hrtime.bigint()
    // Each connection takes the next batch until none is left: `connections` writes in flight.
    await Promise.all(
      clients.map(async (client) => {
        while (next < batches.length) {
          // Not `inserted += await …`: that reads `inserted` before the await and loses the other connections' counts.
          const result = await insertLogs(client, batches[next++]!, {schema})
          inserted += result.inserted
        }
      }),
    )
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    const nodeCpu = process.cpuUsage(nodeBefore)
    const pgCpu = backendPids.reduce((sum, pid, i) => sum + ((cpuSeconds(pid) ?? 0) - cpuBefore[i]!), 0)
    for (const client of clients) client.release()
    if (inserted !== rows.length) throw new Error(`bare insertLogs inserted ${inserted} of ${rows.length} rows`)
    return {
      name: `(a) bare insertLogs from Node, ${connections} connection${plural}`,
      lines: rows.length,
      seconds,
      linesPerSec: Math.round(rows.length / seconds),
      peakRssMiB: null,
      cpuUsPerLine: {process: perLine((nodeCpu.user + nodeCpu.system) / 1e6, rows.length), postgres: perLine(pgCpu, rows.length)},
      note: `batch ${BATCH}, one partition per batch, parsed beforehand; same table, day partitions and indexes (scratch schema)`,
    }
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined)
    await pool.end()
  }
}

/** kafka-consumer-perf-test of the stack's Kafka: the bare read rate of this topic on this machine. */
async function runKafkaRead(): Promise<Result> {
  log(`kafka-consumer-perf-test: reading the topic (load ${load()})`)
  const read = await consumerPerfTest({repo: REPO, brokers: BROKERS, topic, count: N, group: readGroup})
  return {
    name: '(b) bare Kafka read: kafka-consumer-perf-test',
    lines: N,
    seconds: read.seconds,
    linesPerSec: read.recordsPerSec,
    peakRssMiB: read.peakRssMiB,
    cpuUsPerLine: {process: perLine(read.cpuSeconds, N)},
    note: `Java consumer of the stack's Kafka, -Xmx256M; fetch time (group join excluded, ${read.rebalanceMs} ms); wall with JVM start ${read.wallSeconds.toFixed(1)} s; CPU includes JVM start`,
  }
}

async function cleanup(): Promise<void> {
  const admin = kafka.admin()
  await admin.connect()
  await admin.deleteTopics({topics: [topic, `${topic}.dlq`]}).catch((error: unknown) => log(`deleting topics: ${String(error)}`))
  await admin.deleteGroups([group, readGroup]).catch(() => undefined) // a group never joined is not there
  await admin.disconnect()
  const pool = createPgPool({url: PG_URL}, {max: 1, applicationName: 'kpipe bench logs-drain cleanup'})
  try {
    const {rowCount} = await pool.query('DELETE FROM pipeline.logs WHERE kafka_topic = $1', [topic])
    log(`cleanup: topics ${topic}{,.dlq} and groups deleted, ${fmt(rowCount ?? 0)} rows deleted from pipeline.logs`)
    // The deleted rows stay as dead tuples (and dead index entries) until a vacuum; the next run
    // (ours or another suite's) would write into that bloat. Only the days this run wrote; a day
    // autovacuum is already on is left to it.
    for (const name of await partitionsOf(pool, dayPartitionsWritten())) await pool.query(`VACUUM (SKIP_LOCKED) pipeline.${quoteIdent(name)}`)
  } finally {
    await pool.end()
  }
}

/** The UTC days of this run's lines (from START_MS to the last line's Kafka time). */
function dayPartitionsWritten(): string[] {
  const days = new Set<string>()
  for (let day = utcDayOf(START_MS); day <= utcDayOf(Number(kafkaTimestampOf(GENERATED - 1))); day++) days.add(partitionName(day))
  return [...days]
}

/** Which of `names` exist as tables in pipeline. */
async function partitionsOf(db: pg.Pool, names: string[]): Promise<string[]> {
  const {rows} = await db.query<{name: string}>("SELECT relname AS name FROM pg_class WHERE relnamespace = 'pipeline'::regnamespace AND relname = ANY($1)", [names])
  return rows.map((row) => row.name)
}

/** Size of the pipeline.logs day partitions the worker writes into: a big, bloated table is slower to write. */
async function pipelinePartitionState(): Promise<string> {
  const pool = createPgPool({url: PG_URL}, {max: 1, applicationName: 'kpipe bench logs-drain'})
  try {
    // Sizes only: the live/dead row estimates of pg_stat lag behind a vacuum that just ran.
    const {rows} = await pool.query<{name: string; size: string}>(
      `SELECT relname AS name, pg_size_pretty(pg_total_relation_size(oid)) AS size
         FROM pg_class WHERE relnamespace = 'pipeline'::regnamespace AND relname = ANY($1) ORDER BY relname`,
      [dayPartitionsWritten()],
    )
    if (rows.length === 0) return 'pipeline.logs had no partition for these days yet'
    return `pipeline.logs (${rows.map((r) => `${r.name} ${r.size} with indexes`).join(', ')})`
  } finally {
    await pool.end()
  }
}

/** The records as the worker's consumer sees them, then parsed: the bare peer's rows. */
function parseAll(records: readonly SyntheticLogRecord[]): LogRow[] {
  const rows: LogRow[] = []
  const options = {maxBytes: 1024 * 1024} // the worker's default --max-record-bytes
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!
    const headers: SourceRecord['headers'] = {}
    for (const [name, value] of Object.entries(r.headers ?? {})) headers[name] = Buffer.from(value)
    const source: SourceRecord = {
      topic,
      partition: partitionOf(i),
      offset: offsetOf(i),
      key: r.key === null ? null : Buffer.from(r.key),
      value: r.value,
      headers,
      timestamp: kafkaTimestampOf(i),
    }
    const outcome = parseLogRecord(source, options)
    if (outcome.ok) rows.push({...outcome.value, kafkaTopic: topic, kafkaPartition: source.partition, kafkaOffset: source.offset})
  }
  return rows
}

async function main(): Promise<void> {
  if (!existsSync(path.join(REPO, 'dist/commands/worker/logs.js'))) throw new Error('run `npm run build` first')
  const loadAtStart = load()
  const loadAtStartNumbers = loadAverage()
  log(`${fmt(N)} log lines, ${PARTITIONS} partitions, compression ${args.compression}; machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load ${loadAtStart}`)
  registerCompressionCodecs()
  let records: SyntheticLogRecord[] | undefined = syntheticLogRecords(GENERATED, {scope, startMs: START_MS, spacingMs: SPACING_MS, seed: 7})
  if (args['no-dead-letters']) records = records.filter((r) => !r.expected.deadLetter).slice(0, N)
  if (records.length !== N) throw new Error(`generated ${records.length} records, expected ${N}`)
  const deadLetters = records.filter((r) => r.expected.deadLetter).length
  const dialects = new Set(records.map((r) => r.dialect)).size
  const tableState = await pipelinePartitionState()
  log(`${tableState} at the start`)
  await createTopics()
  const results: Result[] = []
  let avgBytes: number
  try {
    avgBytes = await produceAll(records)
    const rows = args['no-bare'] ? [] : parseAll(records)
    if (!args['no-bare'] && rows.length !== N - deadLetters) throw new Error(`parsed ${rows.length} rows, expected ${N - deadLetters}`)
    records = undefined // only the rows are needed from here
    results.push(await runKpipe({rows: N - deadLetters, deadLetters}))
    if (!args['no-bare']) results.push(await runBare(rows))
    if (!args['no-kafka-read']) results.push(await runKafkaRead())
  } finally {
    await cleanup().catch((error: unknown) => log(`cleanup failed: ${String(error)}`))
  }

  const kpipe = results[0]!
  const bare = results.find((r) => r.name.startsWith('(a)'))
  const read = results.find((r) => r.name.startsWith('(b)'))
  const cpu = (r: Result) => [r.cpuUsPerLine.process, r.cpuUsPerLine.postgres].map((us) => (us === undefined ? '-' : `${us} µs`)).join(' / ')
  const lines = [
    `# logs drain benchmark — ${new Date().toISOString()}`,
    '',
    `${fmt(N)} queued log lines (${dialects} shapes from synthetic-lines.ts, ${avgBytes} bytes on average, ${fmt(deadLetters)} of them dead letters; ` +
      `${PARTITIONS} partitions, compression ${args.compression}) on ${cpus().length} CPUs; load average at the start ${loadAtStart}, at the end ${load()}.`,
    `The worker writes the shared ${tableState} at the start; the bare peer an empty scratch copy.`,
    'Command: `eval "$(./scripts/stack env)"; npm run build; npx tsx bench/logs-drain.ts ' + process.argv.slice(2).join(' ') + '`',
    '',
    '| run | lines | seconds | lines/s | peak RSS | CPU per line: process / PostgreSQL | notes |',
    '|---|---:|---:|---:|---:|---:|---|',
    ...results.map(
      (r) => `| ${r.name} | ${fmt(r.lines)} | ${r.seconds.toFixed(1)} | ${fmt(r.linesPerSec)} | ${r.peakRssMiB === null ? '-' : `${r.peakRssMiB} MiB`} | ${cpu(r)} | ${r.note} |`,
    ),
    '',
    '| ratio | value | target (DESIGN §6) |',
    '|---|---:|---|',
    `| kpipe lines/s | ${fmt(kpipe.linesPerSec)} | ≥ 30,000 ${kpipe.linesPerSec >= 30_000 ? '✓' : '✗'} |`,
    ...(bare ? [`| kpipe ÷ bare insertLogs ceiling | ${((100 * kpipe.linesPerSec) / bare.linesPerSec).toFixed(0)}% | (report) |`] : []),
    ...(read ? [`| kpipe ÷ bare Kafka read | ${((100 * kpipe.linesPerSec) / read.linesPerSec).toFixed(0)}% | (report) |`] : []),
    `| kpipe peak RSS | ${kpipe.peakRssMiB} MiB | < 250 MB ${kpipe.peakRssMiB !== null && kpipe.peakRssMiB * 1.048576 < 250 ? '✓' : '✗'} |`,
    '',
  ]
  const text = lines.join('\n')
  process.stdout.write(`${text}\n`)
  const file = path.join(REPO, 'bench/results', `${new Date().toISOString().slice(0, 10)}-logs-drain.md`)
  mkdirSync(path.dirname(file), {recursive: true})
  writeFileSync(file, existsSync(file) ? `${readFileSync(file, 'utf8')}\n${text}\n` : `${text}\n`)
  log(`written to ${path.relative(REPO, file)}`)
  const figures = (r: Result | undefined) => (r ? {name: r.name, records: r.lines, seconds: r.seconds, recordsPerSec: r.linesPerSec, peakRssMiB: r.peakRssMiB, cpuUsPerRecord: r.cpuUsPerLine, note: r.note} : null)
  writeJsonOut(args['json-out'], {
    bench: 'logs-drain',
    lines: N,
    partitions: PARTITIONS,
    compression: args.compression,
    avgBytes,
    deadLetters,
    loadAverageAtStart: loadAtStartNumbers,
    kpipe: figures(kpipe),
    bare: figures(bare),
    kafkaRead: figures(read),
    drainSeries,
  })
}

await main()
