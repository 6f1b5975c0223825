/**
 * `kpipe load-test`: paced envelope events → Kafka, with three latencies per record (publish:
 * send → ack; publish delay: intended send → send; corrected: intended send → ack), and, with
 * --e2e, intended send → row in pipeline.events read back from PostgreSQL.
 *
 * kafkajs has no accumulator of its own (each send is one request), so this loop is the
 * accumulator: records join a batch when they are due (their "send", as producer.send() is in
 * Java's perf test), the batch goes out when it is full or has lingered, and at most maxInFlight
 * batches are unacknowledged. A full pipeline holds the loop, and the records due meanwhile are
 * sent late: their publish delay, not a lower rate, shows the stall.
 */
import {randomInt} from 'node:crypto'
import {setImmediate as yieldToIo} from 'node:timers/promises'
import {performance} from 'node:perf_hooks'
import {CompressionTypes, Partitioners, type ICustomPartitioner, type Message} from 'kafkajs'

import type {KpipeConfig} from '../config.js'
import {settlesWithin} from '../deadline.js'
import {kafkaDependencyError} from '../error-classify.js'
import {DependencyError, KpipeError} from '../errors.js'
import {assertTopicExists} from '../kafka/admin.js'
import {COMMAND_RETRY, createKafka} from '../kafka/client.js'
import {registerCompressionCodecs} from '../workers/codecs.js'
import {checkEndToEndReady, measureEndToEnd, type EndToEndResult} from './e2e.js'
import {LatencyRecorder, type LatencySummary} from './latency.js'
import {LoadEvents, type LoadEventsOptions} from './load-events.js'
import {objectiveBreaches, type LoadObjectives} from './objectives.js'
import {SendSchedule, type LoadPlan} from './schedule.js'

export const COMPRESSIONS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const
export type CompressionName = (typeof COMPRESSIONS)[number]
const COMPRESSION_TYPES: Record<CompressionName, CompressionTypes> = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
}
/** Longest wait for one batch's acknowledgement (kafkajs retries inside it) before giving up. */
const SEND_DEADLINE_MS = 30_000

export interface LoadTestOptions {
  kafka: KpipeConfig['kafka']
  topic: string
  plan: LoadPlan
  events: Omit<LoadEventsOptions, 'runId'>
  compression: CompressionName
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
  onProgress?: (point: TimelinePoint) => void
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
  runId: string
  topic: string
  settings: {ratePerSec: number; sizeBytes: number; keys: number; encoding: string; compression: CompressionName; poisonShare: number; batchSize: number; lingerMs: number; maxInFlight: number; warmupMs: number}
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

const nowUs = (): number => performance.now() * 1000
/** The monotonic clock's µs → µs since the epoch (what PostgreSQL's now() is compared with). */
const wallUs = (monotonicUs: number): number => Math.round(performance.timeOrigin * 1000 + monotonicUs)

interface Batch {
  messages: Message[]
  seqs: number[]
  intendedUs: number[]
  sendUs: number[]
  measured: boolean[]
  bytes: number[]
}

const newBatch = (): Batch => ({messages: [], seqs: [], intendedUs: [], sendUs: [], measured: [], bytes: []})

export async function runLoadTest(options: LoadTestOptions): Promise<LoadTestResult> {
  registerCompressionCodecs()
  const runId = randomRunId()
  const events = new LoadEvents({...options.events, runId})
  const kafka = createKafka(options.kafka, {retry: COMMAND_RETRY, debug: options.debug})
  await assertTopicExists(options.kafka, options.topic, {debug: options.debug})
  if (options.e2e) await checkEndToEndReady(options.e2e.postgres)

  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: options.maxInFlight,
    allowAutoTopicCreation: false,
    createPartitioner: keyCachingPartitioner,
    // Idempotence needs unlimited retries (kafkajs warns otherwise); SEND_DEADLINE_MS bounds a send.
    retry: {...COMMAND_RETRY, retries: Number.MAX_SAFE_INTEGER},
  })
  try {
    await producer.connect()
  } catch (error) {
    throw kafkaDependencyError(error) ?? error
  }

  const publish = new LatencyRecorder()
  const delay = new LatencyRecorder()
  const corrected = new LatencyRecorder()
  const window = {publish: new LatencyRecorder(), corrected: new LatencyRecorder(), records: 0, bytes: 0, warmup: false}
  const counts = {sent: 0, acknowledged: 0, poison: 0, warmup: 0, measured: 0, measuredBytes: 0, firstMeasuredSeq: -1, lastAckUs: 0}
  const timeline: TimelinePoint[] = []
  let failure: unknown

  const schedule = new SendSchedule(options.plan, nowUs())
  const reporter = startReporter(schedule.startUs, options.reportIntervalMs, window, (point) => {
    timeline.push(point)
    options.onProgress?.(point)
  })

  const inFlight = new Set<Promise<void>>()
  const dispatch = (batch: Batch) => {
    const sent = producer.send({topic: options.topic, acks: -1, compression: COMPRESSION_TYPES[options.compression], messages: batch.messages})
    const done = settlesWithin(sent, SEND_DEADLINE_MS).then(
      (settled) => {
        if (!settled) {
          failure ??= new DependencyError('kafka', `Kafka did not acknowledge a batch of ${options.topic} within ${SEND_DEADLINE_MS / 1000}s.`, {hint: 'Check the brokers with kpipe health.'})
          return
        }
        const ackUs = nowUs()
        for (let i = 0; i < batch.seqs.length; i++) {
          const publishUs = ackUs - batch.sendUs[i]!
          const correctedUs = ackUs - batch.intendedUs[i]!
          window.publish.record(publishUs)
          window.corrected.record(correctedUs)
          window.bytes += batch.bytes[i]!
          if (events.isPoison(batch.seqs[i]!)) counts.poison++
          if (!batch.measured[i]) continue
          publish.record(publishUs)
          delay.record(batch.sendUs[i]! - batch.intendedUs[i]!)
          corrected.record(correctedUs)
          counts.measuredBytes += batch.bytes[i]!
          counts.lastAckUs = ackUs
        }
        window.records += batch.seqs.length
        counts.acknowledged += batch.seqs.length
      },
      (error: unknown) => {
        failure ??= error
      },
    )
    const tracked = done.finally(() => inFlight.delete(tracked))
    inFlight.add(tracked)
  }

  let seq = 0
  let batch = newBatch()
  const lingerUs = options.lingerMs * 1000
  try {
    let ended = false
    while (failure === undefined && !options.signal?.aborted) {
      const now = nowUs()
      const due = schedule.dueSlots(now)
      while (!ended && seq < due && batch.seqs.length < options.batchSize) {
        const offset = schedule.paced ? schedule.offsetUs(seq) : now - schedule.startUs
        const intended = schedule.paced ? schedule.intendedUs(seq) : now
        if (schedule.pastEnd(offset, counts.measured)) {
          ended = true
          break
        }
        const measured = !schedule.inWarmup(offset)
        if (measured) {
          counts.measured++
          if (counts.firstMeasuredSeq < 0) counts.firstMeasuredSeq = seq
        } else counts.warmup++
        window.warmup ||= !measured
        const value = events.value(seq, wallUs(intended))
        batch.messages.push({key: events.keyBuffer(seq), value})
        batch.seqs.push(seq)
        batch.intendedUs.push(intended)
        batch.sendUs.push(now)
        batch.measured.push(measured)
        batch.bytes.push(value.length)
        seq++
      }
      const full = batch.seqs.length >= options.batchSize
      const lingered = batch.seqs.length > 0 && now - batch.sendUs[0]! >= lingerUs
      const canDispatch = inFlight.size < options.maxInFlight
      if (canDispatch && (full || lingered || (ended && batch.seqs.length > 0))) {
        counts.sent += batch.seqs.length
        dispatch(batch)
        batch = newBatch()
        // Let acknowledgements and timers in between batches.
        await yieldToIo()
        continue
      }
      if (ended && batch.seqs.length === 0) break
      // Wait for whichever comes first: the next slot (while the batch has room: records keep
      // joining it while every request is in flight, as they join Java's accumulator), the end
      // of the linger, or an acknowledgement that frees a request. A full batch with every
      // request in flight holds the records due meanwhile: that is their publish delay.
      const waits: Promise<unknown>[] = []
      let wakeUs = Number.POSITIVE_INFINITY
      if (!full && !ended && schedule.paced) wakeUs = schedule.intendedUs(seq)
      if (canDispatch && batch.seqs.length > 0) wakeUs = Math.min(wakeUs, batch.sendUs[0]! + lingerUs)
      if (!canDispatch) waits.push(Promise.race(inFlight))
      if (wakeUs !== Number.POSITIVE_INFINITY) {
        const waitMs = (wakeUs - nowUs()) / 1000
        waits.push(waitMs > 0 ? sleep(waitMs, options.signal) : yieldToIo())
      }
      await (waits.length > 0 ? Promise.race(waits) : yieldToIo())
    }
    if (failure === undefined && batch.seqs.length > 0 && !options.signal?.aborted) {
      counts.sent += batch.seqs.length
      dispatch(batch)
    }
    await Promise.all(inFlight)
  } finally {
    reporter.stop()
    await settlesWithin(producer.disconnect().catch(() => undefined), 5000)
  }
  if (failure !== undefined) throw loadTestFailure(failure, options.topic, counts.acknowledged)

  const durationMs = counts.lastAckUs > 0 ? Math.max(1, (counts.lastAckUs - schedule.measureStartUs) / 1000) : 0
  const measuredRecords = publish.count
  let e2e: EndToEndResult | null = null
  if (options.e2e && counts.firstMeasuredSeq >= 0) {
    e2e = await measureEndToEnd({
      postgres: options.e2e.postgres,
      timeoutMs: options.e2e.timeoutMs,
      events,
      firstSeq: counts.firstMeasuredSeq,
      endSeq: counts.firstMeasuredSeq + counts.measured,
      signal: options.signal,
    })
  }
  const result = {
    runId,
    topic: options.topic,
    settings: {
      ratePerSec: options.plan.ratePerSec,
      sizeBytes: options.events.sizeBytes,
      keys: options.events.keys,
      encoding: options.events.encoding,
      compression: options.compression,
      poisonShare: options.events.poisonShare,
      batchSize: options.batchSize,
      lingerMs: options.lingerMs,
      maxInFlight: options.maxInFlight,
      warmupMs: options.plan.warmupUs / 1000,
    },
    records: measuredRecords,
    durationMs: Math.round(durationMs),
    recordsPerSec: durationMs > 0 ? round1((measuredRecords * 1000) / durationMs) : 0,
    mbPerSec: durationMs > 0 ? round3((counts.measuredBytes / 2 ** 20) * (1000 / durationMs)) : 0,
    sent: counts.sent,
    acknowledged: counts.acknowledged,
    poison: counts.poison,
    warmupRecords: counts.warmup,
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

function loadTestFailure(error: unknown, topic: string, acknowledged: number): unknown {
  if (error instanceof KpipeError) return error
  const known = kafkaDependencyError(error)
  if (!known) return error
  const message = `${known.message.replace(/\.$/, '')} (producing to ${topic}; ${acknowledged} records were acknowledged before it).`
  return known instanceof DependencyError ? new DependencyError('kafka', message, {hint: known.hint, cause: error}) : known
}

/**
 * kafkajs' default partitioner (Java's murmur2 of the key, so each key lands where every other
 * client puts it), remembered per key: the load test reuses one Buffer per entity key, and
 * murmur2 with kafkajs' Long arithmetic plus a filter of the partition list per record was a
 * tenth of its CPU (profiled). Forgotten when the partition count changes.
 */
export const keyCachingPartitioner: ICustomPartitioner = () => {
  const murmur2 = Partitioners.DefaultPartitioner()
  const cache = new Map<unknown, number>()
  let partitions = 0
  return (args) => {
    if (args.partitionMetadata.length !== partitions) {
      cache.clear()
      partitions = args.partitionMetadata.length
    }
    let partition = cache.get(args.message.key)
    if (partition === undefined) {
      partition = murmur2(args)
      cache.set(args.message.key, partition)
    }
    return partition
  }
}

/** Every reportIntervalMs: one timeline point from the window's records, then a fresh window. */
function startReporter(
  startUs: number,
  intervalMs: number,
  window: {publish: LatencyRecorder; corrected: LatencyRecorder; records: number; bytes: number; warmup: boolean},
  emit: (point: TimelinePoint) => void,
): {stop(): void} {
  let last = startUs
  const flush = () => {
    const now = nowUs()
    const seconds = (now - last) / 1e6
    last = now
    if (window.records === 0 && !window.warmup && seconds <= 0) return
    const summary = window.publish.summary()
    emit({
      atMs: Math.round((now - startUs) / 1000),
      warmup: window.warmup,
      records: window.records,
      recordsPerSec: seconds > 0 ? round1(window.records / seconds) : 0,
      mbPerSec: seconds > 0 ? round3(window.bytes / 2 ** 20 / seconds) : 0,
      latencyAvgMs: summary.avg,
      latencyP99Ms: summary.p99,
      latencyMaxMs: summary.max,
      correctedP99Ms: window.corrected.summary().p99,
    })
    window.publish.reset()
    window.corrected.reset()
    window.records = 0
    window.bytes = 0
    window.warmup = false
  }
  const timer = setInterval(flush, intervalMs)
  return {
    stop: () => {
      clearInterval(timer)
      if (window.records > 0) flush()
    },
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, {once: true})
  })
}

/** Six random characters of [0-9a-z] (2.2 × 10^9 runs): a run never reads another run's rows. */
function randomRunId(): string {
  return randomInt(36 ** 6).toString(36).padStart(6, '0')
}

const round1 = (n: number) => Math.round(n * 10) / 10
const round3 = (n: number) => Math.round(n * 1000) / 1000
