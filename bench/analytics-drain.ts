/**
 * DESIGN §6: `kpipe worker analytics` → the BigQuery emulator, reported beside the emulator's own
 * bare insertAll rate for the same rows from Node, in the same run on the same machine.
 *   (kpipe) N (default 200,000) queued analytics events (JSON envelopes, 3 partitions) drained by
 *           the built CLI into a scratch dataset; rate = events ÷ the engine's run time.
 *   (bare)  the same rows (the sink's own row mapping, insert ids included) sent with
 *           @google-cloud/bigquery's table.insert({raw: true}) in requests of --max-rows, with
 *           --bare-concurrency requests in flight (default 3: the worker writes its 3 partitions
 *           at once); no Kafka, no decoding, no dead letters, no commits.
 * Prints a table and appends it to bench/results/<date>-analytics-drain.md.
 *
 *   eval "$(./scripts/stack env)"; npm run build
 *   npx tsx bench/analytics-drain.ts [--events 200000] [--max-rows 500] [--batch-size 2000] [--bare-concurrency 3] [--no-bare]
 *
 * Peak RSS is VmHWM from /proc/<pid>/status, sampled until the process exits.
 */
import {spawn} from 'node:child_process'
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {cpus} from 'node:os'
import path from 'node:path'
import {parseArgs} from 'node:util'

import {Kafka, logLevel} from 'kafkajs'

import {analyticsRow, type InsertRow} from '../src/lib/bigquery/analytics-row.js'
import {ensureAnalyticsTables} from '../src/lib/bigquery/analytics-table.js'
import {createBigQuery} from '../src/lib/bigquery/client.js'
import type {EventEnvelope} from '../src/lib/records/envelope.js'
import {exited, fmt, load, loadAverage, log, produceFast, trackProcess, writeJsonOut} from './lib/harness.js'

const REPO = path.resolve(import.meta.dirname, '..')
const {values: args} = parseArgs({
  options: {
    events: {type: 'string', default: '200000'},
    'max-rows': {type: 'string', default: '500'},
    'batch-size': {type: 'string', default: '2000'},
    'bare-concurrency': {type: 'string', default: '3'},
    'no-bare': {type: 'boolean', default: false},
    // Also writes this run's figures as JSON (for bench/run.ts); the Markdown is written as before.
    'json-out': {type: 'string'},
  },
})
const N = Number(args.events)
const MAX_ROWS = Number(args['max-rows'])
const PARTITIONS = 3
const BROKERS = (process.env.KPIPE_BROKERS ?? 'localhost:9092').split(',')
const PROJECT = process.env.KPIPE_BQ_PROJECT ?? 'local'
const ENDPOINT = process.env.KPIPE_BQ_ENDPOINT ?? 'http://localhost:9050'
const id = Date.now().toString(36)
const topic = `bench-analytics-${id}`
const dataset = `kpipe_bench_${id}`
const kafka = new Kafka({clientId: 'kpipe-bench', brokers: BROKERS, logLevel: logLevel.NOTHING})
const bigquery = createBigQuery({project: PROJECT, dataset, endpoint: ENDPOINT}, {autoRetry: false})

function event(i: number): EventEnvelope {
  const types = ['page.viewed', 'user.signup', 'order.placed', 'search.performed']
  return {
    eventId: `${id.padStart(8, '0').slice(-8)}-7c1d-4e0b-9f3a-${String(i).padStart(12, '0')}`,
    type: types[i % types.length]!,
    source: 'web',
    occurredAt: new Date(1_795_000_000_000 + i * 3).toISOString(),
    key: `user-${i % 20_000}`,
    correlationId: `req-${(i * 7919) % 1_000_003}`,
    schemaVersion: 1,
    payload: {path: `/products/${i % 977}`, plan: i % 3 ? 'pro' : 'free', ms: i % 900, country: 'DE'},
  }
}

/** Produces N events round-robin over the partitions; returns the average value size. */
async function produceAll(): Promise<number> {
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
  return produceFast(kafka, topic, N, (i) => {
    const e = event(i)
    return {key: e.key, value: JSON.stringify(e), partition: i % PARTITIONS}
  })
}

interface Result {
  name: string
  rows: number
  seconds: number
  rowsPerSec: number
  peakRssMiB: number | null
  note: string
}

async function count(table: string): Promise<number> {
  const [rows] = await bigquery.query({query: `SELECT count(*) AS n FROM \`${PROJECT}.${dataset}.${table}\``})
  return (rows[0] as {n: number}).n
}

async function runKpipe(): Promise<Result> {
  log('kpipe worker analytics: draining')
  const started = Date.now()
  const child = spawn(
    process.execPath,
    [
      path.join(REPO, 'bin/run.js'), 'worker', 'analytics', '--topic', topic, '--group', `${topic}-g`, '--from-beginning', '--stop-when-caught-up', '--json',
      '--metrics-port', '0', '--log-level', 'warn', '--max-rows', String(MAX_ROWS), '--batch-size', args['batch-size']!, '--dataset', dataset, '--table', 'events',
    ],
    {cwd: REPO, env: {...process.env, KPIPE_BROKERS: BROKERS.join(','), KPIPE_BQ_PROJECT: PROJECT, KPIPE_BQ_ENDPOINT: ENDPOINT}, stdio: ['ignore', 'pipe', 'pipe']},
  )
  const rss = trackProcess(child.pid!)
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  const code = await exited(child)
  const wall = (Date.now() - started) / 1000
  const peak = rss.stop().peakRssMiB
  if (code !== 0) throw new Error(`kpipe worker analytics exited ${code}: ${stderr.slice(-3000)}`)
  const summary = JSON.parse(stdout) as {written: number; deadLettered: number; durationMs: number; sinkRetries: number}
  const inView = await count('events_dedup')
  if (summary.written !== N || summary.deadLettered !== 0 || inView !== N) throw new Error(`kpipe wrote ${summary.written} of ${N} (${inView} in the view): ${stdout}`)
  const seconds = summary.durationMs / 1000
  return {
    name: 'kpipe worker analytics → emulator',
    rows: N,
    seconds,
    rowsPerSec: Math.round(N / seconds),
    peakRssMiB: peak,
    note: `${PARTITIONS} partitions, batch ${args['batch-size']}, --max-rows ${MAX_ROWS}; ${summary.sinkRetries} sink retries; view holds ${fmt(inView)}; wall ${wall.toFixed(1)} s with start-up (${fmt(Math.round(N / wall))}/s)`,
  }
}

async function runBare(): Promise<Result> {
  const concurrency = Number(args['bare-concurrency'])
  log(`bare insertAll: same rows, ${concurrency} requests in flight`)
  await ensureAnalyticsTables(bigquery, {project: PROJECT, dataset, table: 'bare', endpoint: ENDPOINT})
  const table = bigquery.dataset(dataset).table('bare')
  let next = 0
  const started = process.hrtime.bigint()
  await Promise.all(
    Array.from({length: concurrency}, async () => {
      for (let start = next; start < N; start = next) {
        next += MAX_ROWS
        const rows: InsertRow[] = []
        const ingestedAt = new Date().toISOString()
        for (let i = start; i < Math.min(N, start + MAX_ROWS); i++) {
          // Row building is part of the measure, as the worker's decode and mapping are part of its.
          const value = JSON.parse(JSON.stringify(event(i))) as EventEnvelope
          const outcome = analyticsRow({source: {topic, partition: i % PARTITIONS, offset: String(Math.floor(i / PARTITIONS)), key: null, value: null, headers: {}, timestamp: '0'}, value}, ingestedAt)
          if (outcome.ok) rows.push(outcome.row)
        }
        await table.insert(rows, {raw: true, partialRetries: 0, skipInvalidRows: true})
      }
    }),
  )
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const stored = await count('bare')
  if (stored !== N) throw new Error(`bare insert stored ${stored} of ${N}`)
  return {
    name: `bare insertAll from Node, ${concurrency} in flight`,
    rows: N,
    seconds,
    rowsPerSec: Math.round(N / seconds),
    peakRssMiB: null,
    note: `requests of ${MAX_ROWS} raw rows (@google-cloud/bigquery table.insert), same row mapping, no Kafka`,
  }
}

async function cleanup(): Promise<void> {
  const admin = kafka.admin()
  await admin.connect()
  await admin.deleteTopics({topics: [topic, `${topic}.dlq`]}).catch(() => undefined)
  await admin.disconnect()
  await bigquery.dataset(dataset).delete({force: true}).catch(() => undefined)
}

async function main(): Promise<void> {
  if (!existsSync(path.join(REPO, 'dist/commands/worker/analytics.js'))) throw new Error('run `npm run build` first')
  log(`${fmt(N)} events; machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load ${load()}`)
  const loadAtStart = loadAverage()
  const results: Result[] = []
  let avgBytes: number
  try {
    avgBytes = await produceAll()
    results.push(await runKpipe())
    if (!args['no-bare']) results.push(await runBare())
  } finally {
    await cleanup().catch((error: unknown) => log(`cleanup failed: ${String(error)}`))
  }
  const kpipe = results[0]!
  const bare = results[1]
  const lines = [
    `# analytics drain benchmark — ${new Date().toISOString()}`,
    '',
    `${fmt(N)} queued analytics events (JSON envelopes of ${avgBytes} bytes on average, ${PARTITIONS} partitions) into goccy/bigquery-emulator on ${cpus().length} CPUs; load average at the end ${load()}.`,
    'Command: `eval "$(./scripts/stack env)"; npm run build; npx tsx bench/analytics-drain.ts ' + process.argv.slice(2).join(' ') + '`',
    '',
    '| run | rows | seconds | rows/s | peak RSS | notes |',
    '|---|---:|---:|---:|---:|---|',
    ...results.map((r) => `| ${r.name} | ${fmt(r.rows)} | ${r.seconds.toFixed(1)} | ${fmt(r.rowsPerSec)} | ${r.peakRssMiB === null ? '-' : `${r.peakRssMiB} MiB`} | ${r.note} |`),
    '',
    ...(bare ? [`kpipe ÷ bare insertAll: ${((100 * kpipe.rowsPerSec) / bare.rowsPerSec).toFixed(0)}% (DESIGN §6 asks for the figure beside the emulator's own rate; it sets no target).`, ''] : []),
  ]
  const text = lines.join('\n')
  process.stdout.write(`${text}\n`)
  const file = path.join(REPO, 'bench/results', `${new Date().toISOString().slice(0, 10)}-analytics-drain.md`)
  mkdirSync(path.dirname(file), {recursive: true})
  writeFileSync(file, existsSync(file) ? `${readFileSync(file, 'utf8')}\n${text}\n` : `${text}\n`)
  log(`written to ${path.relative(REPO, file)}`)
  const figures = (r: Result | undefined) => (r ? {...r, recordsPerSec: r.rowsPerSec} : null)
  writeJsonOut(args['json-out'], {bench: 'analytics-drain', events: N, maxRows: MAX_ROWS, avgBytes, loadAverageAtStart: loadAtStart, kpipe: figures(kpipe), bare: figures(bare)})
}

await main()
