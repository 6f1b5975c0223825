/**
 * DESIGN §6: `kpipe integrity` over 1,000,000 rows in under 10 s.
 *
 *   eval "$(./scripts/stack env)"; npm run build
 *   npx tsx bench/integrity.ts [--rows 1000000] [--partitions 6] [--runs 3] [--delete 1000] [--keep]
 *
 * 1. Produces N event envelopes to a fresh topic (record i to partition i mod P, one batch in
 *    flight, so it lands at offset ⌊i/P⌋ and its row can be generated in SQL; checked: the
 *    deleted run must report exactly the deleted offsets missing, none superseded), and commits
 *    a group at the log end.
 * 2. Loads the matching N rows into pipeline.events under that unique topic name with one
 *    INSERT … SELECT FROM generate_series (the worker's drain is measured by events-drain.ts;
 *    here only the check is), then VACUUM ANALYZE, the state autovacuum keeps a live table in.
 * 3. Times the built CLI, `kpipe integrity --sink postgres --topic T --group G --json`, wall clock
 *    from spawn to exit (node and oclif start-up included): --runs times on the clean table
 *    (exit 0 expected), then --runs times after deleting --delete rows spread over the table
 *    (exit 1 expected, naming exactly those offsets; every one of them is read back from Kafka
 *    and its event id looked up, the path a real gap takes).
 * The table and the EXPLAIN (ANALYZE, BUFFERS) plan of the islands query are printed and appended to bench/results/<date>-integrity.md; topic, group and rows
 * are removed afterwards unless --keep.
 */
import {spawn} from 'node:child_process'
import {appendFileSync, mkdirSync} from 'node:fs'
import path from 'node:path'
import {parseArgs} from 'node:util'

import {Kafka, logLevel} from 'kafkajs'

import {INT64_MAX, islandsQuery} from '../src/lib/integrity/pg-islands.js'
import {createPgPool} from '../src/lib/postgres/pool.js'
import {fmt, load, loadAverage, log, produceFast, writeJsonOut} from './lib/harness.js'

const REPO = path.resolve(import.meta.dirname, '..')
const {values: args} = parseArgs({
  options: {
    rows: {type: 'string', default: '1000000'},
    partitions: {type: 'string', default: '6'},
    runs: {type: 'string', default: '3'},
    delete: {type: 'string', default: '1000'},
    keep: {type: 'boolean', default: false},
    // Also writes this run's figures as JSON (for bench/run.ts); the Markdown is written as before.
    'json-out': {type: 'string'},
  },
})
const N = Number(args.rows)
const P = Number(args.partitions)
const RUNS = Number(args.runs)
const DELETE = Number(args.delete)
const BROKERS = (process.env.KPIPE_BROKERS ?? 'localhost:9092').split(',')
const PG_URL = process.env.KPIPE_PG_URL ?? 'postgres://localhost:5432/kpipe'
const id = Date.now().toString(36)
const topic = `bench-integrity-${id}`
const group = `${topic}-g`
const kafka = new Kafka({clientId: 'kpipe-bench', brokers: BROKERS, logLevel: logLevel.NOTHING})
const pool = createPgPool({url: PG_URL}, {max: 1, applicationName: 'kpipe bench integrity'})

const eventId = (i: number) => `${topic}-${i}`
const BASE_MS = Date.parse('2026-01-01T00:00:00Z')

interface Run {
  label: string
  seconds: number
  code: number | null
  checked: number
  missing: number
  /** 1-minute load average before and after the timed run. */
  load: [number, number]
}

async function timeIntegrity(label: string): Promise<Run> {
  const loadBefore = loadAverage()[0]!
  const started = process.hrtime.bigint()
  const child = spawn(process.execPath, [path.join(REPO, 'bin/run.js'), 'integrity', '--sink', 'postgres', '--topic', topic, '--group', group, '--json'], {
    cwd: REPO,
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)))
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const report = JSON.parse(stdout || '{}') as {sinks?: {checkedOffsets: number; missingOffsets: number}[]}
  if (!report.sinks) throw new Error(`integrity exited ${code} without a report:\n${stdout}\n${stderr.slice(-3000)}`)
  const run: Run = {label, seconds, code, checked: report.sinks[0]!.checkedOffsets, missing: report.sinks[0]!.missingOffsets, load: [loadBefore, loadAverage()[0]!]}
  if (label.startsWith('clean') ? code !== 0 : code !== 1 || run.missing !== DELETE) throw new Error(`${label}: unexpected report (exit ${code}):\n${stdout.slice(0, 3000)}`)
  log(`${label}: ${seconds.toFixed(2)} s, exit ${code}, ${fmt(run.checked)} checked, ${fmt(run.missing)} missing`)
  return run
}

const admin = kafka.admin()
await admin.connect()
const runs: Run[] = []
let plan: string | undefined
try {
  await admin.createTopics({waitForLeaders: true, topics: [{topic, numPartitions: P, replicationFactor: 1}, {topic: `${topic}.dlq`, numPartitions: 1, replicationFactor: 1}]})
  await produceFast(
    kafka,
    topic,
    N,
    (i) => ({
      partition: i % P,
      key: `user-${i % 20_000}`,
      value: JSON.stringify({
        eventId: eventId(i),
        type: 'user.seen',
        source: 'bench',
        occurredAt: new Date(BASE_MS + i).toISOString(),
        key: `user-${i % 20_000}`,
        correlationId: null,
        schemaVersion: 1,
        payload: {n: i},
      }),
    }),
    // One batch in flight: record i must land at offset ⌊i/P⌋ of partition i mod P.
    {label: `${P} partitions, record i → partition i mod ${P}`, inFlight: 1},
  )
  const ends = await admin.fetchTopicOffsets(topic)
  const total = ends.reduce((sum, p) => sum + Number(p.high), 0)
  if (total !== N) throw new Error(`the topic holds ${total} records, not ${N}`)
  await admin.setOffsets({groupId: group, topic, partitions: ends.map((p) => ({partition: p.partition, offset: p.high}))})

  const loadStarted = Date.now()
  await pool.query(
    `INSERT INTO pipeline.events (event_id, type, source, entity_key, occurred_at, correlation_id, schema_version, payload, kafka_topic, kafka_partition, kafka_offset)
     SELECT $1 || '-' || i, 'user.seen', 'bench', 'user-' || (i % 20000), $2::timestamptz + i * interval '1 millisecond', NULL, 1,
            jsonb_build_object('n', i), $3, (i % $4)::int, i / $4
       FROM generate_series(0, $5 - 1) AS i`,
    [topic, new Date(BASE_MS).toISOString(), topic, P, N],
  )
  await pool.query('VACUUM (ANALYZE) pipeline.events')
  log(`loaded ${fmt(N)} rows into pipeline.events in ${((Date.now() - loadStarted) / 1000).toFixed(1)} s (load ${load()})`)

  // The plan of the islands query for one partition: an index-only scan in offset order.
  const explained = await pool.query<{'QUERY PLAN': string}>(`EXPLAIN (ANALYZE, BUFFERS) ${islandsQuery('events')}`, [topic, [0], ['0'], [INT64_MAX.toString()]])
  plan = explained.rows.map((row) => row['QUERY PLAN']).join('\n')

  for (let i = 0; i < RUNS; i++) runs.push(await timeIntegrity(`clean, run ${i + 1}`))
  if (DELETE > 0) {
    const step = Math.max(1, Math.floor(N / DELETE))
    const {rowCount} = await pool.query(
      `DELETE FROM pipeline.events WHERE kafka_topic = $1 AND event_id = ANY(ARRAY(SELECT $1 || '-' || (k * $2) FROM generate_series(0, $3 - 1) AS k))`,
      [topic, step, DELETE],
    )
    log(`deleted ${fmt(rowCount ?? 0)} rows, one every ${fmt(step)}`)
    for (let i = 0; i < RUNS; i++) runs.push(await timeIntegrity(`${fmt(DELETE)} rows deleted, run ${i + 1}`))
  }
} finally {
  if (!args.keep) {
    await pool.query('DELETE FROM pipeline.events WHERE kafka_topic = $1', [topic]).catch(() => undefined)
    await admin.deleteGroups([group]).catch(() => undefined)
    await admin.deleteTopics({topics: [topic, `${topic}.dlq`]}).catch(() => undefined)
  }
  await admin.disconnect()
  await pool.end()
}

const lines = [
  `# ${new Date().toISOString().slice(0, 10)} — \`kpipe integrity\` on ${fmt(N)} rows`,
  '',
  `\`npx tsx bench/integrity.ts --rows ${N} --partitions ${P} --runs ${RUNS} --delete ${DELETE}\`, load average ${load()} at the end.`,
  'Wall time of the built CLI from spawn to exit (node and oclif start-up included), `--sink postgres --json`.',
  '',
  '| run | seconds | exit | offsets checked | missing | < 10 s |',
  '|---|---:|---:|---:|---:|---|',
  ...runs.map((r) => `| ${r.label} | ${r.seconds.toFixed(2)} | ${r.code} | ${fmt(r.checked)} | ${fmt(r.missing)} | ${r.seconds < 10 ? 'yes' : 'NO'} |`),
  '',
  `Plan of the islands query for partition 0 (${fmt(Math.ceil(N / P))} rows), EXPLAIN (ANALYZE, BUFFERS):`,
  '',
  '```',
  plan ?? '(not reached)',
  '```',
  '',
]
process.stdout.write(`${lines.join('\n')}\n`)
mkdirSync(path.join(REPO, 'bench/results'), {recursive: true})
appendFileSync(path.join(REPO, `bench/results/${new Date().toISOString().slice(0, 10)}-integrity.md`), `${lines.join('\n')}\n`)
writeJsonOut(args['json-out'], {
  bench: 'integrity',
  rows: N,
  partitions: P,
  deleted: DELETE,
  clean: runs.filter((r) => r.label.startsWith('clean')),
  withMissing: runs.filter((r) => !r.label.startsWith('clean')),
})
