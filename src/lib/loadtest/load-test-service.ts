/**
 * `kpipe load-test`: paced envelope events → Kafka, with three latencies per record (publish:
 * send → ack; publish delay: intended send → send; corrected: intended send → ack), and, with
 * --e2e, intended send → row in pipeline.events read back from PostgreSQL. The sending is
 * producer-loop.ts; this runs one producer in this thread or several in worker threads, starts
 * them together, merges their histograms and progress, and reads the rows back.
 */
import {randomInt} from 'node:crypto'
import {Worker} from 'node:worker_threads'

import type {KpipeConfig} from '../config.js'
import {ConfigError, DependencyError, InternalError, UsageError, type Dependency} from '../errors.js'
import {assertTopicExists} from '../kafka/admin.js'
import {checkEndToEndReady, measureEndToEnd} from './e2e.js'
import {LatencyRecorder, type LatencySummary} from './latency.js'
import {LoadEvents, type LoadEventsOptions} from './load-events.js'
import {objectiveBreaches, type LoadObjectives} from './objectives.js'
import {ProducerLoop, type CompressionName, type ProducerLoopOptions, type ProducerLoopResult, type WindowReport} from './producer-loop.js'
import type {SerializedError, ToProducer} from './producer-thread.js'
import type {LoadPlan} from './schedule.js'
import type {EndToEndResult} from './e2e.js'

export {COMPRESSIONS, keyCachingPartitioner, type CompressionName} from './producer-loop.js'

export interface LoadTestOptions {
  kafka: KpipeConfig['kafka']
  topic: string
  plan: LoadPlan
  events: Omit<LoadEventsOptions, 'runId'>
  compression: CompressionName
  /** Producers, each in its own thread when more than one (kafkajs encodes on the JS thread). */
  producers: number
  /** Records per produce request at most. */
  batchSize: number
  /** How long a record may wait for its batch to fill. */
  lingerMs: number
  /** Unacknowledged produce requests at most. */
  maxInFlight: number
  reportIntervalMs: number
  /** Read the events back from pipeline.events (a worker must be running). */
  e2e?: {postgres: KpipeConfig['postgres']; timeoutMs: number}
  objectives: LoadObjectives
  signal?: AbortSignal
  /** Each interval's point; `seconds`: how long its window was (the last one, at the end, may be short). */
  onProgress?: (point: TimelinePoint, window: {seconds: number}) => void
  debug?: boolean
}

export interface TimelinePoint {
  /** ms since the first record was due. */
  atMs: number
  /** Whether this interval is (partly) warm-up, left out of the final figures. */
  warmup: boolean
  records: number
  recordsPerSec: number
  mbPerSec: number
  latencyAvgMs: number
  latencyP99Ms: number
  latencyMaxMs: number
  correctedP99Ms: number
}

export interface LoadTestResult {
  /** The run's id; with several producers each has its own (event ids lt<runId>…). */
  runId: string
  runIds: string[]
  topic: string
  settings: {ratePerSec: number; sizeBytes: number; keys: number; encoding: string; compression: CompressionName; poisonShare: number; producers: number; batchSize: number; lingerMs: number; maxInFlight: number; warmupMs: number}
  /** Measured records acknowledged (warm-up excluded). */
  records: number
  durationMs: number
  recordsPerSec: number
  /** Value bytes, MiB per second (as kafka-producer-perf-test's "MB/sec"). */
  mbPerSec: number
  sent: number
  acknowledged: number
  poison: number
  warmupRecords: number
  interrupted: boolean
  latencyMs: LatencySummary
  publishDelayMs: LatencySummary
  correctedLatencyMs: LatencySummary
  e2eLatencyMs: LatencySummary | null
  e2e: Omit<EndToEndResult, 'latency'> | null
  timeline: TimelinePoint[]
  breaches: string[]
}

/** One producer, in this thread or another: connected once `ready` resolves. */
interface ProducerHandle {
  ready: Promise<void>
  run(startWallUs: number, onWindow: (window: WindowReport) => void): Promise<ProducerLoopResult>
  stop(): void
}

export async function runLoadTest(options: LoadTestOptions): Promise<LoadTestResult> {
  await assertTopicExists(options.kafka, options.topic, {debug: options.debug})
  if (options.e2e) await checkEndToEndReady(options.e2e.postgres)
  // Checked here, before any thread starts: a size below the envelope is a usage error.
  new LoadEvents({...options.events, runId: 'aaaaaa'})

  const n = options.producers
  const runIds = Array.from({length: n}, () => randomRunId())
  const loops: ProducerLoopOptions[] = runIds.map((runId, k) => ({
    kafka: options.kafka,
    topic: options.topic,
    plan: shareOfPlan(options.plan, n, k),
    events: {...options.events, runId},
    compression: options.compression,
    batchSize: options.batchSize,
    lingerMs: options.lingerMs,
    maxInFlight: options.maxInFlight,
    reportIntervalMs: options.reportIntervalMs,
    debug: options.debug,
  }))
  const handles = n === 1 ? [inThisThread(loops[0]!, options.signal)] : loops.map((loop) => inWorkerThread(loop))
  const stopAll = () => handles.forEach((handle) => handle.stop())
  options.signal?.addEventListener('abort', stopAll, {once: true})
  let results: ProducerLoopResult[]
  const timeline: TimelinePoint[] = []
  try {
    await Promise.all(handles.map((handle) => handle.ready))
    // A common start a moment ahead, so that every producer's first slot is the same instant.
    const startWallUs = Date.now() * 1000 + 20_000
    const windows = new WindowMerger(n, startWallUs, (point, seconds) => {
      timeline.push(point)
      options.onProgress?.(point, {seconds})
    })
    results = await Promise.all(
      handles.map((handle) =>
        handle.run(startWallUs, (window) => windows.add(window)).catch((error: unknown) => {
          stopAll()
          throw error
        }),
      ),
    )
    windows.flush()
  } finally {
    options.signal?.removeEventListener('abort', stopAll)
    stopAll()
  }

  const publish = new LatencyRecorder()
  const delay = new LatencyRecorder()
  const corrected = new LatencyRecorder()
  for (const result of results) {
    publish.addEncoded(result.publish)
    delay.addEncoded(result.delay)
    corrected.addEncoded(result.corrected)
  }
  const sum = (pick: (r: ProducerLoopResult) => number) => results.reduce((total, r) => total + pick(r), 0)
  const measureStart = Math.min(...results.map((r) => r.measureStartWallUs))
  const lastAck = Math.max(...results.map((r) => r.lastAckWallUs))
  const durationMs = lastAck > 0 ? Math.max(1, (lastAck - measureStart) / 1000) : 0
  const measuredRecords = publish.count
  const measuredBytes = sum((r) => r.measuredBytes)

  let e2e: EndToEndResult | null = null
  if (options.e2e) {
    const latency = new LatencyRecorder()
    const parts: EndToEndResult[] = []
    const started = Date.now()
    for (const result of results) {
      if (result.firstMeasuredSeq < 0) continue
      const part = await measureEndToEnd({
        postgres: options.e2e.postgres,
        // One timeout for the run: the producers' rows are read one after the other.
        timeoutMs: Math.max(0, options.e2e.timeoutMs - (Date.now() - started)),
        events: new LoadEvents({...options.events, runId: result.runId}),
        firstSeq: result.firstMeasuredSeq,
        endSeq: result.firstMeasuredSeq + result.measured,
        signal: options.signal,
        latency,
      })
      parts.push(part)
    }
    e2e = {
      latency: latency.summary(),
      expected: parts.reduce((t, p) => t + p.expected, 0),
      stored: parts.reduce((t, p) => t + p.stored, 0),
      missing: parts.reduce((t, p) => t + p.missing, 0),
      timeoutMs: options.e2e.timeoutMs,
      waitedMs: Date.now() - started,
    }
  }
  const result = {
    runId: runIds[0]!,
    runIds,
    topic: options.topic,
    settings: {
      ratePerSec: options.plan.ratePerSec,
      sizeBytes: options.events.sizeBytes,
      keys: options.events.keys,
      encoding: options.events.encoding,
      compression: options.compression,
      poisonShare: options.events.poisonShare,
      producers: n,
      batchSize: options.batchSize,
      lingerMs: options.lingerMs,
      maxInFlight: options.maxInFlight,
      warmupMs: options.plan.warmupUs / 1000,
    },
    records: measuredRecords,
    durationMs: Math.round(durationMs),
    recordsPerSec: durationMs > 0 ? round1((measuredRecords * 1000) / durationMs) : 0,
    mbPerSec: durationMs > 0 ? round3((measuredBytes / 2 ** 20) * (1000 / durationMs)) : 0,
    sent: sum((r) => r.sent),
    acknowledged: sum((r) => r.acknowledged),
    poison: sum((r) => r.poison),
    warmupRecords: sum((r) => r.warmup),
    interrupted: options.signal?.aborted ?? false,
    latencyMs: publish.summary(),
    publishDelayMs: delay.summary(),
    correctedLatencyMs: corrected.summary(),
    e2eLatencyMs: e2e ? e2e.latency : null,
    e2e: e2e ? {expected: e2e.expected, stored: e2e.stored, missing: e2e.missing, timeoutMs: e2e.timeoutMs, waitedMs: e2e.waitedMs} : null,
    timeline,
    breaches: [] as string[],
  }
  result.breaches = objectiveBreaches(result, options.objectives)
  return result
}

/** Producer k of n: an nth of the rate (or of the count), the same warm-up and duration. */
export function shareOfPlan(plan: LoadPlan, n: number, k: number): LoadPlan {
  const share: LoadPlan = {ratePerSec: plan.ratePerSec / n, warmupUs: plan.warmupUs}
  if (plan.count !== undefined) share.count = Math.floor(plan.count / n) + (k < plan.count % n ? 1 : 0)
  else share.durationUs = plan.durationUs
  return share
}

function inThisThread(options: ProducerLoopOptions, signal?: AbortSignal): ProducerHandle {
  const controller = new AbortController()
  if (signal?.aborted) controller.abort()
  const connected = ProducerLoop.connect(options)
  let running = false
  return {
    ready: connected.then(() => undefined),
    run: async (startWallUs, onWindow) => {
      running = true
      const loop = await connected
      try {
        return await loop.run(startWallUs, {signal: controller.signal, onWindow})
      } finally {
        await loop.close()
      }
    },
    stop: () => {
      controller.abort()
      // Never started (another producer failed): its connection must not keep the process up.
      if (!running) void connected.then((loop) => loop.close(), () => undefined)
    },
  }
}

function inWorkerThread(options: ProducerLoopOptions): ProducerHandle {
  // Under bin/dev.js (TypeScript run by tsx) the thread needs tsx too.
  const fromSource = import.meta.url.endsWith('.ts')
  const worker = new Worker(new URL(fromSource ? './producer-thread.ts' : './producer-thread.js', import.meta.url), {
    workerData: options,
    execArgv: fromSource ? ['--import', 'tsx'] : [],
  })
  let onWindow: (window: WindowReport) => void = () => undefined
  let settle: {resolve(result: ProducerLoopResult): void; reject(error: unknown): void} | undefined
  const outcome = new Promise<ProducerLoopResult>((resolve, reject) => (settle = {resolve, reject}))
  outcome.catch(() => undefined) // observed through run() or ready
  let readied: () => void = () => undefined
  const ready = new Promise<void>((resolve, reject) => {
    readied = resolve
    outcome.catch(reject)
  })
  ready.catch(() => undefined) // awaited by the caller; another producer's failure may come first
  worker.on('message', (message: {type: 'ready'} | {type: 'window'; window: WindowReport} | {type: 'done'; result: ProducerLoopResult} | {type: 'error'; error: SerializedError}) => {
    if (message.type === 'ready') readied()
    else if (message.type === 'window') onWindow(message.window)
    else if (message.type === 'done') settle!.resolve(message.result)
    else settle!.reject(deserialize(message.error))
  })
  worker.on('error', (error) => settle!.reject(error))
  worker.on('exit', (code) => settle!.reject(new InternalError(`a load-test producer thread exited (${code}) before it reported`)))
  const post = (message: ToProducer) => {
    try {
      worker.postMessage(message)
    } catch {
      // the thread is gone; its outcome says why
    }
  }
  return {
    ready,
    run: (startWallUs, windows) => {
      onWindow = windows
      post({type: 'start', startWallUs})
      return outcome
    },
    stop: () => {
      post({type: 'stop'})
      // A thread that does not end by itself (a hung disconnect) is ended.
      setTimeout(() => void worker.terminate(), 10_000).unref()
    },
  }
}

function deserialize(error: SerializedError): Error {
  switch (error.kind) {
    case 'unreachable':
      return new DependencyError((error.dependency ?? 'kafka') as Dependency, error.message, {hint: error.hint})
    case 'usage':
      return new UsageError(error.message, {hint: error.hint})
    case 'config':
      return new ConfigError(error.message, {hint: error.hint})
    default:
      return new Error(error.message)
  }
}

/**
 * The producers' window reports → one timeline point per interval: counts added, histograms
 * merged, once every producer has reported that interval (the last, partial ones at the end).
 */
class WindowMerger {
  private readonly pending = new Map<number, {reports: WindowReport[]}>()
  private next = 0

  constructor(
    private readonly producers: number,
    private readonly startWallUs: number,
    private readonly emit: (point: TimelinePoint, seconds: number) => void,
  ) {}

  add(report: WindowReport): void {
    const entry = this.pending.get(report.index) ?? {reports: []}
    entry.reports.push(report)
    this.pending.set(report.index, entry)
    while (this.pending.get(this.next)?.reports.length === this.producers) this.emitIndex(this.next++)
  }

  flush(): void {
    for (const index of [...this.pending.keys()].sort((a, b) => a - b)) if (index >= this.next) this.emitIndex(index)
  }

  private emitIndex(index: number): void {
    const reports = this.pending.get(index)?.reports ?? []
    this.pending.delete(index)
    if (reports.length === 0) return
    const publish = new LatencyRecorder()
    const corrected = new LatencyRecorder()
    for (const report of reports) {
      publish.addEncoded(report.publish)
      corrected.addEncoded(report.corrected)
    }
    const records = reports.reduce((t, r) => t + r.records, 0)
    const bytes = reports.reduce((t, r) => t + r.bytes, 0)
    const seconds = Math.max(...reports.map((r) => r.seconds))
    const summary = publish.summary()
    const point: TimelinePoint = {
      atMs: Math.round((Date.now() * 1000 - this.startWallUs) / 1000),
      warmup: reports.some((r) => r.warmup),
      records,
      recordsPerSec: seconds > 0 ? round1(records / seconds) : 0,
      mbPerSec: seconds > 0 ? round3(bytes / 2 ** 20 / seconds) : 0,
      latencyAvgMs: summary.avg,
      latencyP99Ms: summary.p99,
      latencyMaxMs: summary.max,
      correctedP99Ms: corrected.summary().p99,
    }
    this.emit(point, seconds)
  }
}

/** Six random characters of [0-9a-z] (2.2 × 10^9 runs): a run never reads another run's rows. */
function randomRunId(): string {
  return randomInt(36 ** 6).toString(36).padStart(6, '0')
}

const round1 = (n: number) => Math.round(n * 10) / 10
const round3 = (n: number) => Math.round(n * 1000) / 1000
