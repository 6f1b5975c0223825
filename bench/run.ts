/**
 * `npm run bench`: the whole benchmark suite on the local stack, each suite at least three times,
 * every figure the median with min and max beside its peer measured in the same run, the ratio,
 * and the DESIGN §6 target met or not; pictures drawn with Vega-Lite into SVG files.
 *
 *   eval "$(./scripts/stack env)"; npm run build
 *   npx tsx bench/run.ts [--suites producer,drain,e2e,logs,analytics,lag,integrity,rss] [--runs 3] [--quick] [--out bench/results]
 *
 * Writes <out>/<YYYY-MM-DD>.md and .json and the pictures into <out>/<YYYY-MM-DD>/. The drain
 * scripts it reuses (events-drain.ts, logs-drain.ts, analytics-drain.ts, lag.ts, integrity.ts)
 * run as child processes with --json-out, and append their own Markdown as they always do.
 * --quick: small sizes and one run, to try the harness; the report says it is a quick run.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {cpus, tmpdir} from 'node:os'
import path from 'node:path'
import {parseArgs} from 'node:util'

import {Kafka, logLevel} from 'kafkajs'

import type {LatencySummary} from '../src/lib/loadtest/latency.js'
import type {LoadTestResult} from '../src/lib/loadtest/load-test-service.js'
import {createPgPool} from '../src/lib/postgres/pool.js'
import {drainRateSpec, latencyOverTimeSpec, percentileSpec, ratesOf, renderSvg, rssSpec, type DistributionPoint, type RatePoint, type RssPoint, type TimelinePoint} from './lib/charts.js'
import {exited, fmt, freePort, loadAverage, log, trackProcess, type CounterSample} from './lib/harness.js'
import {parseProducerPerfTest, type PerfTestFigures} from './lib/kafka-tools.js'
import {compare, renderMarkdown, type BenchReport, type ComparisonInput, type RunLoad, type SuiteReport} from './lib/report.js'

const REPO = path.resolve(import.meta.dirname, '..')
const ALL_SUITES = ['producer', 'drain', 'e2e', 'logs', 'analytics', 'lag', 'integrity', 'rss'] as const
type SuiteName = (typeof ALL_SUITES)[number]

const {values: args} = parseArgs({
  options: {
    suites: {type: 'string', default: ALL_SUITES.join(',')},
    runs: {type: 'string', default: '3'},
    quick: {type: 'boolean', default: false},
    out: {type: 'string', default: path.join(REPO, 'bench/results')},
    help: {type: 'boolean', short: 'h', default: false},
  },
})
if (args.help) {
  process.stdout.write(`${readFileSync(import.meta.filename, 'utf8').split('*/')[0]!.replace(/^\/\*\*\n/, '').replaceAll(/^ \* ?/gm, '')}\n`)
  process.exit(0)
}
function usage(message: string): never {
  process.stderr.write(`bench/run.ts: ${message}\n`)
  process.exit(2)
}
const selected = args.suites!.split(',').map((s) => s.trim()).filter(Boolean)
for (const name of selected) if (!(ALL_SUITES as readonly string[]).includes(name)) usage(`unknown suite '${name}' (suites: ${ALL_SUITES.join(', ')})`)
const QUICK = args.quick!
const RUNS = QUICK ? 1 : Number(args.runs)
if (!Number.isInteger(RUNS) || RUNS < 1) usage(`--runs must be a whole number ≥ 1, not '${args.runs}'`)
const OUT = path.resolve(args.out!)
const DATE = new Date().toISOString().slice(0, 10)
const CHART_DIR = path.join(OUT, DATE)
const BROKERS = (process.env.KPIPE_BROKERS ?? 'localhost:9092').split(',')
const PG_URL = process.env.KPIPE_PG_URL ?? 'postgres://localhost:5432/kpipe'
const REDIS_URL = process.env.KPIPE_REDIS_URL ?? 'redis://localhost:6379' // the worker's projections
const id = Date.now().toString(36)
const scratch = mkdtempSync(path.join(tmpdir(), 'kpipe-bench-run-'))
const kafka = new Kafka({clientId: 'kpipe-bench-run', brokers: BROKERS, logLevel: logLevel.NOTHING})

/** Sizes of a full run (DESIGN §6's) and of a quick one (minutes for the whole suite). */
const SIZE = QUICK
  ? {producerRecords: 50_000, drainEvents: 20_000, e2eRates: [1000, 5000, 10_000], e2eDuration: '5s', e2eWarmup: '1s', logsLines: 20_000, analyticsEvents: 5000, lag: {groups: 5, topics: 2, partitions: 10}, integrityRows: 20_000}
  : {producerRecords: 1_000_000, drainEvents: 1_000_000, e2eRates: [1000, 5000, 10_000], e2eDuration: '20s', e2eWarmup: '3s', logsLines: 1_000_000, analyticsEvents: 200_000, lag: {groups: 50, topics: 10, partitions: 60}, integrityRows: 1_000_000}
const COMPRESSIONS = ['none', 'lz4', 'zstd'] as const
const RECORD_BYTES = 200
/** kpipe load-test producers (threads) beside the perf test's one producer with its sender thread: two threads each. */
const PRODUCERS = 2
const PARTITIONS = 6
/** The worker's concurrency in the drain: the bare upsert runs on as many connections (DESIGN §6: "equal connections"). */
const DRAIN_CONCURRENCY = 6
const RSS_LIMIT_MIB = 250 / 1.048576 // DESIGN says 250 MB; the harness measures MiB

// ---------------------------------------------------------------------------------------------
// Child processes

interface Output {
  code: number | null
  stdout: string
  stderr: string
  peakRssMiB: number
  cpuSeconds: number
  seconds: number
}

/** Runs a command to its end, its stderr (progress) passed through with a prefix, stdout kept. */
async function run(label: string, command: string, argv: string[], options: {env?: NodeJS.ProcessEnv} = {}): Promise<Output> {
  const started = Date.now()
  const child = spawn(command, argv, {cwd: REPO, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe']})
  const tracked = trackProcess(child.pid!)
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr!.on('data', (d: Buffer) => {
    const text = d.toString()
    stderr = (stderr + text).slice(-20_000)
    for (const line of text.split('\n').filter(Boolean)) process.stderr.write(`  [${label}] ${line}\n`)
  })
  const code = await exited(child)
  const {peakRssMiB, cpuSeconds} = tracked.stop()
  return {code, stdout, stderr, peakRssMiB, cpuSeconds, seconds: (Date.now() - started) / 1000}
}

/**
 * The lines of a failed child's stderr that say why (errors, a fatal V8 message), not the GC
 * trace or native stack around them; the tail when none matches.
 */
function failureOf(stderr: string): string {
  const lines = stderr.split('\n').filter((line) => /FATAL ERROR|Error\b|exited/.test(line) && !line.includes('ModuleLoadError: [MODULE_NOT_FOUND]'))
  return lines.length > 0 ? lines.slice(0, 4).join(' / ').slice(0, 1500) : stderr.slice(-1500)
}

/** Runs one of the bench scripts with --json-out and returns its figures. */
async function runScript<T>(script: string, argv: string[]): Promise<T> {
  const file = path.join(scratch, `${path.basename(script, '.ts')}-${Date.now().toString(36)}.json`)
  const out = await run(path.basename(script, '.ts'), path.join(REPO, 'node_modules/.bin/tsx'), [path.join(REPO, 'bench', script), ...argv, '--json-out', file])
  if (out.code !== 0 || !existsSync(file)) throw new Error(`${script} ${argv.join(' ')} exited ${out.code}: ${failureOf(out.stderr)}`)
  return JSON.parse(readFileSync(file, 'utf8')) as T
}

function kpipe(argv: string[]): string[] {
  return [path.join(REPO, 'bin/run.js'), ...argv]
}

const kpipeEnv = (): NodeJS.ProcessEnv => ({...process.env, KPIPE_BROKERS: BROKERS.join(','), KPIPE_PG_URL: PG_URL, KPIPE_REDIS_URL: REDIS_URL})

async function createTopics(topics: string[], partitions = PARTITIONS): Promise<void> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    // Right after another suite deleted its topics the broker can answer "does not host this
    // topic-partition" while it waits for the leaders (seen once on this machine): try again.
    for (let attempt = 1; ; attempt++) {
      try {
        await admin.createTopics({waitForLeaders: true, topics: topics.map((topic) => ({topic, numPartitions: topic.endsWith('.dlq') ? 1 : partitions, replicationFactor: 1}))})
        return
      } catch (error) {
        if (attempt >= 5) throw error
        log(`creating ${topics.join(', ')}: ${(error as Error).message}; again in 2 s`)
        await new Promise((resolve) => setTimeout(resolve, 2000))
      }
    }
  } finally {
    await admin.disconnect()
  }
}

async function deleteTopicsAndGroups(topics: string[], groups: string[] = []): Promise<void> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    await admin.deleteTopics({topics}).catch((error: unknown) => log(`deleting topics ${topics.join(', ')}: ${String(error)}`))
    if (groups.length > 0) await admin.deleteGroups(groups).catch(() => undefined) // a group never joined is not there
  } finally {
    await admin.disconnect()
  }
}

// ---------------------------------------------------------------------------------------------
// What the suites share

interface SuiteContext {
  /** Figures of earlier suites of this invocation (rss reuses the drain's worker runs). */
  drainRuns: DrainRun[]
}

interface Suite {
  title: string
  description: string
  run(context: SuiteContext, report: SuiteReport): Promise<void>
}

/** Runs `body` once per run, recording the load average around each; a failed run is reported, the others go on. */
async function repeat<T>(report: SuiteReport, body: (run: number) => Promise<T>): Promise<T[]> {
  const results: T[] = []
  for (let run = 1; run <= RUNS; run++) {
    const atStart = loadAverage()[0]!
    log(`${report.name}: run ${run} of ${RUNS} (load ${atStart.toFixed(1)})`)
    try {
      results.push(await body(run))
    } catch (error) {
      report.errors.push(`run ${run}: ${(error as Error).message.slice(0, 1500)}`)
      log(`${report.name}: run ${run} failed: ${((error as Error).stack ?? String(error)).slice(0, 1500)}`)
    } finally {
      report.loads.push({run, atStart, atEnd: loadAverage()[0]!} satisfies RunLoad)
    }
  }
  return results
}

async function chart(report: SuiteReport, name: string, title: string, spec: Parameters<typeof renderSvg>[0]): Promise<void> {
  mkdirSync(CHART_DIR, {recursive: true})
  const file = path.join(CHART_DIR, `${name}.svg`)
  await renderSvg(spec, file)
  report.charts.push({title, file: path.relative(OUT, file)})
}

const rate = (n: number | null | undefined) => (typeof n === 'number' ? n : null)
const perRecordUs = (cpu: number | undefined, records: number) => (cpu === undefined ? null : Math.round((cpu * 1e6) / records))

// ---------------------------------------------------------------------------------------------
// producer: kpipe load-test vs kafka-producer-perf-test

/** The JSON `kpipe load-test --json` prints (DESIGN §2). */
type LoadTestDoc = LoadTestResult

interface ProducerRun {
  kpipe: LoadTestDoc & {peakRssMiB: number; cpuSeconds: number}
  perf: PerfTestFigures & {peakRssMiB: number; cpuSeconds: number}
}

const producer: Suite = {
  title: 'producer: `kpipe load-test` beside `kafka-producer-perf-test`',
  description:
    `${fmt(SIZE.producerRecords)} records of ${RECORD_BYTES} bytes as fast as possible (\`--rate 0\` / \`--throughput -1\`), acks=all, no compression, ` +
    `each tool into its own fresh topic of ${PARTITIONS} partitions (same settings); the order of the two alternates from run to run. ` +
    `kpipe runs \`--producers ${PRODUCERS}\` (two JavaScript threads), the perf test one producer (its caller and its sender thread). ` +
    'Latency is each tool\'s send → acknowledgement; kpipe\'s corrected latency (intended send → ack) is in the JSON.',
  async run(_context, report) {
    const runs = await repeat(report, async (runNumber) => {
      const kpipeTopic = `bench-producer-${id}-${runNumber}-kpipe`
      const perfTopic = `bench-producer-${id}-${runNumber}-perf`
      try {
        await createTopics([kpipeTopic, perfTopic]) // inside: a half-made pair is deleted too
        const runKpipe = async () => {
          const out = await run('load-test', process.execPath, kpipe(['load-test', '--topic', kpipeTopic, '--rate', '0', '--count', String(SIZE.producerRecords), '--size', `${RECORD_BYTES}B`, '--compression', 'none', '--producers', String(PRODUCERS), '--json']), {env: kpipeEnv()})
          if (out.code !== 0) throw new Error(`kpipe load-test exited ${out.code}: ${failureOf(out.stderr)}`)
          return {...(JSON.parse(out.stdout) as LoadTestDoc), peakRssMiB: out.peakRssMiB, cpuSeconds: out.cpuSeconds}
        }
        const runPerf = async () => {
          const out = await run('producer-perf-test', path.join(REPO, 'scripts/stack'), [
            'tool', 'kafka-producer-perf-test', '--topic', perfTopic, '--num-records', String(SIZE.producerRecords), '--record-size', String(RECORD_BYTES), '--throughput', '-1',
            '--bootstrap-server', BROKERS.join(','), '--command-property', 'acks=all', 'compression.type=none',
          ])
          if (out.code !== 0) throw new Error(`kafka-producer-perf-test exited ${out.code}: ${failureOf(out.stderr)}`)
          return {...parseProducerPerfTest(out.stdout), peakRssMiB: out.peakRssMiB, cpuSeconds: out.cpuSeconds}
        }
        if (runNumber % 2 === 1) {
          const k = await runKpipe()
          return {kpipe: k, perf: await runPerf()} satisfies ProducerRun
        }
        const p = await runPerf()
        return {kpipe: await runKpipe(), perf: p} satisfies ProducerRun
      } finally {
        await deleteTopicsAndGroups([kpipeTopic, perfTopic])
      }
    })
    const peerName = 'kafka-producer-perf-test'
    const c = (input: Omit<ComparisonInput, 'peerName'>) => compare({...input, peerName})
    report.comparisons.push(
      c({label: 'records/s', unit: '/s', kpipe: runs.map((r) => r.kpipe.recordsPerSec), peer: runs.map((r) => r.perf.recordsPerSec), target: {text: '≥ 0.8× kafka-producer-perf-test', on: 'ratio', atLeast: 0.8}}),
      c({label: 'MB/s', unit: 'MB/s', kpipe: runs.map((r) => r.kpipe.mbPerSec), peer: runs.map((r) => r.perf.mbPerSec)}),
      c({label: 'publish latency p50', unit: 'ms', kpipe: runs.map((r) => r.kpipe.latencyMs.p50), peer: runs.map((r) => r.perf.p50)}),
      c({label: 'publish latency p99', unit: 'ms', kpipe: runs.map((r) => r.kpipe.latencyMs.p99), peer: runs.map((r) => r.perf.p99)}),
      c({label: 'publish latency max', unit: 'ms', kpipe: runs.map((r) => r.kpipe.latencyMs.max), peer: runs.map((r) => r.perf.maxMs)}),
      c({label: 'peak RSS', unit: 'MiB', kpipe: runs.map((r) => r.kpipe.peakRssMiB), peer: runs.map((r) => r.perf.peakRssMiB)}),
      c({label: 'CPU per record', unit: 'µs', kpipe: runs.map((r) => perRecordUs(r.kpipe.cpuSeconds, r.kpipe.records)), peer: runs.map((r) => perRecordUs(r.perf.cpuSeconds, r.perf.records))}),
    )
    report.notes.push('The JVM\'s start-up is outside the perf test\'s own figures; kpipe\'s rate is its own (warm-up 0 s). Peak RSS and CPU are of the whole process, start-up included.')
    raw[report.name] = runs
  },
}

// ---------------------------------------------------------------------------------------------
// drain: events-drain.ts per compression (kpipe vs Connect vs bare upsert vs kafka-consumer-perf-test)

interface DrainFigures {
  name: string
  events: number
  seconds: number
  recordsPerSec: number
  peakRssMiB: number | null
  cpuSeconds?: number
}

interface DrainDoc {
  compression: string
  events: number
  kpipe: DrainFigures
  bare: DrainFigures | null
  connect: DrainFigures | null
  kafkaRead: DrainFigures | null
  drainSeries: CounterSample[]
  workerRssSeries?: {atMs: number; rssMiB: number}[]
  loadAverageAtStart: number[]
  loadAverageAtEnd: number[]
}

interface DrainRun {
  run: number
  doc: DrainDoc
}

function drainComparisons(runs: DrainRun[], withPeers: boolean): ComparisonInput[] {
  return COMPRESSIONS.flatMap((compression) => {
    // A codec with no successful run keeps its rows: its targets then read "not measured", not vanish.
    const of = runs.filter((r) => r.doc.compression === compression).map((r) => r.doc)
    const k = of.map((d) => rate(d.kpipe.recordsPerSec))
    const rss: ComparisonInput = {label: `worker peak RSS, ${compression}`, unit: 'MiB', kpipe: of.map((d) => d.kpipe.peakRssMiB), target: {text: '< 250 MB (238 MiB)', on: 'kpipe', below: RSS_LIMIT_MIB}}
    if (!withPeers) return [rss]
    return [
      {label: `events/s, ${compression}`, unit: '/s', kpipe: k, target: {text: '≥ 30,000 events/s', on: 'kpipe', atLeast: 30_000}},
      {label: `events/s vs Connect, ${compression}`, unit: '/s', kpipe: k, peerName: 'Kafka Connect + Debezium JDBC sink', peer: of.map((d) => rate(d.connect?.recordsPerSec)), target: {text: '≥ 2× Connect', on: 'ratio', atLeast: 2}},
      {label: `events/s vs bare upsert, ${compression}`, unit: '/s', kpipe: k, peerName: `bare upsertEvents, ${DRAIN_CONCURRENCY} connections`, peer: of.map((d) => rate(d.bare?.recordsPerSec)), target: {text: '≥ 0.8× the bare upsert', on: 'ratio', atLeast: 0.8}},
      {label: `events/s vs raw read, ${compression}`, unit: '/s', kpipe: k, peerName: 'kafka-consumer-perf-test (the ceiling)', peer: of.map((d) => rate(d.kafkaRead?.recordsPerSec))},
      {...rss, peerName: 'Kafka Connect (JVM)', peer: of.map((d) => d.connect?.peakRssMiB ?? null)},
      {label: `CPU per event, ${compression}`, unit: 'µs', kpipe: of.map((d) => perRecordUs(d.kpipe.cpuSeconds, d.events)), peerName: 'Kafka Connect (JVM, start included)', peer: of.map((d) => (d.connect ? perRecordUs(d.connect.cpuSeconds, d.events) : null))},
    ]
  })
}

async function rssChart(report: SuiteReport, runs: DrainRun[]): Promise<void> {
  const points: RssPoint[] = runs.flatMap((r) => (r.doc.workerRssSeries ?? []).map((p) => ({series: `${r.doc.compression}, run ${r.run}`, atSeconds: p.atMs / 1000, rssMiB: p.rssMiB})))
  if (points.length > 0) await chart(report, 'worker-rss', 'kpipe worker events: RSS over time per codec', rssSpec(`kpipe worker events RSS, ${fmt(SIZE.drainEvents)} queued events (dashed: 250 MB)`, points, RSS_LIMIT_MIB))
}

async function drainChart(report: SuiteReport, runs: DrainRun[], name: string): Promise<void> {
  const points: RatePoint[] = runs.flatMap((r) => ratesOf(`${r.doc.compression}, run ${r.run}`, r.doc.drainSeries))
  if (points.length > 0) await chart(report, name, `kpipe worker events: drain rate over time (${fmt(SIZE.drainEvents)} events)`, drainRateSpec(`kpipe worker events, ${fmt(SIZE.drainEvents)} queued events: records written per second`, points))
}

async function drainRuns(report: SuiteReport, extra: string[]): Promise<DrainRun[]> {
  const runs: DrainRun[] = []
  await repeat(report, async (runNumber) => {
    for (const compression of COMPRESSIONS) {
      const doc = await runScript<DrainDoc>('events-drain.ts', ['--events', String(SIZE.drainEvents), '--compression', compression, '--concurrency', String(DRAIN_CONCURRENCY), ...extra])
      runs.push({run: runNumber, doc})
    }
  })
  return runs
}

const drain: Suite = {
  title: 'drain: `kpipe worker events` beside Kafka Connect, the bare upsert and the raw read',
  description:
    `events-drain.ts on ${fmt(SIZE.drainEvents)} queued events (JSON envelopes, ${PARTITIONS} partitions), produced by kafkajs (not kpipe) uncompressed, lz4 and zstd: ` +
    `the worker (PostgreSQL + Redis, --concurrency ${DRAIN_CONCURRENCY}), Kafka Connect with the Debezium JDBC sink (the peer), the bare \`upsertEvents\` of the same rows on ${DRAIN_CONCURRENCY} connections ` +
    '(the worker\'s partitions written at once: equal connections) and `kafka-consumer-perf-test` of the same topic (raw consumption, the ceiling).',
  async run(context, report) {
    const runs = await drainRuns(report, ['--kafka-read', '--bare-connections', String(DRAIN_CONCURRENCY)])
    context.drainRuns.push(...runs)
    report.comparisons.push(...drainComparisons(runs, true).map(compare))
    await drainChart(report, runs, 'drain-rate')
    report.notes.push('kpipe\'s rate is the engine\'s run time from its --json summary; Connect\'s is first row → last row (JVM and connector start excluded); the perf test\'s is its fetch time.')
    raw[report.name] = runs
  },
}

const rss: Suite = {
  title: 'rss: worker peak RSS under a backlog, uncompressed and lz4/zstd',
  description: `Peak RSS (VmHWM) of \`kpipe worker events\` draining ${fmt(SIZE.drainEvents)} queued events produced by kafkajs uncompressed, lz4 and zstd (events-drain.ts).`,
  async run(context, report) {
    let runs = context.drainRuns
    if (runs.length > 0) {
      report.notes.push('Taken from the drain suite\'s worker runs of this invocation (the same backlog), not run again.')
    } else {
      runs = await drainRuns(report, ['--no-connect', '--no-bare'])
      await drainChart(report, runs, 'rss-drain-rate')
    }
    report.comparisons.push(...drainComparisons(runs, false).map(compare))
    await rssChart(report, runs)
    report.notes.push('"Flat" is not judged by a number: the picture shows VmRSS once a second against the limit.')
    raw[report.name] = runs.map((r) => ({run: r.run, compression: r.doc.compression, peakRssMiB: r.doc.kpipe.peakRssMiB}))
  },
}

// ---------------------------------------------------------------------------------------------
// e2e: a running worker, then load-test --e2e at each rate

interface E2eRun {
  run: number
  rate: number
  doc: LoadTestDoc
}

async function waitReady(port: number, worker: {exitCode: number | null}): Promise<void> {
  const deadline = Date.now() + 90_000
  for (;;) {
    if (worker.exitCode !== null) throw new Error(`the worker exited ${worker.exitCode} before it was ready`)
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false)
    if (ok) return
    if (Date.now() > deadline) throw new Error('the worker was not ready after 90 s')
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
}

/**
 * Rows, topics and group of one e2e run. The Redis projections are left: load-test's entity keys
 * (lt-0000…) and its event type carry no run id, so every load test on the stack shares them and
 * deleting them would take other runs' state too.
 */
async function cleanE2e(topic: string, group: string): Promise<void> {
  const pool = createPgPool({url: PG_URL}, {max: 1, applicationName: 'kpipe bench e2e cleanup'})
  try {
    await pool.query('DELETE FROM pipeline.events WHERE kafka_topic = $1', [topic])
  } finally {
    await pool.end()
  }
  await deleteTopicsAndGroups([topic, `${topic}.dlq`], [group])
}

const e2e: Suite = {
  title: 'e2e: intended send → row in PostgreSQL, at 1,000, 5,000 and 10,000 events/s',
  description:
    `A \`kpipe worker events\` running on a fresh topic of ${PARTITIONS} partitions, then \`kpipe load-test --e2e --rate R --duration ${SIZE.e2eDuration} --warmup ${SIZE.e2eWarmup}\` ` +
    `for R = ${SIZE.e2eRates.map(fmt).join(', ')}. End-to-end latency runs from each event's intended send time to its row in pipeline.events. No peer: Kafka's tools do not measure it.`,
  async run(_context, report) {
    const runs: E2eRun[] = []
    await repeat(report, async (runNumber) => {
      const topic = `bench-e2e-${id}-${runNumber}`
      const group = `${topic}-g`
      const port = await freePort()
      let worker: ChildProcess | undefined
      let workerErr = ''
      try {
        await createTopics([topic, `${topic}.dlq`]) // inside: a half-made pair is deleted too
        const child = spawn(process.execPath, kpipe(['worker', 'events', '--topic', topic, '--group', group, '--from-beginning', '--metrics-port', String(port), '--log-level', 'warn']), {
          cwd: REPO,
          env: kpipeEnv(),
          stdio: ['ignore', 'ignore', 'pipe'],
        })
        worker = child
        child.stderr.on('data', (d: Buffer) => (workerErr = (workerErr + d.toString()).slice(-5000)))
        await waitReady(port, child)
        for (const r of SIZE.e2eRates) {
          const out = await run(`load-test ${fmt(r)}/s`, process.execPath, kpipe(['load-test', '--topic', topic, '--e2e', '--rate', String(r), '--duration', SIZE.e2eDuration, '--warmup', SIZE.e2eWarmup, '--report-interval', '1s', '--json']), {env: kpipeEnv()})
          // Exit 1 is a missed objective; none is given here, so any non-zero exit is a failure.
          if (out.code !== 0) throw new Error(`kpipe load-test --e2e --rate ${r} exited ${out.code}: ${failureOf(out.stderr)}${child.exitCode === null ? '' : `; the worker exited ${child.exitCode}: ${workerErr}`}`)
          runs.push({run: runNumber, rate: r, doc: JSON.parse(out.stdout) as LoadTestDoc})
        }
      } finally {
        if (worker && worker.exitCode === null) {
          worker.kill('SIGTERM')
          const stopped = await Promise.race([exited(worker), new Promise((resolve) => setTimeout(() => resolve('timeout'), 40_000))])
          if (stopped === 'timeout') worker.kill('SIGKILL')
        }
        await cleanE2e(topic, group)
      }
    })
    for (const r of SIZE.e2eRates) {
      const of = runs.filter((x) => x.rate === r).map((x) => x.doc)
      const e = (pick: (s: LatencySummary) => number) => of.map((d) => (d.e2eLatencyMs ? pick(d.e2eLatencyMs) : null))
      report.comparisons.push(
        compare({label: `${fmt(r)}/s: records/s achieved`, unit: '/s', kpipe: of.map((d) => d.recordsPerSec), peerName: 'requested rate', peer: of.map(() => r)}),
        compare({label: `${fmt(r)}/s: e2e p50`, unit: 'ms', kpipe: e((s) => s.p50)}),
        compare({label: `${fmt(r)}/s: e2e p99`, unit: 'ms', kpipe: e((s) => s.p99), ...(r === 5000 ? {target: {text: 'p99 < 50 ms at 5,000 events/s', on: 'kpipe' as const, below: 50}} : {})}),
        compare({label: `${fmt(r)}/s: e2e p99.9`, unit: 'ms', kpipe: e((s) => s.p999)}),
        compare({label: `${fmt(r)}/s: e2e max`, unit: 'ms', kpipe: e((s) => s.max)}),
        compare({label: `${fmt(r)}/s: corrected publish p99 (intended send → ack)`, unit: 'ms', kpipe: of.map((d) => d.correctedLatencyMs.p99)}),
        compare({label: `${fmt(r)}/s: rows missing after the run`, unit: '', kpipe: of.map((d) => d.e2e?.missing ?? null)}),
      )
    }
    // The pictures show the last run of each rate (the tables have every run).
    const last = SIZE.e2eRates.map((r) => runs.findLast((x) => x.rate === r)).filter((x): x is E2eRun => x !== undefined)
    const timeline: TimelinePoint[] = last.flatMap((x) =>
      x.doc.timeline.flatMap((t) => [
        {series: `${fmt(x.rate)}/s corrected (intended send → ack)`, atSeconds: t.atMs / 1000, ms: t.correctedP99Ms},
        {series: `${fmt(x.rate)}/s publish (send → ack)`, atSeconds: t.atMs / 1000, ms: t.latencyP99Ms},
      ]),
    )
    if (timeline.length > 0) await chart(report, 'e2e-latency-over-time', 'publish latency over time per rate', latencyOverTimeSpec('p99 latency of each second, per rate (last run)', timeline))
    const distribution: DistributionPoint[] = last.flatMap((x) => (x.doc.e2eLatencyMs?.distribution ?? []).map((d) => ({series: `${fmt(x.rate)}/s end-to-end`, percentile: d.percentile, ms: d.ms})))
    if (distribution.length > 0) await chart(report, 'e2e-percentiles', 'end-to-end latency by percentile per rate', percentileSpec('end-to-end latency (intended send → row in PostgreSQL) by percentile, per rate (last run)', distribution))
    const corrected: DistributionPoint[] = last.flatMap((x) => x.doc.correctedLatencyMs.distribution.map((d) => ({series: `${fmt(x.rate)}/s corrected publish`, percentile: d.percentile, ms: d.ms})))
    if (corrected.length > 0) await chart(report, 'e2e-publish-percentiles', 'corrected publish latency by percentile per rate', percentileSpec('publish latency, intended send → ack, by percentile, per rate (last run)', corrected))
    report.notes.push('The worker keeps its Redis projections on (the real pipeline); load-test\'s entity keys and event type are shared by every load test on the stack, so those Redis keys are left; the rows, topics and group are removed.')
    raw[report.name] = runs
  },
}

// ---------------------------------------------------------------------------------------------
// logs, analytics, lag, integrity: the existing scripts

interface ScriptFigures {
  records: number
  seconds: number
  recordsPerSec: number
  peakRssMiB: number | null
  cpuUsPerRecord?: {process?: number; postgres?: number}
}

const logs: Suite = {
  title: 'logs: `kpipe worker logs` beside the bare insert and the raw read',
  description: `logs-drain.ts on ${fmt(SIZE.logsLines)} mixed log lines (25 shapes, ~2.3% dead letters): the worker into the shared pipeline.logs, the bare \`insertLogs\` of the parsed rows on one connection, and \`kafka-consumer-perf-test\`.`,
  async run(_context, report) {
    interface LogsDoc {
      kpipe: ScriptFigures
      bare: ScriptFigures | null
      kafkaRead: ScriptFigures | null
      drainSeries: CounterSample[]
    }
    const runs = await repeat(report, () => runScript<LogsDoc>('logs-drain.ts', ['--lines', String(SIZE.logsLines)]))
    const k = runs.map((d) => d.kpipe.recordsPerSec)
    report.comparisons.push(
      compare({label: 'lines/s', unit: '/s', kpipe: k, target: {text: '≥ 30,000 lines/s', on: 'kpipe', atLeast: 30_000}}),
      compare({label: 'lines/s vs bare insert', unit: '/s', kpipe: k, peerName: 'bare insertLogs, 1 connection', peer: runs.map((d) => rate(d.bare?.recordsPerSec))}),
      compare({label: 'lines/s vs raw read', unit: '/s', kpipe: k, peerName: 'kafka-consumer-perf-test', peer: runs.map((d) => rate(d.kafkaRead?.recordsPerSec))}),
      compare({label: 'worker peak RSS', unit: 'MiB', kpipe: runs.map((d) => d.kpipe.peakRssMiB), target: {text: '< 250 MB (238 MiB)', on: 'kpipe', below: RSS_LIMIT_MIB}}),
      compare({label: 'worker CPU per line', unit: 'µs', kpipe: runs.map((d) => d.kpipe.cpuUsPerRecord?.process ?? null), peerName: 'its PostgreSQL backends', peer: runs.map((d) => d.kpipe.cpuUsPerRecord?.postgres ?? null)}),
    )
    const points = runs.flatMap((d, i) => ratesOf(`run ${i + 1}`, d.drainSeries))
    if (points.length > 0) await chart(report, 'logs-drain-rate', 'kpipe worker logs: drain rate over time', drainRateSpec(`kpipe worker logs, ${fmt(SIZE.logsLines)} queued lines: records written per second`, points))
    raw[report.name] = runs
  },
}

const analytics: Suite = {
  title: 'analytics: `kpipe worker analytics` beside the emulator\'s bare insertAll',
  description: `analytics-drain.ts on ${fmt(SIZE.analyticsEvents)} events into the stack's BigQuery emulator; DESIGN §6 sets no target, the figure is reported beside the emulator's own rate.`,
  async run(_context, report) {
    interface AnalyticsDoc {
      kpipe: ScriptFigures
      bare: ScriptFigures | null
    }
    const runs = await repeat(report, () => runScript<AnalyticsDoc>('analytics-drain.ts', ['--events', String(SIZE.analyticsEvents)]))
    report.comparisons.push(
      compare({label: 'rows/s', unit: '/s', kpipe: runs.map((d) => d.kpipe.recordsPerSec), peerName: 'bare insertAll from Node, 3 in flight', peer: runs.map((d) => rate(d.bare?.recordsPerSec))}),
      compare({label: 'worker peak RSS', unit: 'MiB', kpipe: runs.map((d) => d.kpipe.peakRssMiB)}),
    )
    raw[report.name] = runs
  },
}

const lag: Suite = {
  title: 'lag: `kpipe lag --json` beside `kafka-consumer-groups.sh --describe`',
  description:
    `lag.ts: ${SIZE.lag.groups} groups × ${SIZE.lag.topics * SIZE.lag.partitions} partitions, both tools printing every row, start-up included. ` +
    `Set-up is long (offsets committed by Kafka's own tool), so the script runs once and times each tool ${RUNS} time${RUNS === 1 ? '' : 's'} after a warm-up: those are the runs here.`,
  async run(_context, report) {
    interface LagDoc {
      kpipeMs: number[]
      kpipeStartupMs: number[]
      kafkaConsumerGroupsMs: number[]
      loads: {what: string; before: number; after: number}[]
    }
    const doc = await runScript<LagDoc>('lag.ts', ['--groups', String(SIZE.lag.groups), '--topics', String(SIZE.lag.topics), '--partitions', String(SIZE.lag.partitions), '--runs', String(RUNS)]).catch((error: unknown) => {
      report.errors.push((error as Error).message.slice(0, 1500))
      return undefined
    })
    if (!doc) return
    report.comparisons.push(
      compare({label: 'wall time, start-up included', unit: 'ms', kpipe: doc.kpipeMs, peerName: 'kafka-consumer-groups.sh', peer: doc.kafkaConsumerGroupsMs, target: {text: '< 1 s', on: 'kpipe', below: 1000}}),
      compare({label: 'kpipe start-up alone (`lag --help`)', unit: 'ms', kpipe: doc.kpipeStartupMs}),
    )
    doc.loads
      .filter((l) => l.what === 'kpipe lag')
      .forEach((l, i) => report.loads.push({run: i + 1, atStart: l.before, atEnd: l.after}))
    raw[report.name] = doc
  },
}

const integrity: Suite = {
  title: 'integrity: `kpipe integrity` on a large table',
  description: `integrity.ts: ${fmt(SIZE.integrityRows)} rows in pipeline.events, timed ${RUNS} time${RUNS === 1 ? '' : 's'} clean and as often with 1,000 rows deleted (each must be found). No peer: Kafka has no such tool. The script loads once and times the runs.`,
  async run(_context, report) {
    interface IntegrityDoc {
      clean: {seconds: number; load: [number, number]}[]
      withMissing: {seconds: number; load: [number, number]}[]
    }
    const doc = await runScript<IntegrityDoc>('integrity.ts', ['--rows', String(SIZE.integrityRows), '--runs', String(RUNS), '--delete', String(Math.min(1000, SIZE.integrityRows / 10))]).catch((error: unknown) => {
      report.errors.push((error as Error).message.slice(0, 1500))
      return undefined
    })
    if (!doc) return
    report.comparisons.push(
      compare({label: 'seconds, clean table', unit: 's', kpipe: doc.clean.map((r) => r.seconds), target: {text: '< 10 s', on: 'kpipe', below: 10}}),
      compare({label: 'seconds, rows missing', unit: 's', kpipe: doc.withMissing.map((r) => r.seconds), target: {text: '< 10 s', on: 'kpipe', below: 10}}),
    )
    doc.clean.forEach((r, i) => report.loads.push({run: i + 1, atStart: r.load[0], atEnd: r.load[1]}))
    raw[report.name] = doc
  },
}

// ---------------------------------------------------------------------------------------------

const SUITES: Record<SuiteName, Suite> = {producer, drain, e2e, logs, analytics, lag, integrity, rss}
/** Every run's own figures, by suite, for the JSON document. */
const raw: Record<string, unknown> = {}

async function main(): Promise<void> {
  if (!existsSync(path.join(REPO, 'dist/commands/worker/events.js'))) throw new Error('run `npm run build` first')
  const startedAt = new Date().toISOString()
  const context: SuiteContext = {drainRuns: []}
  const suites: SuiteReport[] = []
  // The order of ALL_SUITES, whatever the order given: rss reuses the drain's runs.
  for (const name of ALL_SUITES.filter((s) => selected.includes(s))) {
    const suite = SUITES[name]
    const report: SuiteReport = {name, title: suite.title, description: suite.description, comparisons: [], loads: [], charts: [], notes: [], errors: []}
    log(`suite ${name}${QUICK ? ' (quick)' : ''}: ${RUNS} run${RUNS === 1 ? '' : 's'}`)
    const started = Date.now()
    try {
      await suite.run(context, report)
    } catch (error) {
      report.errors.push((error as Error).message.slice(0, 1500))
      log(`suite ${name} failed: ${(error as Error).message.slice(0, 500)}`)
    }
    report.notes.push(`Suite time ${((Date.now() - started) / 60_000).toFixed(1)} min.`)
    suites.push(report)
  }
  const document: BenchReport = {
    date: DATE,
    startedAt,
    finishedAt: new Date().toISOString(),
    quick: QUICK,
    runs: RUNS,
    command: `npx tsx bench/run.ts ${process.argv.slice(2).join(' ')}`.trim(),
    machine: {cpus: cpus().length, model: cpus()[0]?.model ?? '?'},
    suites,
  }
  mkdirSync(OUT, {recursive: true})
  const base = path.join(OUT, DATE)
  writeFileSync(`${base}.md`, renderMarkdown(document))
  writeFileSync(`${base}.json`, `${JSON.stringify({...document, raw}, null, 2)}\n`)
  rmSync(scratch, {recursive: true, force: true})
  log(`written ${path.relative(process.cwd(), `${base}.md`)}, ${path.relative(process.cwd(), `${base}.json`)}${suites.some((s) => s.charts.length > 0) ? ` and pictures in ${path.relative(process.cwd(), CHART_DIR)}/` : ''}`)
  if (suites.some((s) => s.errors.length > 0)) process.exitCode = 1
}

await main()
