/**
 * `npm run chaos`: fault scenarios with load flowing, each ending in `kpipe integrity`, the way
 * Jepsen-style suites check a streaming system: what was acknowledged to the producer must be in
 * its sink or in the dead-letter topic exactly once, whatever happened meanwhile.
 *
 *   npx tsx chaos/run.ts [--scenarios worker-sigkill,broker-kill,...] [--duration 30s] [--rate 3000]
 *                        [--kills 5] [--poison 0.01] [--outage 30s] [--session-timeout 30s]
 *                        [--out chaos/results] [--quick]
 *
 * The load is `kpipe load-test` (1% poison by default) into fresh topics; the workers are the
 * built `kpipe worker events|logs|analytics`, hurt, killed and restarted by the scenario; the
 * verdict is `kpipe integrity` on each sink beside the load tests' own counts. Progress (pauses,
 * recovery) is read from the groups' committed offsets in Kafka, not from the workers' metrics.
 * Scenarios that break a dependency run on servers of their own (test/helpers: a three-broker
 * Kafka cluster, a PostgreSQL cluster, a Redis, a TCP proxy in front of the BigQuery emulator):
 * the shared stack is never stopped. Writes chaos/results/<date>.json and .md. Exit 1 when
 * anything was lost, duplicated or misfiled, 2 on bad options.
 */
import {execFileSync} from 'node:child_process'
import {closeSync, mkdirSync, mkdtempSync, openSync, rmSync, unlinkSync, writeFileSync, writeSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {parseArgs} from 'node:util'

import {Kafka, logLevel, type ITopicConfig} from 'kafkajs'
import {Redis} from 'ioredis'
import pg from 'pg'

import {loadAverage} from '../bench/lib/harness.js'
import {createBigQuery} from '../src/lib/bigquery/client.js'
import {parseDuration} from '../src/lib/durations.js'
import type {LoadTestResult} from '../src/lib/loadtest/load-test-service.js'
import {startPrivateKafkaCluster, type PrivateKafkaCluster} from '../test/helpers/kafka-cluster.js'
import {postgresOsUser, privatePort, startPrivatePostgres, startPrivateRedis, type PrivatePostgres, type PrivateRedis} from '../test/helpers/services.js'
import {tcpProxy, type TcpProxy} from '../test/helpers/tcp-proxy.js'
import {healthPort, kpipe, REPO, type Proc} from './lib/proc.js'
import {CommitSampler, progressAcross, typicalGapMs} from './lib/progress.js'

const SCENARIOS = ['worker-sigkill', 'worker-sigterm', 'broker-kill', 'pg-restart', 'redis-stop', 'bigquery-stop', 'rebalance', 'slow-pg', 'pg-disk-full'] as const
type ScenarioName = (typeof SCENARIOS)[number]
const USAGE =
  'npx tsx chaos/run.ts [--scenarios a,b] [--duration 30s] [--rate 3000] [--kills 5] [--poison 0.01] [--outage 30s] [--session-timeout 30s] [--out DIR] [--quick]\n' +
  `scenarios: ${SCENARIOS.join(', ')}\n`

const {values: args} = parseArgs({
  options: {
    scenarios: {type: 'string', default: SCENARIOS.join(',')},
    duration: {type: 'string', default: '30s'},
    rate: {type: 'string', default: '3000'},
    kills: {type: 'string', default: '5'},
    poison: {type: 'string', default: '0.01'},
    outage: {type: 'string', default: '30s'},
    'session-timeout': {type: 'string'},
    out: {type: 'string', default: path.join(REPO, 'chaos/results')},
    quick: {type: 'boolean', default: false},
    help: {type: 'boolean', default: false},
  },
})
if (args.help) {
  process.stdout.write(USAGE)
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
/** How long Redis and the BigQuery emulator stay away (the issue asks for 30 s). */
const OUTAGE_MS = args.quick ? 5000 : parseDuration(args.outage!)
/** Outage scenarios run long enough for the outage to sit inside the load, with load after it. */
const OUTAGE_RUN_MS = Math.max(DURATION_MS, OUTAGE_MS + (args.quick ? 8000 : 20_000))
/** The workers' consumer group session timeout (kpipe's default unless --session-timeout). */
const SESSION_TIMEOUT_MS = args['session-timeout'] ? parseDuration(args['session-timeout']) : 30_000
/** Longest a last worker may take to drain what the load left. */
const DRAIN_LIMIT_MS = 240_000
/** systemd's RestartSec in deploy/systemd: how long a worker that exited stays down. */
const RESTART_SEC_MS = 5000

const SHARED = {
  brokers: process.env.KPIPE_BROKERS ?? 'localhost:9092',
  pgUrl: process.env.KPIPE_PG_URL ?? 'postgres://localhost:5432/kpipe',
  redisUrl: process.env.KPIPE_REDIS_URL ?? 'redis://localhost:6379',
  bqProject: process.env.KPIPE_BQ_PROJECT ?? 'local',
  bqEndpoint: process.env.KPIPE_BQ_ENDPOINT ?? 'http://localhost:9050',
  bqDataset: process.env.KPIPE_BQ_DATASET ?? 'analytics',
}
type Env = typeof SHARED

type WorkerKind = 'events' | 'logs' | 'analytics'
type SinkName = 'postgres' | 'logs' | 'bigquery'
const SINK_OF: Record<WorkerKind, SinkName> = {events: 'postgres', logs: 'logs', analytics: 'bigquery'}

interface Pipeline {
  kind: WorkerKind
  topic: string
  group: string
  partitions: number
  rate: number
  /** Environment of this pipeline's workers beyond the scenario's (a proxy in front of a server). */
  workerEnv?: Partial<Env>
}

/** Where a scenario runs: the shared stack or servers of its own, and how to remove them. */
interface Stage {
  env: Env
  pipelines: Pipeline[]
  replicationFactor: number
  topicConfig?: ITopicConfig['configEntries']
  /** The topics and groups are the defaults (a private cluster): integrity checks `--sink all`. */
  defaultNames: boolean
  /** The scenario's PostgreSQL is its own: nothing to delete afterwards, and it needs migrating. */
  privatePostgres: boolean
  cluster?: PrivateKafkaCluster
  postgres?: PrivatePostgres
  redis?: PrivateRedis
  proxy?: TcpProxy
  disk?: SmallDisk
  dispose(): Promise<void>
}

interface SinkResult {
  sink: SinkName
  topic: string
  group: string
  produced: number
  acknowledged: number
  poison: number
  stored: number
  rows: number
  deadLetters: number
  /** Copies beyond the first of a record in BigQuery's raw table (at-least-once; the view has one). */
  rawCopies?: number
  lost: number
  duplicated: number
  integrityOk: boolean
  /** The logs worker stores poison as text: its dead letters are not the poison count. */
  deadLettersArePoison: boolean
  /** Intended send → acknowledgement, the longest of the run: how long the producer stalled. */
  producerStallMs: number
  /** Records in the topic (end − start offsets) and the group's committed offsets, summed over partitions. */
  inLog: number
  committed: number
}

interface ScenarioResult {
  scenario: ScenarioName
  faults: string[]
  /** Totals over the sinks (each sink is in `sinks`). */
  produced: number
  acknowledged: number
  poison: number
  stored: number
  deadLetters: number
  lost: number
  duplicated: number
  integrityOk: boolean
  /** Per fault: the fault → every partition of every group committed again. */
  recoveryMs: (number | null)[]
  /** Per fault: the longest any partition went without a commit across it (rebalance pauses included). */
  pausesMs: number[]
  /** The median time between two commits of a partition before the first fault. */
  typicalCommitGapMs: number | null
  producerStallMs: number
  workerExits: string[]
  notes: string[]
  /** A check of the scenario's own that failed (e.g. Redis differs from PostgreSQL). */
  problems: string[]
  sinks: SinkResult[]
  load: [number, number]
  durationMs: number
}

function log(message: string): void {
  process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${message}\n`)
}

const uid = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 5)}`

function childEnv(env: Env, extra: Partial<Env> = {}): NodeJS.ProcessEnv {
  const e = {...env, ...extra}
  return {
    ...process.env,
    KPIPE_BROKERS: e.brokers,
    KPIPE_PG_URL: e.pgUrl,
    KPIPE_REDIS_URL: e.redisUrl,
    KPIPE_BQ_PROJECT: e.bqProject,
    KPIPE_BQ_ENDPOINT: e.bqEndpoint,
    KPIPE_BQ_DATASET: e.bqDataset,
  }
}

function kafkaOf(env: Env): Kafka {
  return new Kafka({clientId: 'kpipe-chaos', brokers: env.brokers.split(','), logLevel: logLevel.NOTHING})
}

// ---------------------------------------------------------------------------------------------
// Stages
// ---------------------------------------------------------------------------------------------

function eventsPipeline(name: string): Pipeline {
  const topic = `chaos-${name}-${uid()}`
  return {kind: 'events', topic, group: `${topic}-g`, partitions: 6, rate: RATE}
}

async function disposeAll(...parts: ({dispose(): Promise<void>} | undefined)[]): Promise<void> {
  for (const part of parts) await part?.dispose().catch((error: unknown) => log(`clean-up failed: ${(error as Error).message}`))
}

/** The shared stack: the shared broker, PostgreSQL and Redis, unique topics and groups. */
function sharedStage(name: string): Stage {
  return {env: SHARED, pipelines: [eventsPipeline(name)], replicationFactor: 1, defaultNames: false, privatePostgres: false, dispose: async () => undefined}
}

/** The shared broker; a PostgreSQL cluster and a Redis of the scenario's own (it stops them). */
async function privateStoresStage(name: string): Promise<Stage> {
  const [postgres, redis] = await Promise.all([startPrivatePostgres(), startPrivateRedis()])
  return {
    env: {...SHARED, pgUrl: postgres.url, redisUrl: redis.url},
    pipelines: [eventsPipeline(name)],
    replicationFactor: 1,
    defaultNames: false,
    privatePostgres: true,
    postgres,
    redis,
    dispose: () => disposeAll(postgres, redis),
  }
}

/**
 * A file system of its own for pipeline.events, which the scenario fills: a tmpfs mounted for the
 * run (it needs root, as staging a full disk safely does), owned by the PostgreSQL OS user, made
 * a tablespace of the private cluster. Only the table and its indexes live there: the WAL and the
 * catalogue stay on the cluster's own disk, so PostgreSQL refuses writes (SQLSTATE 53100,
 * "could not extend file … No space left on device") instead of stopping.
 */
interface SmallDisk {
  dir: string
  /** Fills what is left with a file, to the last page. */
  fill(): void
  /** Deletes the file. */
  free(): void
  dispose(): Promise<void>
}

function smallDisk(sizeMiB: number): SmallDisk {
  const dir = mkdtempSync(path.join(tmpdir(), 'kpipe-chaos-disk-'))
  const pgUser = process.getuid?.() === 0 ? postgresOsUser() : undefined
  const owner = pgUser ? `,uid=${pgUser.uid},gid=${pgUser.gid}` : ''
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0700${owner}`, 'tmpfs', dir], {stdio: ['ignore', 'ignore', 'pipe']})
  } catch (error) {
    rmSync(dir, {recursive: true, force: true})
    const why = String((error as {stderr?: Buffer}).stderr ?? (error as Error).message).trim()
    throw new Error(`pg-disk-full needs to mount a tmpfs (root, or CAP_SYS_ADMIN) to stage a full disk safely: ${why}`, {cause: error})
  }
  const filler = path.join(dir, 'filler')
  return {
    dir,
    fill() {
      const fd = openSync(filler, 'w')
      try {
        // Large writes, then page-sized ones for the last pages: nothing is left to extend into.
        for (const size of [1 << 20, 4096]) {
          const chunk = Buffer.alloc(size, 1)
          for (;;) {
            try {
              writeSync(fd, chunk)
            } catch (error) {
              if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break
              throw error
            }
          }
        }
      } finally {
        closeSync(fd)
      }
    },
    free() {
      unlinkSync(filler)
    },
    async dispose() {
      try {
        execFileSync('umount', [dir], {stdio: 'ignore'})
      } catch {
        execFileSync('umount', ['-l', dir], {stdio: 'ignore'})
      }
      rmSync(dir, {recursive: true, force: true})
    },
  }
}

/** privateStoresStage with pipeline.events on a disk of its own (see SmallDisk). */
async function diskFullStage(name: string): Promise<Stage> {
  const disk = smallDisk(512)
  try {
    const stage = await privateStoresStage(name)
    return {...stage, disk, dispose: async () => {
      await stage.dispose()
      await disk.dispose()
    }}
  } catch (error) {
    await disk.dispose()
    throw error
  }
}

/**
 * A three-broker cluster of the scenario's own (256 MiB heaps), with the three workers on their
 * default topics and groups, PostgreSQL and Redis of its own and a dataset of its own on the
 * emulator: `kpipe integrity --sink all` then checks exactly this run.
 */
async function clusterStage(): Promise<Stage> {
  const [cluster, postgres, redis] = await Promise.all([startPrivateKafkaCluster({nodes: 3}), startPrivatePostgres(), startPrivateRedis()])
  const dataset = `chaos_${uid()}`
  const side = Math.max(1, Math.round(RATE / 3))
  return {
    env: {...SHARED, brokers: cluster.brokers, pgUrl: postgres.url, redisUrl: redis.url, bqDataset: dataset},
    pipelines: [
      {kind: 'events', topic: 'events', group: 'kpipe-events', partitions: 6, rate: RATE},
      {kind: 'logs', topic: 'logs', group: 'kpipe-logs', partitions: 3, rate: side},
      {kind: 'analytics', topic: 'analytics', group: 'kpipe-analytics', partitions: 3, rate: side},
    ],
    replicationFactor: 3,
    topicConfig: [{name: 'min.insync.replicas', value: '2'}],
    defaultNames: true,
    privatePostgres: true,
    cluster,
    postgres,
    redis,
    dispose: async () => {
      await deleteDataset(dataset)
      await disposeAll(cluster, postgres, redis)
    },
  }
}

/** The analytics worker on the shared broker, through a TCP proxy of its own to the emulator. */
async function bigqueryStage(): Promise<Stage> {
  const proxy = await tcpProxy(SHARED.bqEndpoint)
  const dataset = `chaos_${uid()}`
  const topic = `chaos-bigquery-stop-${uid()}`
  return {
    env: {...SHARED, bqDataset: dataset},
    pipelines: [{kind: 'analytics', topic, group: `${topic}-g`, partitions: 3, rate: RATE, workerEnv: {bqEndpoint: `http://127.0.0.1:${proxy.port}`}}],
    replicationFactor: 1,
    defaultNames: false,
    privatePostgres: false,
    proxy,
    dispose: async () => {
      await proxy.dispose()
      await deleteDataset(dataset)
    },
  }
}

async function deleteDataset(dataset: string): Promise<void> {
  const bigquery = createBigQuery({project: SHARED.bqProject, dataset, endpoint: SHARED.bqEndpoint}, {autoRetry: false})
  await bigquery
    .dataset(dataset)
    .delete({force: true})
    .catch(() => undefined)
}

// ---------------------------------------------------------------------------------------------
// A run: workers supervised like systemd would, faults timed against the load
// ---------------------------------------------------------------------------------------------

class Run {
  /** A kill is an instant (at = to); an outage lasts from `at` to `to`. */
  readonly faults: {label: string; at: number; to: number}[] = []
  readonly notes: string[] = []
  readonly exits: string[] = []
  readonly problems: string[] = []
  readonly samplers = new Map<Pipeline, CommitSampler>()
  /** The live workers of each pipeline. */
  private readonly workers = new Map<Pipeline, Proc[]>()
  private readonly expected = new WeakSet<Proc>()
  private readonly restarts: Promise<unknown>[] = []
  private ending = false
  loadStarted = 0
  /** Summed from the summaries (--json) of the workers that exited cleanly. */
  sinkRetries = 0

  constructor(
    readonly name: ScenarioName,
    readonly stage: Stage,
  ) {}

  get durationMs(): number {
    if (this.name === 'redis-stop' || this.name === 'bigquery-stop') return OUTAGE_RUN_MS
    // Each kill waits for the restarted worker to rejoin, which takes the session timeout (the
    // killed member stays in the group until then): room for every kill inside the load.
    // (--quick keeps its 10 s: a kill that comes after the load is still checked, only not timed.)
    if (this.name === 'worker-sigkill' && !args.quick) return Math.max(DURATION_MS, KILLS * (SESSION_TIMEOUT_MS + 5000))
    // Room for two workers to start (seconds each on a loaded machine) and two rebalances under load.
    if (this.name === 'rebalance') return Math.max(DURATION_MS, args.quick ? 20_000 : 45_000)
    // A broker takes 10-20 s to start again on a loaded machine; the load goes on after it is back.
    if (this.name === 'broker-kill') return Math.max(DURATION_MS, args.quick ? 30_000 : 60_000)
    return DURATION_MS
  }

  seconds(at: number = Date.now()): string {
    return ((at - this.loadStarted) / 1000).toFixed(1)
  }

  /** Waits until `ms` after the load started. */
  async at(ms: number): Promise<void> {
    await sleep(Math.max(0, this.loadStarted + ms - Date.now()))
  }

  fault(label: string, at = Date.now(), to = at): void {
    const when = to === at ? `at ${this.seconds(at)} s` : `from ${this.seconds(at)} s to ${this.seconds(to)} s`
    this.faults.push({label: `${label} ${when}`, at, to})
    log(`${this.name}: ${label} ${when}`)
  }

  live(pipeline: Pipeline): Proc[] {
    return this.workers.get(pipeline) ?? []
  }

  /**
   * Starts a worker of the pipeline. One that exits without being told to is restarted after
   * RestartSec (Restart=on-failure), unless it exited 2 (RestartPreventExitStatus=2).
   */
  startWorker(pipeline: Pipeline, options: {serveHealth?: boolean} = {}): Proc {
    const session = args['session-timeout'] ? ['--session-timeout', args['session-timeout']] : []
    // Port 0 turns the health server off: a worker watched through /readyz gets a port of its own.
    const port = options.serveHealth ? privatePort() : 0
    const worker = kpipe(
      ['worker', pipeline.kind, '--topic', pipeline.topic, '--group', pipeline.group, '--from-beginning', '--metrics-port', String(port), '--log-level', 'info', '--json', ...session],
      childEnv(this.stage.env, pipeline.workerEnv),
    )
    this.workers.set(pipeline, [...this.live(pipeline), worker])
    void worker.exited.then((code) => {
      this.workers.set(pipeline, this.live(pipeline).filter((w) => w !== worker))
      try {
        this.sinkRetries += (JSON.parse(worker.stdout()) as {sinkRetries?: number}).sinkRetries ?? 0
      } catch {
        // killed, or exited with an error: no summary
      }
      if (this.expected.has(worker) || this.ending) return
      const line = `${pipeline.kind} worker exited ${code} at ${this.seconds()} s`
      this.exits.push(line)
      log(`${this.name}: ${line}; ${code === 2 ? 'not restarted (exit 2: bad configuration)' : `restarted after ${RESTART_SEC_MS / 1000} s`}`)
      const saved = path.join(tmpdir(), `kpipe-chaos-${this.name}-${pipeline.kind}-${Date.now()}.log`)
      writeFileSync(saved, worker.stderr())
      log(`${this.name}: its stderr is in ${saved}`)
      this.notes.push(`${line}: ${lastErrorLine(worker.stderr())}`)
      if (code === 2) return
      this.restarts.push(sleep(RESTART_SEC_MS).then(() => (this.ending ? undefined : this.startWorker(pipeline, options))))
    })
    return worker
  }

  /** Signals a worker on purpose; resolves with its exit code. */
  async signal(worker: Proc, signal: NodeJS.Signals): Promise<number | null> {
    this.expected.add(worker)
    worker.child.kill(signal)
    return worker.exited
  }

  async end(): Promise<void> {
    this.ending = true
    await Promise.all(this.restarts)
    for (const workers of this.workers.values()) for (const worker of workers) await this.signal(worker, 'SIGTERM')
  }

  async killAll(): Promise<void> {
    this.ending = true
    for (const workers of this.workers.values()) for (const worker of workers) await this.signal(worker, 'SIGKILL')
  }
}

function lastErrorLine(stderr: string): string {
  const lines = stderr.trim().split('\n').reverse()
  // A logged error, or the first line of an uncaught one (Node prints its stack after it).
  const line = lines.find((l) => /"level":(50|60)/.test(l)) ?? lines.findLast((l) => /^\w*Error\b|^Error:/.test(l)) ?? lines[0] ?? ''
  const msg = /"msg":"([^"]*)"/.exec(line)?.[1]
  return (msg ?? line).slice(0, 300)
}

/** /readyz of the pipeline's current worker, polled: when it went 503 and 200 again. */
function watchReadiness(run: Run, pipeline: Pipeline): {stop(): void; transitions: {at: number; status: number}[]} {
  const transitions: {at: number; status: number}[] = []
  const ports = new WeakMap<Proc, number>()
  let stopped = false
  void (async () => {
    while (!stopped) {
      const worker = run.live(pipeline)[0]
      let status = 0 // 0: no worker answering
      if (worker) {
        try {
          if (!ports.has(worker)) ports.set(worker, await healthPort(worker, 1000))
          status = (await fetch(`http://127.0.0.1:${ports.get(worker)}/readyz`, {signal: AbortSignal.timeout(2000)})).status
        } catch {
          status = 0
        }
      }
      if (transitions.at(-1)?.status !== status) transitions.push({at: Date.now(), status})
      await sleep(250)
    }
  })()
  return {
    transitions,
    stop: () => {
      stopped = true
    },
  }
}

function describeReadiness(run: Run, transitions: {at: number; status: number}[]): string {
  const label = (s: number) => (s === 0 ? 'no answer' : String(s))
  return `/readyz: ${transitions.map((t) => `${label(t.status)} at ${run.seconds(t.at)} s`).join(' → ')}`
}

/**
 * Runs a fault with the pipeline's /readyz watched, then waits (up to 2 minutes) until it answers
 * 200 again, with this worker or the one systemd would have started instead; notes the transitions.
 */
async function withReadiness(run: Run, pipeline: Pipeline, fault: () => Promise<void>): Promise<void> {
  const readiness = watchReadiness(run, pipeline)
  try {
    await fault()
    const deadline = Date.now() + 120_000
    while (readiness.transitions.at(-1)?.status !== 200 && Date.now() < deadline) await sleep(250)
  } finally {
    readiness.stop()
  }
  run.notes.push(describeReadiness(run, readiness.transitions))
}

// ---------------------------------------------------------------------------------------------
// The scenarios' faults
// ---------------------------------------------------------------------------------------------

/** Fault moments at random over the run, one in each equal share of it, never in its first or last second. */
function moments(count: number, durationMs: number): number[] {
  const share = (durationMs - 2000) / count
  return Array.from({length: count}, (_, i) => 1000 + i * share + Math.random() * share * 0.5)
}

const FAULTS: Record<ScenarioName, (run: Run) => Promise<void>> = {
  async 'worker-sigkill'(run) {
    const [pipeline] = run.stage.pipelines as [Pipeline]
    for (const at of moments(KILLS, run.durationMs)) {
      await run.at(at)
      const [worker] = run.live(pipeline)
      if (!worker) continue
      const killedAt = Date.now()
      await run.signal(worker, 'SIGKILL')
      run.fault('SIGKILL', killedAt)
      const restarted = Date.now()
      const joined = await run.startWorker(pipeline).waitFor(/joined consumer group/, 120_000)
      run.notes.push(`restarted at ${run.seconds(restarted)} s, rejoined its group ${((joined - restarted) / 1000).toFixed(1)} s later`)
    }
  },

  async 'worker-sigterm'(run) {
    const [pipeline] = run.stage.pipelines as [Pipeline]
    for (const at of moments(2, run.durationMs)) {
      await run.at(at)
      const [worker] = run.live(pipeline)
      if (!worker) continue
      // In the middle of the flow (a batch is in flight at these rates): a clean exit 0.
      const signalled = Date.now()
      const code = await run.signal(worker, 'SIGTERM')
      run.fault(`SIGTERM → exit ${code} after ${Date.now() - signalled} ms`, signalled)
      if (code !== 0) run.problems.push(`the worker exited ${code} on SIGTERM: ${lastErrorLine(worker.stderr())}`)
      await run.startWorker(pipeline).waitFor(/joined consumer group/, 120_000)
    }
  },

  async 'broker-kill'(run) {
    const cluster = run.stage.cluster!
    const admin = kafkaOf(run.stage.env).admin()
    await admin.connect()
    let leader: number
    let led: number
    let total: number
    try {
      const {topics} = await admin.fetchTopicMetadata({topics: run.stage.pipelines.map((p) => p.topic)})
      const counts = new Map<number, number>()
      for (const topic of topics) for (const p of topic.partitions) counts.set(p.leader, (counts.get(p.leader) ?? 0) + 1)
      total = topics.reduce((n, t) => n + t.partitions.length, 0)
      ;[leader, led] = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]!
    } finally {
      await admin.disconnect()
    }
    await run.at(run.durationMs * 0.2)
    const killedAt = Date.now()
    await cluster.kill(leader)
    log(`broker-kill: broker ${leader} killed at ${run.seconds(killedAt)} s`)
    await run.at(run.durationMs * 0.45)
    const starting = Date.now()
    await cluster.start(leader)
    run.fault(`SIGKILL of broker ${leader} (leader of ${led} of the ${total} partitions), started again at ${run.seconds(starting)} s and up`, killedAt, Date.now())
  },

  async 'pg-restart'(run) {
    const [pipeline] = run.stage.pipelines as [Pipeline]
    const postgres = run.stage.postgres!
    await withReadiness(run, pipeline, async () => {
      await run.at(DURATION_MS * 0.3)
      await postgres.stop()
      const down = Date.now()
      await sleep(args.quick ? 5000 : 10_000)
      await postgres.start()
      run.fault('PostgreSQL down (pg_ctl stop -m fast, then start)', down, Date.now())
    })
    run.notes.push(run.exits.length === 0 ? 'the worker rode the restart out (it retried; no exit)' : `the worker exited and was restarted: ${run.exits.join('; ')}`)
  },

  async 'redis-stop'(run) {
    const redis = run.stage.redis!
    await run.at(Math.min(10_000, (run.durationMs - OUTAGE_MS) / 2))
    await redis.stop()
    const down = Date.now()
    await sleep(OUTAGE_MS)
    await redis.start()
    run.fault('Redis stopped, then started again empty (no persistence)', down, Date.now())
  },

  async 'bigquery-stop'(run) {
    const proxy = run.stage.proxy!
    await run.at(Math.min(10_000, (run.durationMs - OUTAGE_MS) / 2))
    const cutAt = Date.now()
    proxy.cut()
    await sleep(OUTAGE_MS)
    proxy.heal()
    run.fault('BigQuery emulator unreachable (every connection reset)', cutAt, Date.now())
  },

  async rebalance(run) {
    const [pipeline] = run.stage.pipelines as [Pipeline]
    const [first] = run.live(pipeline) as [Proc]
    await run.at(run.durationMs * 0.15)
    // 1 → 3: the pause starts when the running member hears of the rebalance.
    const rebalancing = first.waitFor(/group is rebalancing/, 120_000, {onlyNew: true})
    const added = [run.startWorker(pipeline), run.startWorker(pipeline)]
    run.fault('1 → 3 workers: rebalance began', await rebalancing)
    await Promise.all(added.map((w) => w.waitFor(/joined consumer group/, 120_000)))
    await sleep(args.quick ? 3000 : 8000)
    // 3 → 1: the two leave the group on SIGTERM.
    const again = first.waitFor(/group is rebalancing/, 120_000, {onlyNew: true})
    const codes = await Promise.all(added.map((w) => run.signal(w, 'SIGTERM')))
    if (codes.some((c) => c !== 0)) run.problems.push(`a leaving worker exited ${codes.join(', ')} on SIGTERM`)
    run.fault('3 → 1 workers: rebalance began', await again)
    if (Date.now() > run.loadStarted + run.durationMs - 3000) run.notes.push('the second rebalance came as the load ended: its recovery may read "never"')
    const joins = [...first.stderr().matchAll(/"durationMs":(\d+)[^\n]*joined consumer group/g)].map((m) => Number(m[1]))
    run.notes.push(`the first worker's joins took ${joins.join(', ')} ms (kafkajs' own figure: join + sync)`)
  },

  'pg-disk-full': pgDiskFull,

  async 'slow-pg'(run) {
    const hold = args.quick ? 4000 : 15_000
    const client = new pg.Client({connectionString: run.stage.env.pgUrl})
    await client.connect()
    try {
      await run.at(DURATION_MS * 0.3)
      // This session waits for its lock as long as it takes; the worker's give up after 2 s.
      await client.query('SET lock_timeout = 0; BEGIN; LOCK TABLE pipeline.events IN SHARE ROW EXCLUSIVE MODE')
      const locked = Date.now()
      await sleep(hold)
      await client.query('COMMIT')
      run.fault("pipeline.events locked against writes (the worker's sessions have lock_timeout 2 s)", locked, Date.now())
    } finally {
      await client.end().catch(() => undefined)
    }
  },
}

async function pgDiskFull(run: Run): Promise<void> {
  const [pipeline] = run.stage.pipelines as [Pipeline]
  const disk = run.stage.disk!
  const hold = args.quick ? 5000 : 15_000
  await withReadiness(run, pipeline, async () => {
    await run.at(DURATION_MS * 0.3)
    disk.fill()
    const full = Date.now()
    await sleep(hold)
    disk.free()
    run.fault("pipeline.events' disk full (its tablespace's file system filled to the last page, then the filler deleted)", full, Date.now())
  })
  const refusals = run.live(pipeline).map((w) => (w.stderr().match(/No space left on device/g) ?? []).length).reduce((a, b) => a + b, 0)
  run.notes.push(`PostgreSQL's "No space left on device" in the worker's log: ${refusals} time(s) (the first failure and every tenth retry are logged)`)
  if (refusals === 0) run.problems.push('the worker never logged a write refused for lack of disk space: the fault did not reach it')
  run.notes.push(run.exits.length === 0 ? 'the worker rode the full disk out (it retried; no exit)' : `the worker exited and was restarted: ${run.exits.join('; ')}`)
}

/** What a scenario prepares after its topics exist and before its workers start. */
async function prepare(run: Run): Promise<void> {
  if (run.name === 'slow-pg') {
    // Every new session of the worker gives up on a lock after 2 s: a statement fails under load.
    const client = new pg.Client({connectionString: run.stage.env.pgUrl})
    await client.connect()
    await client.query("ALTER DATABASE postgres SET lock_timeout = '2s'")
    await client.end()
  }
  if (run.name === 'pg-disk-full') {
    const client = new pg.Client({connectionString: run.stage.env.pgUrl})
    await client.connect()
    try {
      await client.query(`CREATE TABLESPACE chaos_small LOCATION '${run.stage.disk!.dir}'`)
      await client.query('ALTER TABLE pipeline.events SET TABLESPACE chaos_small')
      const {rows} = await client.query<{name: string}>("SELECT indexname AS name FROM pg_indexes WHERE schemaname = 'pipeline' AND tablename = 'events'")
      for (const {name} of rows) await client.query(`ALTER INDEX pipeline.${pg.escapeIdentifier(name)} SET TABLESPACE chaos_small`)
    } finally {
      await client.end()
    }
  }
}

// ---------------------------------------------------------------------------------------------
// One scenario: stage, workers, load, faults, drain, integrity
// ---------------------------------------------------------------------------------------------

async function stageFor(name: ScenarioName): Promise<Stage> {
  switch (name) {
    case 'broker-kill':
      return clusterStage()
    case 'pg-restart':
    case 'redis-stop':
    case 'slow-pg':
    case 'rebalance':
      return privateStoresStage(name)
    case 'bigquery-stop':
      return bigqueryStage()
    case 'pg-disk-full':
      return diskFullStage(name)
    default:
      return sharedStage(name)
  }
}

async function createTopics(stage: Stage): Promise<void> {
  const admin = kafkaOf(stage.env).admin()
  await admin.connect()
  try {
    const rf = stage.replicationFactor
    const configEntries = stage.topicConfig
    const topics = stage.pipelines.flatMap((p) => [
      {topic: p.topic, numPartitions: p.partitions, replicationFactor: rf, configEntries},
      {topic: `${p.topic}.dlq`, numPartitions: 1, replicationFactor: rf, configEntries},
    ])
    // Leaders asked for until every partition has one: on a fresh cluster kafkajs may fail the
    // create itself (UNKNOWN_TOPIC_OR_PARTITION from a broker that does not know the topic yet).
    const create = () => admin.createTopics({waitForLeaders: false, topics}).catch((error: unknown) => log(`createTopics: ${(error as Error).message}; asking again`))
    await create()
    const deadline = Date.now() + 120_000
    for (let attempt = 1; ; attempt++) {
      if (attempt % 20 === 0) await create()
      const led = await admin
        .fetchTopicMetadata({topics: topics.map((t) => t.topic)})
        .then(({topics: found}) => found.length === topics.length && found.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0)))
        .catch(() => false)
      if (led) break
      if (Date.now() > deadline) throw new Error(`the topics of ${stage.pipelines.map((p) => p.topic).join(', ')} got no leaders within 120 s`)
      await sleep(500)
    }
  } finally {
    await admin.disconnect()
  }
}

async function cleanUp(stage: Stage): Promise<void> {
  if (stage.cluster) return // the cluster goes with its data
  const admin = kafkaOf(stage.env).admin()
  await admin.connect()
  await admin.deleteTopics({topics: stage.pipelines.flatMap((p) => [p.topic, `${p.topic}.dlq`])}).catch(() => undefined)
  await admin.disconnect()
  if (!stage.privatePostgres && stage.pipelines.some((p) => p.kind === 'events')) {
    const pool = new pg.Pool({connectionString: stage.env.pgUrl, max: 1})
    for (const p of stage.pipelines) if (p.kind === 'events') await pool.query('DELETE FROM pipeline.events WHERE kafka_topic = $1', [p.topic])
    await pool.end()
  }
}

async function mustSucceed(proc: Proc, what: string): Promise<string> {
  const code = await proc.exited
  if (code !== 0) throw new Error(`${what} exited ${code}:\n${proc.stderr().slice(-3000)}`)
  return proc.stdout()
}

async function runScenario(name: ScenarioName): Promise<ScenarioResult> {
  const started = Date.now()
  const loadAtStart = loadAverage()[0]!
  const stage = await stageFor(name)
  const run = new Run(name, stage)
  const env = childEnv(stage.env)
  try {
    await createTopics(stage)
    if (stage.privatePostgres) await mustSucceed(kpipe(['db', 'migrate'], env), 'kpipe db migrate')
    await prepare(run)
    const brokers = stage.env.brokers.split(',')
    for (const p of stage.pipelines) {
      const sampler = new CommitSampler(brokers, p.group, p.topic)
      await sampler.start()
      run.samplers.set(p, sampler)
    }
    log(`${name}: ${stage.pipelines.map((p) => `${p.kind} ${p.topic} ${p.rate}/s`).join(', ')} for ${run.durationMs / 1000} s with ${POISON * 100}% poison`)
    await Promise.all(stage.pipelines.map((p) => run.startWorker(p, {serveHealth: name === 'pg-restart' || name === 'pg-disk-full'}).waitFor(/joined consumer group/, 120_000)))

    // kafkajs' idempotent producer with several requests in flight fails with
    // OUT_OF_ORDER_SEQUENCE_NUMBER when a partition's leader dies (it rolls back the sequence of
    // the failed request while later ones are out): one in flight across a broker kill.
    const inFlight = name === 'broker-kill' ? ['--max-in-flight', '1'] : []
    const loads = stage.pipelines.map((p) =>
      kpipe(['load-test', '--topic', p.topic, '--rate', String(p.rate), '--duration', `${run.durationMs}ms`, '--poison', String(POISON), '--report-interval', '10s', '--json', ...inFlight], env),
    )
    run.loadStarted = Date.now()
    await FAULTS[name](run)
    const produced = await Promise.all(loads.map(async (load) => JSON.parse(await mustSucceed(load, 'kpipe load-test')) as LoadTestResult))
    const loadEnded = Date.now()

    // The last workers stop; one more per pipeline drains what is left and stops.
    await run.end()
    log(`${name}: load done, workers stopped ${((Date.now() - loadEnded) / 1000).toFixed(1)} s later; draining`)
    const drains = await Promise.all(
      stage.pipelines.map(async (p) => {
        // --from-beginning: on a loaded machine every worker may have been killed before its first commit.
        const drain = kpipe(['worker', p.kind, '--topic', p.topic, '--group', p.group, '--from-beginning', '--metrics-port', '0', '--stop-when-caught-up', '--json'], env)
        // A drain that never catches up is a finding, not a hang of the whole run.
        const stuck = setTimeout(() => {
          run.problems.push(`the draining ${p.kind} worker had not caught up after ${DRAIN_LIMIT_MS / 1000} s: ${lastErrorLine(drain.stderr())}`)
          const saved = path.join(tmpdir(), `kpipe-chaos-${name}-${p.kind}-drain-${Date.now()}.log`)
          writeFileSync(saved, drain.stderr())
          log(`${name}: the draining ${p.kind} worker is stuck; stopped; its stderr is in ${saved}`)
          drain.child.kill('SIGTERM')
        }, DRAIN_LIMIT_MS)
        const code = await drain.exited
        clearTimeout(stuck)
        if (code !== 0) throw new Error(`the draining ${p.kind} worker exited ${code}:\n${drain.stderr().slice(-3000)}`)
        return JSON.parse(drain.stdout()) as {projectionsStale?: boolean}
      }),
    )
    for (const sampler of run.samplers.values()) await sampler.stop()
    log(`${name}: drained; kpipe integrity`)

    const sinks = await account(stage, produced)
    if (name === 'redis-stop') {
      if (drains[0]?.projectionsStale) run.problems.push('the projections were still stale when the draining worker exited')
      await compareProjections(run)
    }
    if (['pg-restart', 'slow-pg', 'pg-disk-full', 'bigquery-stop', 'broker-kill'].includes(name)) {
      run.notes.push(`sink write retries of the workers (their --json summaries): ${run.sinkRetries}`)
    }

    // Pauses and recoveries over every group: the worst partition of any of them.
    const recoveryMs: (number | null)[] = []
    const pausesMs: number[] = []
    for (const fault of run.faults) {
      if (fault.at >= loadEnded) {
        // Nothing flowed any more: no pause to measure.
        recoveryMs.push(null)
        pausesMs.push(0)
        run.notes.push(`${fault.label}: after the load ended, not measured`)
        continue
      }
      let pause = 0
      let recovery: number | null = 0
      for (const sampler of run.samplers.values()) {
        const progress = progressAcross(sampler.advances, fault.at, fault.to, loadEnded)
        pause = Math.max(pause, progress.pauseMs)
        recovery = recovery === null || progress.recoveryMs === null ? null : Math.max(recovery, progress.recoveryMs)
      }
      recoveryMs.push(recovery)
      pausesMs.push(pause)
    }
    const firstFault = run.faults[0]?.at ?? loadEnded
    const gaps = [...run.samplers.values()].map((s) => typicalGapMs(s.advances, firstFault)).filter((g): g is number => g !== null)
    const sum = (pick: (s: SinkResult) => number) => sinks.reduce((total, s) => total + pick(s), 0)
    const result: ScenarioResult = {
      scenario: name,
      faults: run.faults.map((f) => f.label),
      produced: sum((s) => s.produced),
      acknowledged: sum((s) => s.acknowledged),
      poison: sum((s) => s.poison),
      stored: sum((s) => s.stored),
      deadLetters: sum((s) => s.deadLetters),
      lost: sum((s) => s.lost),
      duplicated: sum((s) => s.duplicated),
      integrityOk: sinks.every((s) => s.integrityOk),
      recoveryMs,
      pausesMs,
      typicalCommitGapMs: gaps.length > 0 ? Math.max(...gaps) : null,
      producerStallMs: Math.max(...sinks.map((s) => s.producerStallMs)),
      workerExits: run.exits,
      notes: run.notes,
      problems: run.problems,
      sinks,
      load: [loadAtStart, loadAverage()[0]!],
      durationMs: Date.now() - started,
    }
    log(
      `${name}: acknowledged ${result.acknowledged}, stored ${result.stored}, dead letters ${result.deadLetters} (poison ${result.poison}), lost ${result.lost}, duplicated ${result.duplicated}; ` +
        `recovery ${recoveryMs.map((r) => (r === null ? 'never' : `${(r / 1000).toFixed(1)} s`)).join(', ')}`,
    )
    return result
  } finally {
    await run.killAll()
    for (const sampler of run.samplers.values()) await sampler.stop()
    await cleanUp(stage).catch((error: unknown) => log(`clean-up failed: ${(error as Error).message}`))
    await stage.dispose()
  }
}

interface IntegritySink {
  sink: SinkName
  topic: string
  ok: boolean
  rows: number
  deadLetters: number
  missingOffsets: number
  duplicateCount: number
  rawCopies: number
}

/** `kpipe integrity` on the scenario's sinks beside the load tests' counts. */
async function account(stage: Stage, produced: LoadTestResult[]): Promise<SinkResult[]> {
  const env = childEnv(stage.env)
  const admin = kafkaOf(stage.env).admin()
  await admin.connect()
  const facts = new Map<Pipeline, {inLog: number; committed: number}>()
  try {
    for (const p of stage.pipelines) {
      const ends = await admin.fetchTopicOffsets(p.topic)
      const [group] = await admin.fetchOffsets({groupId: p.group, topics: [p.topic]})
      facts.set(p, {
        inLog: ends.reduce((n, e) => n + Number(e.high) - Number(e.low), 0),
        committed: (group?.partitions ?? []).reduce((n, e) => n + Math.max(0, Number(e.offset)), 0),
      })
    }
  } finally {
    await admin.disconnect()
  }
  const runs = stage.defaultNames
    ? [['--sink', 'all']]
    : stage.pipelines.map((p) => ['--sink', SINK_OF[p.kind], '--topic', p.topic, '--group', p.group])
  const reports: IntegritySink[] = []
  for (const flags of runs) {
    const integrity = kpipe(['integrity', ...flags, '--json'], env)
    const code = await integrity.exited
    if (code !== 0 && code !== 1) throw new Error(`kpipe integrity ${flags.join(' ')} exited ${code}:\n${integrity.stderr().slice(-2000)}`)
    reports.push(...(JSON.parse(integrity.stdout()) as {sinks: IntegritySink[]}).sinks)
  }
  const results: SinkResult[] = []
  for (const [i, p] of stage.pipelines.entries()) {
    const load = produced[i]!
    const sink = reports.find((r) => r.sink === SINK_OF[p.kind] && r.topic === p.topic)
    if (!sink) throw new Error(`kpipe integrity did not report ${SINK_OF[p.kind]} on ${p.topic}`)
    let stored = Number(sink.rows)
    let extraCopies = 0
    if (p.kind === 'events') {
      // DESIGN's hand check: count(*) and count(DISTINCT event_id) of the topic's rows.
      const pool = new pg.Pool({connectionString: stage.env.pgUrl, max: 1})
      const {rows} = await pool.query<{rows: string; distinct: string}>('SELECT count(*) AS rows, count(DISTINCT event_id) AS distinct FROM pipeline.events WHERE kafka_topic = $1', [p.topic])
      await pool.end()
      stored = Number(rows[0]!.distinct)
      extraCopies = Number(rows[0]!.rows) - stored
    }
    const deadLetters = Number(sink.deadLetters)
    results.push({
      sink: sink.sink,
      topic: p.topic,
      group: p.group,
      produced: load.sent,
      acknowledged: load.acknowledged,
      poison: load.poison,
      stored,
      rows: Number(sink.rows),
      deadLetters,
      ...(p.kind === 'analytics' ? {rawCopies: Number(sink.rawCopies)} : {}),
      // Acknowledged records nothing accounts for, and the offsets integrity found unaccounted.
      lost: Math.max(0, load.acknowledged - stored - deadLetters) + Number(sink.missingOffsets),
      duplicated: extraCopies + sink.duplicateCount,
      integrityOk: sink.ok,
      deadLettersArePoison: p.kind !== 'logs',
      producerStallMs: Math.round(load.correctedLatencyMs.max),
      ...facts.get(p)!,
    })
  }
  return results
}

/** Redis after the outage against PostgreSQL, the truth: each entity's newest event id. */
async function compareProjections(run: Run): Promise<void> {
  const [pipeline] = run.stage.pipelines as [Pipeline]
  const pool = new pg.Pool({connectionString: run.stage.env.pgUrl, max: 1})
  const redis = new Redis(run.stage.env.redisUrl, {maxRetriesPerRequest: 3})
  try {
    // The projection's order: greatest (occurred_at, event_id); the private cluster collates in C, as Lua compares.
    const {rows} = await pool.query<{entity_key: string; event_id: string}>(
      'SELECT DISTINCT ON (entity_key) entity_key, event_id FROM pipeline.events WHERE kafka_topic = $1 ORDER BY entity_key, occurred_at DESC, event_id DESC',
      [pipeline.topic],
    )
    const batch = redis.pipeline()
    for (const row of rows) batch.hget(`kpipe:entity:${row.entity_key}`, 'eventId')
    const answers = (await batch.exec()) ?? []
    const differing = rows.filter((row, i) => answers[i]?.[1] !== row.event_id)
    run.notes.push(`Redis read model against PostgreSQL after the outage: ${rows.length - differing.length} of ${rows.length} entities (kpipe:entity:<key> eventId) agree`)
    if (differing.length > 0) {
      run.problems.push(`${differing.length} Redis entities differ from PostgreSQL, e.g. ${differing[0]!.entity_key}: ${String(answers[rows.indexOf(differing[0]!)]?.[1])} instead of ${differing[0]!.event_id}`)
    }
  } finally {
    redis.disconnect()
    await pool.end()
  }
}

// ---------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------

const secs = (ms: number | null) => (ms === null ? 'never' : (ms / 1000).toFixed(1))

function markdown(results: ScenarioResult[], date: string): string {
  const lines = [
    `# kpipe chaos run — ${date}`,
    '',
    `Command: \`npx tsx chaos/run.ts ${process.argv.slice(2).join(' ')}\`; load of \`kpipe load-test\` (${RATE}/s into the events worker unless said otherwise) for ${DURATION_MS / 1000} s (${OUTAGE_RUN_MS / 1000} s around the ${OUTAGE_MS / 1000} s outages), ${POISON * 100}% poison. The machine (2 cores) is shared: its load average is given per scenario.`,
    '',
    '| scenario | sink | produced | acknowledged | stored | dead letters (poison) | lost | duplicated | integrity | recovery, s | pauses, s | producer stall, s | load |',
    '|---|---|---:|---:|---:|---:|---:|---:|---|---|---|---:|---|',
  ]
  for (const r of results) {
    if (r.sinks.length === 0) lines.push(`| ${r.scenario} | **did not finish** (see below) | | | | | | | | | | | |`)
    for (const [i, s] of r.sinks.entries()) {
      const first = i === 0
      lines.push(
        `| ${first ? r.scenario : ''} | ${s.sink} (${s.topic.startsWith('chaos-') ? 'own topic' : s.topic}) | ${s.produced} | ${s.acknowledged} | ${s.stored}${s.rawCopies ? ` (+${s.rawCopies} raw copies)` : ''} | ${s.deadLetters} (${s.poison}${s.deadLettersArePoison ? '' : ', stored as text'}) | **${s.lost}** | **${s.duplicated}** | ${s.integrityOk ? 'ok' : '**mismatch**'} | ` +
          `${first ? r.recoveryMs.map(secs).join(', ') : ''} | ${first ? r.pausesMs.map(secs).join(', ') : ''} | ${secs(s.producerStallMs)} | ${first ? r.load.map((l) => l.toFixed(1)).join(' → ') : ''} |`,
      )
    }
  }
  lines.push(
    '',
    '- **recovery**: per fault, from the fault to the moment every partition of every group involved had committed again (read from the committed offsets in Kafka, sampled every 200 ms).',
    '- **pauses**: per fault, the longest any partition went without a commit across it (for `rebalance` these are the rebalance pauses; kafkajs rebalances eagerly: every partition is revoked and reassigned). Between faults a partition commits every ' +
      `${results.map((r) => r.typicalCommitGapMs).filter((g) => g !== null).length > 0 ? `${Math.min(...results.map((r) => r.typicalCommitGapMs ?? Infinity))}–${Math.max(...results.map((r) => r.typicalCommitGapMs ?? 0))}` : '?'} ms (median).`,
    '- **producer stall**: the longest intended send → acknowledgement of the load test (acks=all): how long a record waited because of the fault.',
    '- **stored**: distinct event ids in pipeline.events, rows of pipeline.logs, distinct Kafka coordinates in BigQuery; **lost**: acknowledged records neither stored nor dead-lettered, plus the offsets `kpipe integrity` found unaccounted for; **duplicated**: extra rows for one event id plus the duplicates `kpipe integrity` found.',
    '- Fault times are when each fault really happened (after the load started), not when it was planned.',
    '',
    '## Faults and notes',
    '',
  )
  for (const r of results) {
    lines.push(`- **${r.scenario}**: ${r.faults.join('; ') || 'no fault recorded'}.`)
    for (const note of r.notes) lines.push(`  - ${note}`)
    for (const problem of r.problems) lines.push(`  - **problem**: ${problem}`)
  }
  lines.push('')
  return lines.join('\n')
}

function unfinished(name: ScenarioName, message: string): ScenarioResult {
  return {
    scenario: name,
    faults: [],
    produced: 0,
    acknowledged: 0,
    poison: 0,
    stored: 0,
    deadLetters: 0,
    lost: 0,
    duplicated: 0,
    integrityOk: false,
    recoveryMs: [],
    pausesMs: [],
    typicalCommitGapMs: null,
    producerStallMs: 0,
    workerExits: [],
    notes: [],
    problems: [`did not finish: ${message}`],
    sinks: [],
    load: [loadAverage()[0]!, loadAverage()[0]!],
    durationMs: 0,
  }
}

function failures(r: ScenarioResult): string[] {
  const found = [...r.problems]
  for (const s of r.sinks) {
    if (s.lost > 0) found.push(`${s.sink}: ${s.lost} lost (${s.acknowledged} acknowledged, ${s.inLog} in the topic, ${s.committed} committed)`)
    if (s.duplicated > 0) found.push(`${s.sink}: ${s.duplicated} duplicated`)
    if (!s.integrityOk) found.push(`${s.sink}: integrity mismatch`)
    if (s.deadLettersArePoison && s.deadLetters !== s.poison) found.push(`${s.sink}: ${s.deadLetters} dead letters for ${s.poison} poison records`)
    if (!s.deadLettersArePoison && s.stored + s.deadLetters !== s.acknowledged) found.push(`${s.sink}: ${s.stored} stored + ${s.deadLetters} dead letters for ${s.acknowledged} acknowledged`)
  }
  return found
}

async function main(): Promise<void> {
  const results: ScenarioResult[] = []
  for (const name of chosen) {
    try {
      results.push(await runScenario(name))
    } catch (error) {
      // A scenario that could not finish (a load test that died, say) is a result too.
      const message = (error as Error).message.split('\n').filter((l) => l.trim() !== '' && !/^\d+\.\ds: /.test(l)).slice(0, 3).join(' ')
      log(`${name}: did not finish: ${message}`)
      results.push(unfinished(name, message))
    }
  }
  const date = new Date().toISOString().slice(0, 10)
  mkdirSync(args.out!, {recursive: true})
  const settings = {rate: RATE, durationMs: DURATION_MS, outageMs: OUTAGE_MS, outageRunMs: OUTAGE_RUN_MS, poison: POISON, quick: args.quick}
  writeFileSync(path.join(args.out!, `${date}.json`), `${JSON.stringify({date, ...settings, results}, null, 2)}\n`)
  writeFileSync(path.join(args.out!, `${date}.md`), markdown(results, date))
  log(`written ${path.join(args.out!, `${date}.md`)}`)
  const bad = results.map((r) => ({scenario: r.scenario, found: failures(r)})).filter((b) => b.found.length > 0)
  if (bad.length > 0) {
    process.stderr.write(`chaos: ${bad.map((b) => `${b.scenario} (${b.found.join('; ')})`).join(', ')}\n`)
    process.exit(1)
  }
}

await main()
process.exit(0)
