/**
 * The one worker engine (STYLE habit 14; Kafka Connect's WorkerSinkTask is the model). It owns
 * consuming (kafkajs eachBatch, manual resolve and commit), batching, decoding, dead-lettering,
 * retries with backoff, backpressure, graceful shutdown, caught-up detection and metrics. A sink
 * only writes decoded batches and reports what it rejected.
 *
 * Guarantees (DESIGN §4): offsets are committed only after the sink write and the dead-letter
 * write of the same records were acknowledged; a failing sink is retried with backoff while the
 * partition's batch is held (kafkajs does not fetch past a batch being processed, so memory stays
 * bounded) and heartbeats keep the membership; nothing is committed past what was written.
 */
import type {Admin, Consumer, EachBatchPayload, Kafka, KafkaMessage} from 'kafkajs'

import {Deadline, settlesWithin} from '../deadline.js'
import {kafkaAccessError} from '../error-classify.js'
import {errorMessage, KpipeError} from '../errors.js'
import type {Logger} from '../logging.js'
import {countDeadLetters, type WorkerMetrics} from '../metrics/worker-metrics.js'
import {backoffDelay, SINK_BACKOFF, type BackoffPolicy} from './backoff.js'
import {isCaughtUp, partitionLag, type PartitionPosition} from './caught-up.js'
import {decodedBytesOf, FetchSizer} from './fetch-sizer.js'
import {
  ERROR_CLASSES,
  type DecodedRecord,
  type ErrorClass,
  type RecordDecoder,
  type Sink,
  type SourceRecord,
  type WorkerSummary,
} from './types.js'
import type {DeadLetter} from '../dlq/dead-letter.js'

/** Where dead letters go; DeadLetterProducer in production. */
export interface DeadLetterSink {
  send(letters: DeadLetter[], dlqTopic?: string): Promise<void>
  disconnect(): Promise<void>
}

export interface EngineOptions<T> {
  /** Worker name, e.g. `events`: logs, metrics and the kpipe.dlq.worker header. */
  worker: string
  kafka: Kafka
  topic: string
  dlqTopic: string
  group: string
  /** Records per sink write. A fetched batch larger than this is written in slices. */
  batchSize: number
  /** Partitions processed at the same time (kafkajs partitionsConsumedConcurrently). */
  concurrency: number
  fromBeginning: boolean
  decode: RecordDecoder<T>
  sink: Sink<T>
  deadLetters: DeadLetterSink
  metrics: WorkerMetrics
  logger: Logger
  /** Stop (exit 0) once every assigned partition has lag 0. */
  stopWhenCaughtUp?: boolean
  shutdownTimeoutMs: number
  /** Aborting it starts a graceful shutdown (SIGTERM/SIGINT). */
  signal?: AbortSignal
  backoff?: BackoffPolicy
  /** Fetch sizing: bytes per partition and per fetch response. */
  maxBytesPerPartition?: number
  maxBytes?: number
  sessionTimeoutMs?: number
  /** Interval of the lag / caught-up poll. */
  positionPollMs?: number
  /** Log context of a decoded record (e.g. eventId and correlationId). */
  describe?(value: T): Record<string, unknown>
  /** Kafka's name for the worker's client (`User:<name>`), for a refusal's sentence and the start line. */
  principal?: string
  /** How often /readyz asks the sink whether a write could succeed now (Sink.probe); 5 s. */
  readinessProbeMs?: number
}

/** Time a graceful shutdown keeps in hand for closing clients after the engine is done. */
export function engineShutdownBudget(shutdownTimeoutMs: number): number {
  return Math.max(0, shutdownTimeoutMs - Math.min(2000, Math.round(shutdownTimeoutMs * 0.2)))
}

class Abandoned extends Error {
  constructor(reason: string) {
    super(`batch abandoned: ${reason}`)
  }
}

class FatalSinkError extends Error {}

type StopReason = WorkerSummary['stoppedBy']

export class WorkerEngine<T> {
  private readonly options: Required<Pick<EngineOptions<T>, 'backoff' | 'positionPollMs' | 'sessionTimeoutMs'>> & EngineOptions<T>
  private consumer?: Consumer
  private admin?: Admin
  private stopping = false
  private stoppedBy?: StopReason
  private fatal?: unknown
  private joined = false
  private assigned: number[] = []
  private readonly fetchSizer: FetchSizer
  private inFlight = 0
  private readonly idleWaiters: (() => void)[] = []
  private stopRequested!: Promise<void>
  private requestStop!: () => void
  private readonly startedAt = Date.now()
  private readonly counts = {
    consumed: 0,
    written: 0,
    inserted: 0,
    deadLettered: 0,
    commits: 0,
    sinkRetries: 0,
    byErrorClass: Object.fromEntries(ERROR_CLASSES.map((c) => [c, 0])) as Record<ErrorClass, number>,
  }
  private sinkFailing = false
  /** The sink's last probe: undefined until the first one answered. */
  private sinkReachable?: {ok: boolean; reason?: string}
  private deadline?: Deadline
  private lastSinkSuccessAt = 0

  constructor(options: EngineOptions<T>) {
    this.options = {
      ...options,
      backoff: options.backoff ?? SINK_BACKOFF,
      positionPollMs: options.positionPollMs ?? 1000,
      sessionTimeoutMs: options.sessionTimeoutMs ?? 30_000,
    }
    this.fetchSizer = new FetchSizer({maxBytes: options.maxBytesPerPartition ?? 1024 * 1024})
    this.stopRequested = new Promise((resolve) => {
      this.requestStop = resolve
    })
    options.metrics.reportReadiness(() => this.readiness())
  }

  /** For /readyz. */
  readiness(): {ready: boolean; reasons: string[]} {
    const reasons: string[] = []
    if (this.stopping) reasons.push('shutting down')
    if (!this.joined) reasons.push('consumer has not joined its group')
    if (this.sinkFailing) reasons.push(`sink ${this.options.sink.name} is failing`)
    if (this.sinkReachable && !this.sinkReachable.ok) reasons.push(`sink ${this.options.sink.name} is not reachable: ${this.sinkReachable.reason}`)
    return {ready: reasons.length === 0, reasons}
  }

  /**
   * When the shutdown that began must be over: set by the first stop(), so that whatever runs
   * after the engine (a runner's closers) shares the same bound.
   */
  shutdownDeadline(): Deadline {
    this.deadline ??= new Deadline(this.options.shutdownTimeoutMs)
    return this.deadline
  }

  /** Starts a graceful shutdown; run() resolves once it is done. */
  stop(reason: StopReason = 'signal'): void {
    if (this.stopping) return
    this.shutdownDeadline()
    this.stopping = true
    this.stoppedBy ??= reason
    this.requestStop()
  }

  summary(): WorkerSummary {
    const durationMs = Date.now() - this.startedAt
    return {
      worker: this.options.worker,
      topic: this.options.topic,
      group: this.options.group,
      consumed: this.counts.consumed,
      written: this.counts.written,
      inserted: this.counts.inserted,
      deadLettered: this.counts.deadLettered,
      byErrorClass: {...this.counts.byErrorClass},
      commits: this.counts.commits,
      sinkRetries: this.counts.sinkRetries,
      durationMs,
      recordsPerSec: durationMs > 0 ? Math.round((this.counts.consumed * 1000) / durationMs) : 0,
      stoppedBy: this.stoppedBy ?? 'signal',
    }
  }

  /** Consumes until stopped (signal, caught up) or a fatal error; resolves with the summary. */
  async run(): Promise<WorkerSummary> {
    const {kafka, topic, group, logger, metrics, signal} = this.options
    if (signal?.aborted) this.stop('signal')
    signal?.addEventListener('abort', () => this.stop('signal'), {once: true})

    metrics.fetchPartitionMaxBytes.set(this.fetchSizer.limit)
    const consumer = kafka.consumer({
      groupId: group,
      sessionTimeout: this.options.sessionTimeoutMs,
      heartbeatInterval: Math.min(3000, Math.floor(this.options.sessionTimeoutMs / 3)),
      // Read by kafkajs as a number at every fetch request (see fetch-sizer.ts).
      maxBytesPerPartition: this.fetchSizer as unknown as number,
      maxBytes: this.options.maxBytes ?? 6 * 1024 * 1024,
      maxWaitTimeInMs: 500,
      allowAutoTopicCreation: false,
    })
    this.consumer = consumer
    const {GROUP_JOIN, CRASH, REBALANCING, STOP} = consumer.events
    consumer.on(GROUP_JOIN, ({payload}) => {
      this.joined = true
      this.assigned = [...(payload.memberAssignment[topic] ?? [])].sort((a, b) => a - b)
      metrics.consumerJoined.set(1)
      metrics.rebalances.inc()
      metrics.consumerLag.reset()
      logger.info({group, memberId: payload.memberId, generation: payload.groupProtocol, partitions: this.assigned, durationMs: payload.duration}, 'joined consumer group')
    })
    consumer.on(REBALANCING, () => {
      this.joined = false
      metrics.consumerJoined.set(0)
      logger.info({group}, 'group is rebalancing')
    })
    consumer.on(STOP, () => {
      this.joined = false
      metrics.consumerJoined.set(0)
    })
    consumer.on(CRASH, ({payload}) => {
      this.joined = false
      metrics.consumerJoined.set(0)
      logger.error({err: payload.error, restart: payload.restart}, `consumer crashed: ${errorMessage(payload.error)}`)
      if (!payload.restart) {
        this.fatal ??= payload.error
        this.stop('error')
      }
    })

    this.admin = kafka.admin()
    let poller: NodeJS.Timeout | undefined
    let prober: NodeJS.Timeout | undefined
    try {
      await this.admin.connect()
      await consumer.connect()
      await consumer.subscribe({topics: [topic], fromBeginning: this.options.fromBeginning})
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: this.options.concurrency,
        eachBatch: (payload) => this.eachBatch(payload),
      })
      // The principal Kafka knows the worker by (SASL), for whoever checks which identity runs where.
      const {principal} = this.options
      logger.info({topic, group, batchSize: this.options.batchSize, concurrency: this.options.concurrency, ...(principal ? {principal} : {})}, 'worker started')
      poller = this.startPositionPoll()
      prober = this.startReadinessProbe()
      await this.stopRequested
    } catch (error) {
      this.fatal ??= error
      this.stop('error')
    } finally {
      if (poller) clearInterval(poller)
      if (prober) clearInterval(prober)
      await this.shutdown()
    }
    if (this.fatal) throw this.describeFatal(this.fatal)
    return this.summary()
  }

  /** A consumer refused as not authorised: READ on the topic or the group is missing. */
  private describeFatal(error: unknown): unknown {
    if (error instanceof KpipeError) return error // classified where it happened (the dead letters)
    const {topic, group, principal} = this.options
    return kafkaAccessError(error, {principal, topic: {name: topic, operation: 'READ'}, group: {name: group, operation: 'READ'}}) ?? error
  }

  // -------------------------------------------------------------------------------------------

  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    const {batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isStale} = payload
    if (this.stopping) return
    const {topic, partition} = batch
    const {batchSize, metrics} = this.options
    const control = {heartbeat, isStale}
    this.sizeFetches(batch)
    this.inFlight++
    // A slice written but not yet committed: its sink follow-up (the Redis projection) runs
    // beside the next slice's write; the slice is committed once both are done.
    let previous: {followedUp: Promise<void>; resolved: string} | undefined
    const commitPrevious = async () => {
      if (!previous) return
      const {followedUp, resolved} = previous
      previous = undefined
      await followedUp
      const next = (BigInt(resolved) + 1n).toString()
      await commitOffsetsIfNecessary({topics: [{topic, partitions: [{partition, offset: next}]}]})
      resolveOffset(resolved)
      this.counts.commits++
      metrics.commits.inc({topic})
      const lag = BigInt(batch.highWatermark) - BigInt(next)
      metrics.consumerLag.set({topic, partition: String(partition)}, Number(lag > 0n ? lag : 0n))
      await heartbeat()
    }
    try {
      const messages = batch.messages
      for (let start = 0; start < messages.length; start += batchSize) {
        if (this.stopping) break // not resolved, not committed: the next owner reads it again
        if (isStale()) break
        const slice = messages.slice(start, start + batchSize)
        const isLast = start + batchSize >= messages.length
        const followUp = await this.processSlice(topic, partition, slice, control)
        await commitPrevious()
        // After the last slice commit past the batch's end, which may be a control record.
        const resolved = isLast ? batch.lastOffset() : slice.at(-1)!.offset
        const followedUp = followUp ? this.withRetry('sink', control, followUp) : Promise.resolve()
        followedUp.catch(() => undefined) // awaited (and its failure handled) in commitPrevious
        previous = {followedUp, resolved}
      }
      await commitPrevious()
    } catch (error) {
      if (error instanceof Abandoned) {
        this.options.logger.info({topic, partition, reason: error.message}, 'in-flight batch abandoned; it will be redelivered')
        return
      }
      if (error instanceof FatalSinkError) {
        this.fatal ??= error.cause ?? error
        this.stop('error')
        return
      }
      throw error // kafkajs errors (rebalance, coordinator moved): kafkajs rejoins and refetches
    } finally {
      // On an error path the follow-up still running must end before the partition is released.
      if (previous) await previous.followedUp.catch(() => undefined)
      this.inFlight--
      if (this.inFlight === 0) for (const resolve of this.idleWaiters.splice(0)) resolve()
    }
  }

  /** Adapts the per-partition fetch size to how well this batch's records compressed. */
  private sizeFetches(batch: EachBatchPayload['batch']): void {
    if (batch.messages.length === 0) return
    const decodedBytes = decodedBytesOf(batch.messages)
    const cutByLimit = batch.offsetLag() !== '0'
    const {logger} = this.options
    if (logger.isLevelEnabled('debug')) {
      logger.debug({topic: batch.topic, partition: batch.partition, records: batch.messages.length, decodedBytes, cutByLimit, fetchLimit: this.fetchSizer.limit}, 'batch fetched')
    }
    const changed = this.fetchSizer.observe(decodedBytes, cutByLimit)
    if (changed === undefined) return
    this.options.metrics.fetchPartitionMaxBytes.set(changed)
    this.options.logger.info({topic: batch.topic, partition: batch.partition, partitionFetchMaxBytes: changed}, `fetches now ask ${Math.round(changed / 1024)} KiB per partition, so that what one decodes stays near the configured ${Math.round(this.fetchSizer.options.maxBytes / 1024)} KiB`)
  }

  private async processSlice(
    topic: string,
    partition: number,
    messages: KafkaMessage[],
    control: {heartbeat(): Promise<void>; isStale(): boolean},
  ): Promise<(() => Promise<void>) | undefined> {
    const {decode, sink, metrics, logger, describe} = this.options
    let followUp: (() => Promise<void>) | undefined
    const decoded: DecodedRecord<T>[] = []
    const letters: DeadLetter[] = []
    for (const message of messages) {
      const source: SourceRecord = {
        topic,
        partition,
        offset: message.offset,
        key: message.key ?? null,
        value: message.value ?? null,
        headers: message.headers ?? {},
        timestamp: message.timestamp,
      }
      const outcome = decode(source)
      if (outcome.ok) decoded.push({source, value: outcome.value})
      else letters.push({record: source, errorClass: outcome.errorClass, message: outcome.message})
    }
    this.counts.consumed += messages.length
    metrics.consumed.inc({topic}, messages.length)

    if (decoded.length > 0) {
      metrics.batchRecords.observe({topic}, decoded.length)
      const result = await this.withRetry('sink', control, async () => {
        const end = metrics.sinkLatency.startTimer({topic})
        try {
          return await sink.write(decoded, {topic, partition, heartbeat: control.heartbeat})
        } finally {
          end()
        }
      })
      for (const rejected of result.rejected) {
        letters.push({record: rejected.record.source, errorClass: rejected.errorClass, message: rejected.message})
        logger.warn(
          {topic, partition, offset: rejected.record.source.offset, errorClass: rejected.errorClass, ...describe?.(rejected.record.value)},
          `sink rejected a record: ${rejected.message}`,
        )
      }
      followUp = result.followUp
      const written = decoded.length - result.rejected.length
      this.counts.written += written
      this.counts.inserted += result.inserted ?? 0
      metrics.written.inc({topic}, written)
      if (result.inserted !== undefined) metrics.inserted.inc({topic}, result.inserted)
    }

    if (letters.length > 0) {
      await this.withRetry('dead-letter', control, () => this.options.deadLetters.send(letters, this.options.dlqTopic))
      for (const letter of letters) {
        this.counts.deadLettered++
        this.counts.byErrorClass[letter.errorClass]++
        countDeadLetters(metrics, topic, letter.errorClass)
        if (letter.errorClass !== 'sink') {
          logger.warn(
            {topic, partition, offset: letter.record.offset, errorClass: letter.errorClass, dlqTopic: this.options.dlqTopic},
            `dead-lettered: ${letter.message}`,
          )
        }
      }
    }
    return followUp
  }

  /**
   * Retries `action` with exponential backoff until it succeeds, heartbeating meanwhile.
   * Gives up only when the worker stops or the partition is taken away (Abandoned: nothing is
   * committed, the records are read again), or when the sink says the failure is a bug.
   */
  private async withRetry<R>(what: 'sink' | 'dead-letter', control: {heartbeat(): Promise<void>; isStale(): boolean}, action: () => Promise<R>): Promise<R> {
    const {logger, metrics, sink, topic} = this.options
    let attempt = 0
    for (;;) {
      try {
        const result = await action()
        if (attempt > 0) logger.info({what, attempts: attempt + 1}, `${what} write succeeded after retries`)
        if (what === 'sink') {
          this.sinkFailing = false
          this.lastSinkSuccessAt = Date.now()
          this.sinkReachable = {ok: true}
          metrics.sinkUp.set(1)
        }
        return result
      } catch (error) {
        if (what === 'sink' && sink.isRetriable && !sink.isRetriable(error)) {
          throw new FatalSinkError(`sink ${sink.name} failed: ${errorMessage(error)}`, {cause: error})
        }
        // The dead-letter producer classifies a broker's refusal (too large, not authorised,
        // no such topic) as a KpipeError: retrying cannot help, and the worker stops saying why.
        if (what === 'dead-letter' && error instanceof KpipeError) throw new FatalSinkError(error.message, {cause: error})
        attempt++
        this.counts.sinkRetries++
        if (what === 'sink') {
          this.sinkFailing = true
          metrics.sinkUp.set(0)
          metrics.sinkFailures.inc({topic})
        }
        const delay = backoffDelay(attempt, this.options.backoff)
        // The first failure and then every tenth: a long outage should not flood the logs.
        if (attempt === 1 || attempt % 10 === 0) {
          logger.warn({what, attempt, retryInMs: delay, err: errorMessage(error)}, `${what} write failed; retrying without committing`)
        }
        await this.pauseWithHeartbeat(delay, control)
      }
    }
  }

  private async pauseWithHeartbeat(ms: number, control: {heartbeat(): Promise<void>; isStale(): boolean}): Promise<void> {
    const until = Date.now() + ms
    for (;;) {
      if (this.stopping) throw new Abandoned('the worker is shutting down')
      if (control.isStale()) throw new Abandoned('the partition was reassigned')
      const left = until - Date.now()
      if (left <= 0) return
      await sleep(Math.min(left, 500))
      await control.heartbeat()
    }
  }

  /** Asks the sink, every few seconds, whether a write could succeed now (for /readyz). */
  private startReadinessProbe(): NodeJS.Timeout | undefined {
    const {sink, metrics, logger} = this.options
    if (!sink.probe) return undefined
    const probe = sink.probe.bind(sink)
    let busy = false
    const intervalMs = this.options.readinessProbeMs ?? 5000
    const run = () => {
      if (busy || this.stopping) return
      // A write that just succeeded answers the question; a busy pool need not be asked.
      if (Date.now() - this.lastSinkSuccessAt < intervalMs) return
      busy = true
      const timeoutMs = 3000
      const attempt = probe()
      settlesWithin(attempt, timeoutMs)
        .then((answered) => (answered ? {ok: true} : {ok: false, reason: `no answer within ${timeoutMs / 1000}s`}))
        .catch((error: unknown) => ({ok: false, reason: errorMessage(error)}))
        .then((state) => {
          const was = this.sinkReachable?.ok
          this.sinkReachable = state
          if (!state.ok && !this.sinkFailing) metrics.sinkUp.set(0)
          if (state.ok && !this.sinkFailing) metrics.sinkUp.set(1)
          if (was !== state.ok) {
            if (state.ok) logger.info({sink: sink.name}, 'sink is reachable')
            else logger.warn({sink: sink.name, reason: state.reason}, 'sink is not reachable: /readyz answers 503')
          }
        })
        .finally(() => {
          busy = false
        })
    }
    run()
    const timer = setInterval(run, intervalMs)
    timer.unref()
    return timer
  }

  private startPositionPoll(): NodeJS.Timeout {
    let busy = false
    const timer = setInterval(() => {
      if (busy || this.stopping || !this.joined) return
      busy = true
      this.pollPositions()
        .catch((error: unknown) => this.options.logger.debug({err: errorMessage(error)}, 'lag poll failed'))
        .finally(() => {
          busy = false
        })
    }, this.options.positionPollMs)
    timer.unref()
    return timer
  }

  /** Lag per assigned partition from committed vs end offsets; stops when caught up if asked. */
  private async pollPositions(): Promise<void> {
    const {admin, assigned} = this
    if (!admin || assigned.length === 0) return
    const {topic, group, metrics} = this.options
    const [ends, committed] = await Promise.all([
      admin.fetchTopicOffsets(topic),
      admin.fetchOffsets({groupId: group, topics: [topic]}),
    ])
    const committedBy = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]))
    const endBy = new Map(ends.map((p) => [p.partition, p]))
    const positions: PartitionPosition[] = []
    for (const partition of this.assigned) {
      const end = endBy.get(partition)
      if (!end) continue
      const position = {partition, committed: committedBy.get(partition) ?? -1n, start: BigInt(end.low), end: BigInt(end.high)}
      positions.push(position)
      metrics.consumerLag.set({topic, partition: String(partition)}, Number(partitionLag(position)))
    }
    if (this.options.stopWhenCaughtUp && this.inFlight === 0 && positions.length === this.assigned.length && isCaughtUp(positions)) {
      this.options.logger.info({partitions: this.assigned}, 'caught up on every assigned partition; stopping')
      this.stop('caught-up')
    }
  }

  private async shutdown(): Promise<void> {
    const {logger, shutdownTimeoutMs} = this.options
    // The engine's share of the shutdown; the rest is for what the runner closes after it.
    const deadline = this.shutdownDeadline()
    const engineDone = new Deadline(Math.min(deadline.left(), engineShutdownBudget(shutdownTimeoutMs)))
    logger.info({inFlight: this.inFlight, reason: this.stoppedBy, timeLeftMs: deadline.left()}, 'shutting down: finishing the in-flight batches')
    if (this.inFlight > 0) {
      const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve))
      if (!(await settlesWithin(idle, engineDone.left()))) logger.warn('shutdown timeout reached with a batch in flight; it was not committed and will be redelivered')
    }
    // disconnect() stops fetching, waits for the fetch loop and leaves the group.
    if (this.consumer && !(await engineDone.bound(() => this.consumer!.disconnect()))) {
      logger.warn('the consumer did not leave the group before the shutdown timeout; the group will notice after the session timeout')
    }
    await deadline.bound(() => this.options.deadLetters.disconnect())
    if (this.admin) await deadline.bound(() => this.admin!.disconnect())
    this.options.metrics.consumerJoined.set(0)
    const memory = process.memoryUsage()
    const mib = (n: number) => Math.round(n / 1048576)
    logger.info(
      {...this.summary(), memoryMiB: {rss: mib(memory.rss), heapUsed: mib(memory.heapUsed), heapTotal: mib(memory.heapTotal), external: mib(memory.external), arrayBuffers: mib(memory.arrayBuffers)}},
      'worker stopped',
    )
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
