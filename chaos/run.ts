/**
 * `npm run chaos`: fault scenarios with load flowing, each ending in `kpipe integrity`, the way
 * Jepsen-style suites check a streaming system: what was acknowledged to the producer must be in
 * PostgreSQL or in the dead-letter topic exactly once, whatever happened to the worker meanwhile.
 *
 *   npx tsx chaos/run.ts [--scenarios worker-sigkill,worker-sigterm] [--duration 30s] [--rate 3000]
 *                        [--kills 5] [--poison 0.01] [--session-timeout 30s] [--out chaos/results] [--quick]
 *
 * The load is `kpipe load-test` (1% poison by default) into a fresh 6-partition topic; the worker
 * is the built `kpipe worker events`, killed and restarted by the scenario; the verdict is
 * `kpipe integrity --sink postgres` on the topic and the worker's group, beside the load test's
 * own counts. Writes chaos/results/<date>.json and .md. Exit 1 when anything was lost or
 * duplicated, 2 on bad options.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {parseArgs} from 'node:util'

import {Kafka, logLevel} from 'kafkajs'

import {parseDuration} from '../src/lib/durations.js'
import type {LoadTestResult} from '../src/lib/loadtest/load-test-service.js'
import {createPgPool} from '../src/lib/postgres/pool.js'
import {loadAverage} from '../bench/lib/harness.js'

const REPO = path.resolve(import.meta.dirname, '..')
const BIN = path.join(REPO, 'bin/run.js')
const SCENARIOS = ['worker-sigkill', 'worker-sigterm'] as const
type ScenarioName = (typeof SCENARIOS)[number]

const {values: args} = parseArgs({
  options: {
    scenarios: {type: 'string', default: SCENARIOS.join(',')},
    duration: {type: 'string', default: '30s'},
    rate: {type: 'string', default: '3000'},
    kills: {type: 'string', default: '5'},
    poison: {type: 'string', default: '0.01'},
    'session-timeout': {type: 'string'},
    out: {type: 'string', default: path.join(REPO, 'chaos/results')},
    quick: {type: 'boolean', default: false},
    help: {type: 'boolean', default: false},
  },
})
if (args.help) {
  process.stdout.write('npx tsx chaos/run.ts [--scenarios worker-sigkill,worker-sigterm] [--duration 30s] [--rate 3000] [--kills 5] [--poison 0.01] [--session-timeout 30s] [--out DIR] [--quick]\n')
  process.exit(0)
}
const chosen = args.scenarios!.split(',').map((s) => s.trim()) as ScenarioName[]
for (const name of chosen) {
  if (!SCENARIOS.includes(name)) {
    process.stderr.write(`chaos: unknown scenario "${name}"; known: ${SCENARIOS.join(', ')}\n`)
    process.exit(2)
  }
}
const DURATION_MS = args.quick ? 10_000 : parseDuration(args.duration!)
const RATE = Number(args.rate)
const KILLS = args.quick ? 2 : Number(args.kills)
const POISON = Number(args.poison)
const BROKERS = (process.env.KPIPE_BROKERS ?? 'localhost:9092').split(',')
const PG_URL = process.env.KPIPE_PG_URL ?? 'postgres://localhost:5432/kpipe'
const kafka = new Kafka({clientId: 'kpipe-chaos', brokers: BROKERS, logLevel: logLevel.NOTHING})

interface Proc {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  exited: Promise<number | null>
  /** Resolves with the time (ms since the epoch) a stderr line first matched. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<number>
}

function kpipe(cliArgs: string[]): Proc {
  const child = spawn(process.execPath, [BIN, ...cliArgs], {cwd: REPO, env: process.env, stdio: ['ignore', 'pipe', 'pipe']})
  let stdout = ''
  let stderr = ''
  const waiters: {pattern: RegExp; resolve(at: number): void}[] = []
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString()
    for (const waiter of [...waiters]) {
      if (waiter.pattern.test(stderr)) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve(Date.now())
      }
    }
  })
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    waitFor: (pattern, timeoutMs) =>
      new Promise((resolve, reject) => {
        if (pattern.test(stderr)) return resolve(Date.now())
        const timer = setTimeout(() => reject(new Error(`no line matched ${pattern} within ${timeoutMs} ms:\n${stderr.slice(-2000)}`)), timeoutMs)
        waiters.push({pattern, resolve: (at) => (clearTimeout(timer), resolve(at))})
        void exited.then(() => reject(new Error(`the process exited before a line matched ${pattern}:\n${stderr.slice(-2000)}`)))
      }),
  }
}

interface ScenarioResult {
  scenario: ScenarioName
  topic: string
  faults: string[]
  produced: number
  acknowledged: number
  poison: number
  stored: number
  rows: number
  deadLetters: number
  lost: number
  duplicated: number
  integrityOk: boolean
  /** Per fault: restart → the new worker joined its group (SIGKILL), or signal → exit (SIGTERM). */
  recoveryMs: number[]
  load: [number, number]
  durationMs: number
}

function log(message: string): void {
  process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${message}\n`)
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function startWorker(topic: string, group: string): Proc {
  // A SIGKILLed member stays in the group until its session times out: the restart's join waits
  // for that (kafkajs has no static membership), which is what the SIGKILL recovery time shows.
  const session = args['session-timeout'] ? ['--session-timeout', args['session-timeout']] : []
  return kpipe(['worker', 'events', '--topic', topic, '--group', group, '--from-beginning', '--metrics-port', '0', '--log-level', 'info', ...session])
}

async function runScenario(name: ScenarioName): Promise<ScenarioResult> {
  const id = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 5)}`
  const topic = `chaos-${name}-${id}`
  const group = `${topic}-g`
  const started = Date.now()
  const loadAtStart = loadAverage()[0]!
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({waitForLeaders: true, topics: [{topic, numPartitions: 6, replicationFactor: 1}, {topic: `${topic}.dlq`, numPartitions: 1, replicationFactor: 1}]})
  await admin.disconnect()
  log(`${name}: ${topic}, ${RATE}/s for ${DURATION_MS / 1000} s with ${POISON * 100}% poison`)

  let worker = startWorker(topic, group)
  await worker.waitFor(/joined consumer group/, 60_000)
  const load = kpipe(['load-test', '--topic', topic, '--rate', String(RATE), '--duration', `${DURATION_MS}ms`, '--poison', String(POISON), '--report-interval', '10s', '--json'])
  const loadStarted = Date.now()
  const faults: string[] = []
  const recoveryMs: number[] = []
  const count = name === 'worker-sigkill' ? KILLS : 2
  // Fault moments spread at random over the run, never in its first or last second.
  const moments = Array.from({length: count}, () => 1000 + Math.random() * (DURATION_MS - 2000)).sort((a, b) => a - b)
  for (const at of moments) {
    await sleep(Math.max(0, loadStarted + at - Date.now()))
    // When it really happened: a SIGKILL waits for the rejoin, which can push the next past its moment.
    const atSeconds = ((Date.now() - loadStarted) / 1000).toFixed(1)
    if (name === 'worker-sigkill') {
      worker.child.kill('SIGKILL')
      await worker.exited
      const restarted = Date.now()
      worker = startWorker(topic, group)
      const joined = await worker.waitFor(/joined consumer group/, 120_000)
      recoveryMs.push(joined - restarted)
      faults.push(`SIGKILL at ${atSeconds} s`)
    } else {
      // SIGTERM in the middle of the flow (a batch is in flight at these rates): a clean exit 0.
      const signalled = Date.now()
      worker.child.kill('SIGTERM')
      const code = await worker.exited
      recoveryMs.push(Date.now() - signalled)
      faults.push(`SIGTERM at ${atSeconds} s → exit ${code}`)
      if (code !== 0) throw new Error(`the worker exited ${code} on SIGTERM:\n${worker.stderr().slice(-2000)}`)
      worker = startWorker(topic, group)
      await worker.waitFor(/joined consumer group/, 120_000)
    }
  }
  const loadCode = await load.exited
  if (loadCode !== 0) throw new Error(`kpipe load-test exited ${loadCode}: ${load.stderr().slice(-2000)}`)
  const produced = JSON.parse(load.stdout()) as LoadTestResult
  // The last worker drains what is left and stops.
  worker.child.kill('SIGTERM')
  await worker.exited
  const drain = kpipe(['worker', 'events', '--topic', topic, '--group', group, '--metrics-port', '0', '--stop-when-caught-up', '--json'])
  if ((await drain.exited) !== 0) throw new Error(`the draining worker failed: ${drain.stderr().slice(-2000)}`)

  const integrity = kpipe(['integrity', '--sink', 'postgres', '--topic', topic, '--group', group, '--json'])
  await integrity.exited
  const verdict = JSON.parse(integrity.stdout()) as {ok: boolean; sinks: {rows: number; deadLetters: number; missing: number | unknown[]; duplicates: number | unknown[]}[]}
  const sink = verdict.sinks[0]!
  const pool = createPgPool({url: PG_URL}, {max: 1})
  const {rows} = await pool.query<{rows: string; distinct: string}>('SELECT count(*) AS rows, count(DISTINCT event_id) AS distinct FROM pipeline.events WHERE kafka_topic = $1', [topic])
  const rowCount = Number(rows[0]!.rows)
  const distinct = Number(rows[0]!.distinct)
  const size = (v: number | unknown[]) => (Array.isArray(v) ? v.length : v)
  const result: ScenarioResult = {
    scenario: name,
    topic,
    faults,
    produced: produced.sent,
    acknowledged: produced.acknowledged,
    poison: produced.poison,
    stored: distinct,
    rows: rowCount,
    deadLetters: sink.deadLetters,
    // Acknowledged records nothing accounts for, and integrity's own missing offsets.
    lost: Math.max(0, produced.acknowledged - distinct - sink.deadLetters) + size(sink.missing),
    duplicated: rowCount - distinct + size(sink.duplicates),
    integrityOk: verdict.ok,
    recoveryMs,
    load: [loadAtStart, loadAverage()[0]!],
    durationMs: Date.now() - started,
  }
  await pool.query('DELETE FROM pipeline.events WHERE kafka_topic = $1', [topic])
  await pool.end()
  const cleanup = kafka.admin()
  await cleanup.connect()
  await cleanup.deleteTopics({topics: [topic, `${topic}.dlq`]}).catch(() => undefined)
  await cleanup.disconnect()
  log(`${name}: acknowledged ${result.acknowledged}, stored ${result.stored}, dead letters ${result.deadLetters} (poison ${result.poison}), lost ${result.lost}, duplicated ${result.duplicated}`)
  return result
}

function markdown(results: ScenarioResult[], date: string): string {
  const lines = [
    `# kpipe chaos run — ${date}`,
    '',
    `Command: \`npx tsx chaos/run.ts ${process.argv.slice(2).join(' ')}\`; load ${RATE}/s of \`kpipe load-test\` for ${DURATION_MS / 1000} s, ${POISON * 100}% poison, into \`kpipe worker events\` (PostgreSQL and Redis). The machine is shared: its load average is given per scenario.`,
    '',
    '| scenario | faults | acknowledged | stored | dead letters (poison) | lost | duplicated | integrity | recovery, ms | load |',
    '|---|---|---:|---:|---:|---:|---:|---|---|---|',
  ]
  for (const r of results) {
    lines.push(
      `| ${r.scenario} | ${r.faults.join('; ')} | ${r.acknowledged} | ${r.stored} | ${r.deadLetters} (${r.poison}) | **${r.lost}** | **${r.duplicated}** | ${r.integrityOk ? 'ok' : '**mismatch**'} | ${r.recoveryMs.join(', ')} | ${r.load.map((l) => l.toFixed(1)).join(' → ')} |`,
    )
  }
  lines.push('', 'Recovery: for SIGKILL, restart → the new worker joined its group; for SIGTERM, the signal → the exit (a graceful shutdown).', '')
  return lines.join('\n')
}

async function main(): Promise<void> {
  const results: ScenarioResult[] = []
  for (const name of chosen) results.push(await runScenario(name))
  const date = new Date().toISOString().slice(0, 10)
  mkdirSync(args.out!, {recursive: true})
  writeFileSync(path.join(args.out!, `${date}.json`), `${JSON.stringify({date, rate: RATE, durationMs: DURATION_MS, poison: POISON, quick: args.quick, results}, null, 2)}\n`)
  writeFileSync(path.join(args.out!, `${date}.md`), markdown(results, date))
  log(`written ${path.join(args.out!, `${date}.md`)}`)
  const bad = results.filter((r) => r.lost > 0 || r.duplicated > 0 || !r.integrityOk || r.deadLetters !== r.poison)
  if (bad.length > 0) {
    process.stderr.write(`chaos: ${bad.map((r) => r.scenario).join(', ')} lost, duplicated or misfiled records\n`)
    process.exit(1)
  }
}

await main()
