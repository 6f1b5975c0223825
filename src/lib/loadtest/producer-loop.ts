/**
 * One producer of the load test and its paced loop. kafkajs has no accumulator of its own (each
 * send is one request), so this loop is the accumulator: records join a batch when they are due
 * (their "send", as producer.send() is in Java's perf test), the batch goes out when it is full
 * or has lingered, and at most maxInFlight batches are unacknowledged. A full pipeline holds the
 * loop, and the records due meanwhile are sent late: their publish delay, not a lower rate,
 * shows the stall. Several of these run in worker threads for more than one core (--producers).
 */
import {setImmediate as yieldToIo} from 'node:timers/promises'
import {performance} from 'node:perf_hooks'
import {CompressionTypes, Partitioners, type ICustomPartitioner, type Message, type Producer} from 'kafkajs'

import type {KpipeConfig} from '../config.js'
import {settlesWithin, sleepUnlessAborted} from '../deadline.js'
import {kafkaDependencyError} from '../error-classify.js'
import {DependencyError, KpipeError} from '../errors.js'
import {COMMAND_RETRY, WORKER_RETRY, createKafka} from '../kafka/client.js'
import {registerCompressionCodecs} from '../workers/codecs.js'
import {LatencyRecorder} from './latency.js'
import {LoadEvents, type LoadEventsOptions} from './load-events.js'
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


export interface ProducerLoopOptions {
  kafka: KpipeConfig['kafka']
  topic: string
  plan: LoadPlan
  events: LoadEventsOptions
  compression: CompressionName
  batchSize: number
  lingerMs: number
  maxInFlight: number
  reportIntervalMs: number
  debug?: boolean
}

/** One report interval of one producer; histograms in HdrHistogram's compressed form. */
export interface WindowReport {
  index: number
  warmup: boolean
  records: number
  bytes: number
  seconds: number
  publish: string
  corrected: string
}

export interface ProducerLoopResult {
  runId: string
  publish: string
  delay: string
  corrected: string
  sent: number
  acknowledged: number
  poison: number
  warmup: number
  measured: number
  measuredBytes: number
  /** -1 when nothing was measured. */
  firstMeasuredSeq: number
  /** µs since the epoch. */
  measureStartWallUs: number
  lastAckWallUs: number
}

const nowUs = (): number => performance.now() * 1000
/** The monotonic clock's µs → µs since the epoch (what PostgreSQL's now() is compared with). */
const wallUs = (monotonicUs: number): number => Math.round(performance.timeOrigin * 1000 + monotonicUs)
/** µs since the epoch → this thread's monotonic clock (each thread has its own timeOrigin). */
const monotonicUs = (wall: number): number => wall - performance.timeOrigin * 1000

export class ProducerLoop {
  private constructor(
    private readonly options: ProducerLoopOptions,
    private readonly producer: Producer,
  ) {}

  /** A connected producer, ready to start; Kafka failures classified (exit 3). */
  static async connect(options: ProducerLoopOptions): Promise<ProducerLoop> {
    registerCompressionCodecs()
    // The client's retries ride out a broker restart, as the workers' do: kafkajs reconnects and
    // refreshes metadata inside a failed send with the client's retrier, and COMMAND_RETRY's two
    // tries gave up (exit 3) while a killed leader's partitions moved. Kafka was reachable a moment
    // ago (runLoadTest checked the topic), so this does not slow the "unreachable" exit.
    const kafka = createKafka(options.kafka, {retry: WORKER_RETRY, debug: options.debug})
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
    return new ProducerLoop(options, producer)
  }

  async close(): Promise<void> {
    await settlesWithin(this.producer.disconnect().catch(() => undefined), 5000)
  }

  /** Sends from startWallUs (µs since the epoch, the same for every producer) to the plan's end. */
  async run(startWallUs: number, hooks: {signal?: AbortSignal; onWindow?: (window: WindowReport) => void} = {}): Promise<ProducerLoopResult> {
    const {options, producer} = this
    const signal = hooks.signal
    const events = new LoadEvents(options.events)
    const startUs = monotonicUs(startWallUs)
    const waitMs = (startUs - nowUs()) / 1000
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs))
    // Timers may fire a millisecond early: a record sent before the start would count as warm-up.
    while (nowUs() < startUs) await yieldToIo()

    const publish = new LatencyRecorder()
    const delay = new LatencyRecorder()
    const corrected = new LatencyRecorder()
    const window = {publish: new LatencyRecorder(), corrected: new LatencyRecorder(), records: 0, bytes: 0, warmup: false}
    const counts = {sent: 0, acknowledged: 0, poison: 0, warmup: 0, measured: 0, measuredBytes: 0, firstMeasuredSeq: -1, lastAckUs: 0}
    let failure: unknown

    const schedule = new SendSchedule(options.plan, startUs)
    const reporter = startReporter(startUs, options.reportIntervalMs, window, (report) => hooks.onWindow?.(report))

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
      while (failure === undefined && !signal?.aborted) {
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
          waits.push(waitMs > 0 ? sleepUnlessAborted(waitMs, signal) : yieldToIo())
        }
        await (waits.length > 0 ? Promise.race(waits) : yieldToIo())
      }
      if (failure === undefined && batch.seqs.length > 0 && !signal?.aborted) {
        counts.sent += batch.seqs.length
        dispatch(batch)
      }
      await Promise.all(inFlight)
    } finally {
      reporter.stop()
    }
    if (failure !== undefined) throw loadTestFailure(failure, options.topic, counts.acknowledged)
    return {
      runId: options.events.runId,
      publish: publish.encode(),
      delay: delay.encode(),
      corrected: corrected.encode(),
      sent: counts.sent,
      acknowledged: counts.acknowledged,
      poison: counts.poison,
      warmup: counts.warmup,
      measured: counts.measured,
      measuredBytes: counts.measuredBytes,
      firstMeasuredSeq: counts.firstMeasuredSeq,
      measureStartWallUs: wallUs(schedule.measureStartUs),
      lastAckWallUs: counts.lastAckUs > 0 ? wallUs(counts.lastAckUs) : 0,
    }
  }
}

interface Batch {
  messages: Message[]
  seqs: number[]
  intendedUs: number[]
  sendUs: number[]
  measured: boolean[]
  bytes: number[]
}

const newBatch = (): Batch => ({messages: [], seqs: [], intendedUs: [], sendUs: [], measured: [], bytes: []})

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

/** Every reportIntervalMs: one window report from the window's records, then a fresh window. */
function startReporter(
  startUs: number,
  intervalMs: number,
  window: {publish: LatencyRecorder; corrected: LatencyRecorder; records: number; bytes: number; warmup: boolean},
  emit: (report: WindowReport) => void,
): {stop(): void} {
  let last = startUs
  let index = 0
  const flush = () => {
    const now = nowUs()
    const seconds = (now - last) / 1e6
    last = now
    emit({index: index++, warmup: window.warmup, records: window.records, bytes: window.bytes, seconds, publish: window.publish.encode(), corrected: window.corrected.encode()})
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
