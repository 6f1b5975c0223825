/**
 * `kpipe replay-dlq`: re-publishes dead letters, exactly once, around the pure core in
 * replay-model.ts. The model is a queue's "redrive" (AWS SQS's message move task): a source, a
 * destination defaulting to where each record came from, a maximum rate, progress you can read,
 * and a stop that keeps what was moved.
 *
 * Guarantee: the replay's progress is the committed offset (plus done ranges in its metadata) of
 * a consumer group of its own, and each republished record, each parked record and the progress
 * that covers them are written in ONE Kafka transaction. A replay killed midway leaves an open
 * transaction that the next one aborts when it starts (same transactional id: InitProducerId
 * fences the old producer) before it reads the progress, so to a read-committed consumer every
 * dead letter is published at most once, and a replay run to the end publishes each exactly once.
 *
 * Reading: the group that keeps the progress never has members (kafkajs' TxnOffsetCommit sends
 * no generation, which the broker accepts only for an empty group), so the dead-letter topic is
 * read by a consumer in a throw-away group, positioned from the progress, up to the end offsets
 * taken at start: the replay terminates; dead letters written meanwhile wait for the next one.
 */
import {randomUUID} from 'node:crypto'
import {Partitioners, type Admin, type Consumer, type EachBatchPayload, type Kafka, type Message, type Producer, type Transaction} from 'kafkajs'

import type {KpipeConfig} from '../config.js'
import {kafkaAccessError, kafkaDependencyError} from '../error-classify.js'
import {DependencyError, KpipeError, UsageError} from '../errors.js'
import {COMMAND_RETRY, createKafka, kafkaPrincipal, WORKER_RETRY} from '../kafka/client.js'
import {chunkBySize, DEFAULT_MAX_MESSAGE_BYTES} from './dead-letter.js'
import {
  countRecord,
  decide,
  decodeProgress,
  emptySummary,
  encodeProgress,
  isHandled,
  markScanned,
  MAX_PROGRESS_METADATA,
  normaliseDeadLetter,
  parkedHeaders,
  parkedTopic,
  replayHeaders,
  replayTransactionalId,
  startOffset,
  takeTokens,
  tokenBucket,
  transactionSize,
  type DeadLetterRecord,
  type PartitionProgress,
  type ReplayFilter,
  type ReplaySummary,
  type TokenBucket,
} from './replay-model.js'

export interface ReplayOptions {
  kafka: KpipeConfig['kafka']
  dlq: string
  /** Every record goes here instead of its original topic. */
  to?: string
  filter: ReplayFilter
  /** Records replayed or parked at most. */
  limit?: number
  /** Records per second at most. */
  rate?: number
  maxAttempts: number
  group: string
  dryRun: boolean
  debug?: boolean
  /** Aborting it stops the replay after the transaction in progress. */
  signal?: AbortSignal
  /** Told the number of offsets to read once known, then after each record. */
  onProgress?: (progress: ReplayProgress) => void
}

export interface ReplayProgress {
  /** Offsets of the dead-letter topic gone through, of `total` (the range from the progress to the end taken at start). */
  done: number
  total: number
  replayed: number
  parked: number
  skipped: number
}

interface PartitionState {
  partition: number
  progress: PartitionProgress
  /** The progress as last committed (or read at start): unchanged progress is not committed again. */
  committed: {offset: string; metadata: string}
  /** Next offset to read. */
  position: bigint
  /** End offset taken at start: the replay reads below it. */
  end: bigint
  start: bigint
  finished: boolean
}

interface PendingRecord {
  topic: string
  message: Message
}

/** The records between two commits of one partition: [from, to) of the dead-letter topic. */
interface Chunk {
  from: bigint
  to: bigint
  /** Offsets a filter left out (or that cannot be routed): not handled. */
  left: bigint[]
  /** Records not yet sent in the transaction. */
  unsent: PendingRecord[]
  /** Records replayed or parked in this chunk. */
  moved: number
  /** The summary as it will be once this chunk is committed. */
  summary: ReplaySummary
  transaction?: Transaction
}

/** Records sent per request inside a transaction: kept under the broker's default max.message.bytes. */
const MAX_REQUEST_BYTES = DEFAULT_MAX_MESSAGE_BYTES

export async function replayDeadLetters(options: ReplayOptions): Promise<ReplaySummary> {
  const kafka = createKafka(options.kafka, {
    retry: COMMAND_RETRY,
    debug: options.debug,
    onLog: options.debug ? (entry) => process.stderr.write(`[kafkajs ${entry.level}] ${entry.namespace}: ${entry.message}\n`) : undefined,
  })
  const replay = new Replay(kafka, options)
  try {
    return await replay.run()
  } catch (error) {
    throw describeFailure(error, options)
  } finally {
    await replay.close()
  }
}

class Replay {
  private readonly admin: Admin
  private producer?: Producer
  private consumer?: Consumer
  private readonly readerGroup: string
  private summary: ReplaySummary
  private readonly partitions = new Map<number, PartitionState>()
  private readonly knownTopics = new Set<string>()
  private parkedPartitions = 0
  private bucket?: TokenBucket
  private readonly txnSize: number
  private stopping = false
  private stoppedBy: ReplaySummary['stoppedBy'] = 'done'
  private fatal?: unknown
  private finish!: () => void
  private readonly finished = new Promise<void>((resolve) => {
    this.finish = resolve
  })
  private readonly startedAt = Date.now()
  private total = 0

  constructor(
    private readonly kafka: Kafka,
    private readonly options: ReplayOptions,
  ) {
    this.admin = kafka.admin()
    this.readerGroup = `${options.group}.reader.${randomUUID().slice(0, 8)}`
    this.summary = emptySummary({dryRun: options.dryRun, dlq: options.dlq, group: options.group, to: options.to})
    this.txnSize = transactionSize(options.rate)
    if (options.rate !== undefined) this.bucket = tokenBucket(options.rate, Date.now())
  }

  async run(): Promise<ReplaySummary> {
    const {options} = this
    await this.admin.connect()
    await this.checkTopics()
    await this.checkGroupIsOwn()
    if (!options.dryRun) await this.fence()
    await this.readPositions()
    this.report()
    if ([...this.partitions.values()].every((p) => p.finished)) return this.result()

    const onAbort = () => this.stop('signal')
    if (options.signal?.aborted) return this.result('signal')
    options.signal?.addEventListener('abort', onAbort, {once: true})
    try {
      await this.consume()
    } finally {
      options.signal?.removeEventListener('abort', onAbort)
    }
    if (this.fatal) throw this.fatal
    return this.result()
  }

  async close(): Promise<void> {
    await this.consumer?.disconnect().catch(() => undefined)
    await this.producer?.disconnect().catch(() => undefined)
    // The reader's group never committed anything; remove it so it does not linger in `kpipe lag`.
    if (this.consumer) await this.admin.deleteGroups([this.readerGroup]).catch(() => undefined)
    await this.admin.disconnect().catch(() => undefined)
  }

  private result(stoppedBy?: ReplaySummary['stoppedBy']): ReplaySummary {
    return {...this.summary, stoppedBy: stoppedBy ?? this.stoppedBy, durationMs: Date.now() - this.startedAt}
  }

  private stop(reason: ReplaySummary['stoppedBy']): void {
    if (this.stopping) return
    this.stopping = true
    this.stoppedBy = reason
    this.finish()
  }

  // -------------------------------------------------------------------------------------------
  // Start-up

  private async checkTopics(): Promise<void> {
    const {dlq, to} = this.options
    for (const topic of await this.admin.listTopics()) this.knownTopics.add(topic)
    if (!this.knownTopics.has(dlq)) {
      throw new UsageError(`The dead-letter topic ${dlq} does not exist.`, {hint: 'Check --dlq (kpipe topics list shows the topics; a worker of topic T writes to T.dlq).'})
    }
    if (to !== undefined && !this.knownTopics.has(to)) {
      throw new UsageError(`The topic ${to} (--to) does not exist.`, {hint: 'Create it with `kpipe topic create` or `kpipe topics apply`, or leave --to out to replay each record to its original topic.'})
    }
    const parked = parkedTopic(dlq)
    if (this.knownTopics.has(parked)) this.parkedPartitions = await this.partitionCount(parked)
  }

  private async partitionCount(topic: string): Promise<number> {
    const {topics} = await this.admin.fetchTopicMetadata({topics: [topic]})
    return topics[0]?.partitions.length ?? 0
  }

  /** The progress group must be the replay's own: a group with members (a worker's) would refuse the commit. */
  private async checkGroupIsOwn(): Promise<void> {
    const {groups} = await this.admin.describeGroups([this.options.group])
    const members = groups[0]?.members.length ?? 0
    if (members > 0) {
      throw new UsageError(`The consumer group ${this.options.group} has ${members} active member${members === 1 ? '' : 's'}: it is not a replay's progress group.`, {
        hint: 'Give --group a name of its own (or leave it out for the default kpipe-replay.<dlq>); a worker\'s group cannot keep a replay\'s progress.',
      })
    }
  }

  /**
   * Fences an earlier replay of the same group: InitProducerId with the same transactional id
   * aborts its open transaction (a kill leaves one) and bumps the epoch, so that replay can no
   * longer commit. Done before the progress is read, so what is read is final.
   */
  private async fence(): Promise<void> {
    this.producer = this.kafka.producer({
      transactionalId: replayTransactionalId(this.options.group),
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      // Java's murmur2, as every other client: a key lands where the original producer put it.
      createPartitioner: Partitioners.DefaultPartitioner,
      // Longer than a command's: an aborted transaction of a killed replay takes a moment to clear.
      retry: WORKER_RETRY,
    })
    try {
      await this.producer.connect()
      const transaction = await this.producer.transaction()
      await transaction.abort() // empty: only the InitProducerId it needed is sent
    } catch (error) {
      throw transactionRefusal(error, replayTransactionalId(this.options.group), kafkaPrincipal(this.options.kafka)) ?? error
    }
  }

  private async readPositions(): Promise<void> {
    const {dlq, group} = this.options
    const [ends, committed] = await Promise.all([this.admin.fetchTopicOffsets(dlq), this.admin.fetchOffsets({groupId: group, topics: [dlq]})])
    const byPartition = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, p]))
    for (const end of ends) {
      const commit = byPartition.get(end.partition)
      const progress = decodeProgress(commit?.offset ?? '-1', commit?.metadata)
      const start = startOffset(progress, BigInt(end.low))
      const high = BigInt(end.high)
      this.partitions.set(end.partition, {
        partition: end.partition,
        progress,
        committed: encodeProgress(progress),
        position: start,
        start,
        end: high,
        finished: start >= high,
      })
      if (high > start) this.total += Number(high - start)
    }
  }

  // -------------------------------------------------------------------------------------------
  // Reading

  private async consume(): Promise<void> {
    const consumer = this.kafka.consumer({
      groupId: this.readerGroup,
      readUncommitted: false,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: 500,
      sessionTimeout: 30_000,
      retry: WORKER_RETRY,
    })
    this.consumer = consumer
    consumer.on(consumer.events.CRASH, ({payload}) => {
      if (payload.restart) return
      this.fatal ??= payload.error
      this.stop('signal')
    })
    // A range of only aborted records or transaction markers reaches no eachBatch: kafkajs
    // reports it here, which is how such a partition is known to be read to its end.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({payload}) => {
      const state = this.partitions.get(payload.partition)
      if (!state || state.finished || payload.topic !== this.options.dlq) return
      if (payload.batchSize === 0 && BigInt(payload.lastOffset) + 1n >= state.end && state.position <= BigInt(payload.lastOffset) + 1n) {
        state.finished = true
        this.checkFinished()
      }
    })
    await consumer.connect()
    await consumer.subscribe({topics: [this.options.dlq], fromBeginning: true})
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.eachBatch(payload),
    })
    // Messages fetched before a seek lands are below the position and passed over in eachBatch.
    for (const state of this.partitions.values()) {
      if (!state.finished) consumer.seek({topic: this.options.dlq, partition: state.partition, offset: state.position.toString()})
    }
    await this.finished
    // Leaving waits for the batch in progress, so its transaction is done before the summary is.
    await consumer.disconnect()
  }

  private checkFinished(): void {
    if ([...this.partitions.values()].every((p) => p.finished)) this.stop('done')
  }

  private async eachBatch({batch, heartbeat}: EachBatchPayload): Promise<void> {
    const state = this.partitions.get(batch.partition)
    if (!state || state.finished || this.stopping) return
    const {options} = this
    let chunk = this.newChunk(state)
    try {
      for (const message of batch.messages) {
        if (this.stopping) break
        const offset = BigInt(message.offset)
        if (offset < chunk.to) continue
        if (offset >= state.end) break
        if (isHandled(state.progress, offset)) {
          chunk.summary = {...chunk.summary, alreadyDone: chunk.summary.alreadyDone + 1}
          chunk.to = offset + 1n
          continue
        }
        const record: DeadLetterRecord = {
          topic: batch.topic,
          partition: batch.partition,
          offset: message.offset,
          key: message.key ?? null,
          value: message.value ?? null,
          headers: message.headers ?? {},
          timestamp: message.timestamp,
        }
        const letter = normaliseDeadLetter(record)
        const decision = decide(letter, record.key, {filter: options.filter, maxAttempts: options.maxAttempts, to: options.to})
        if (decision.action === 'unroutable' && !options.dryRun) {
          await this.flush(state, chunk)
          throw new UsageError(
            `The dead letter at ${batch.topic}/${batch.partition}@${message.offset} does not say which topic it came from (${letter.dialect} dead letter without an original topic), and no --to was given.`,
            {hint: `Give --to TOPIC (Kafka Connect writes the original topic only with errors.deadletterqueue.context.headers.enable=true). Everything before this record was replayed and committed: ${this.summary.replayed} replayed, ${this.summary.parked} parked.`},
          )
        }
        if (decision.action === 'replay' && !options.dryRun && !(await this.topicExists(decision.topic))) {
          await this.flush(state, chunk)
          throw new UsageError(`The topic ${decision.topic}, where the dead letter at ${batch.topic}/${batch.partition}@${message.offset} came from, does not exist.`, {
            hint: `Create it, or give --to. Everything before this record was replayed and committed: ${this.summary.replayed} replayed, ${this.summary.parked} parked.`,
          })
        }
        // A dry run moves nothing, so it is not paced.
        if ((decision.action === 'replay' || decision.action === 'park') && !options.dryRun) {
          await this.pace(heartbeat)
          if (this.stopping) break
        }
        chunk.summary = countRecord(chunk.summary, record, letter, decision)
        chunk.to = offset + 1n
        if (decision.action === 'skip' || decision.action === 'unroutable') chunk.left.push(offset)
        else if (decision.action === 'replay') await this.add(chunk, {topic: decision.topic, message: {key: record.key, value: record.value, headers: replayHeaders(record, letter)}})
        else {
          const parked = {key: record.key, value: record.value, headers: parkedHeaders(record, decision.reason), timestamp: record.timestamp, partition: record.partition}
          await this.add(chunk, {topic: parkedTopic(record.topic), message: parked})
        }
        this.report(chunk)
        if (options.limit !== undefined && chunk.summary.replayed + chunk.summary.parked >= options.limit) {
          await this.flush(state, chunk)
          this.stop('limit')
          return
        }
        if (chunk.moved >= this.txnSize) {
          await this.flush(state, chunk)
          chunk = this.newChunk(state)
          await heartbeat()
        }
      }
      // Past the last record of the batch come only transaction markers (or nothing).
      if (!this.stopping) {
        const last = BigInt(batch.lastOffset()) + 1n
        const through = last < state.end ? last : state.end
        if (through > chunk.to) chunk.to = through
      }
      await this.flush(state, chunk)
      if (state.position >= state.end) {
        state.finished = true
        this.checkFinished()
      }
      this.report()
    } catch (error) {
      // The replay stops as a whole; the open transaction is aborted: nothing of it is visible.
      await chunk.transaction?.abort().catch(() => undefined)
      this.fatal ??= error
      this.stop('signal')
    }
  }

  private newChunk(state: PartitionState): Chunk {
    return {from: state.position, to: state.position, left: [], unsent: [], moved: 0, summary: this.summary}
  }

  /**
   * Adds a record to the chunk's transaction. Under --rate each is sent as it is paced (so
   * the transaction is open while records go out, as a kill would find it); otherwise they
   * are sent together when the chunk is written.
   */
  private async add(chunk: Chunk, record: PendingRecord): Promise<void> {
    chunk.moved++
    if (this.options.dryRun) return
    chunk.unsent.push(record)
    if (this.options.rate !== undefined) await this.send(chunk)
  }

  private async send(chunk: Chunk): Promise<void> {
    if (chunk.unsent.length === 0) return
    const parked = parkedTopic(this.options.dlq)
    if (chunk.unsent.some((r) => r.topic === parked)) await this.ensureParkedTopic()
    chunk.transaction ??= await this.producer!.transaction()
    const byTopic = new Map<string, Message[]>()
    for (const {topic, message} of chunk.unsent) {
      // Parked records keep their dead-letter partition when the parked topic has as many.
      if (topic === parked && (message.partition ?? 0) >= this.parkedPartitions) delete message.partition
      byTopic.set(topic, [...(byTopic.get(topic) ?? []), message])
    }
    chunk.unsent = []
    for (const [topic, messages] of byTopic) {
      for (const part of chunkBySize(messages, MAX_REQUEST_BYTES)) await chunk.transaction.send({topic, acks: -1, messages: part})
    }
  }

  /**
   * Ends one chunk: its republished and parked records and the progress past it are committed
   * in one transaction. In a dry run only the counts and the in-memory progress move.
   */
  private async flush(state: PartitionState, chunk: Chunk): Promise<void> {
    if (chunk.to <= chunk.from) return
    const progress = markScanned(state.progress, chunk.from, chunk.to, chunk.left)
    const encoded = encodeProgress(progress)
    if (encoded.metadata.length > MAX_PROGRESS_METADATA) {
      // A filter leaving out records scattered among those it takes: the ranges handled beyond
      // the first left-out one no longer fit the commit. Stop before this chunk, cleanly.
      await chunk.transaction?.abort()
      chunk.transaction = undefined
      this.stop('progress-full')
      return
    }
    const unchanged = encoded.offset === state.committed.offset && encoded.metadata === state.committed.metadata
    if (!this.options.dryRun) {
      await this.send(chunk)
      if (!unchanged) {
        chunk.transaction ??= await this.producer!.transaction()
        // kafkajs passes `metadata` through to TxnOffsetCommit, though its types leave it out.
        const offset = {partition: state.partition, offset: encoded.offset, metadata: encoded.metadata}
        await chunk.transaction.sendOffsets({consumerGroupId: this.options.group, topics: [{topic: this.options.dlq, partitions: [offset]}]})
      }
      if (chunk.transaction) await chunk.transaction.commit()
      chunk.transaction = undefined
    }
    state.progress = progress
    state.committed = encoded
    state.position = chunk.to
    chunk.from = chunk.to
    chunk.left = []
    chunk.moved = 0
    this.summary = chunk.summary
  }

  /** Waits for a token of --rate, heartbeating and giving up early on a stop. */
  private async pace(heartbeat: () => Promise<void>): Promise<void> {
    if (!this.bucket) return
    const taken = takeTokens(this.bucket, 1, Date.now())
    this.bucket = taken.bucket
    const until = Date.now() + taken.waitMs
    while (!this.stopping && Date.now() < until) {
      await sleep(Math.min(1000, until - Date.now()))
      await heartbeat()
    }
  }

  private async topicExists(topic: string): Promise<boolean> {
    if (this.knownTopics.has(topic)) return true
    for (const name of await this.admin.listTopics()) this.knownTopics.add(name)
    return this.knownTopics.has(topic)
  }

  /** `<dlq>.parked`, made on first need with the partitions and replication of the dead-letter topic, and its retention. */
  private async ensureParkedTopic(): Promise<void> {
    const parked = parkedTopic(this.options.dlq)
    if (this.parkedPartitions > 0) return
    if (!(await this.topicExists(parked))) {
      const {dlq} = this.options
      const {topics} = await this.admin.fetchTopicMetadata({topics: [dlq]})
      const partitions = topics[0]?.partitions ?? []
      const configs = await this.admin.describeConfigs({includeSynonyms: false, resources: [{type: 2, name: dlq, configNames: ['retention.ms', 'retention.bytes', 'max.message.bytes']}]})
      const configEntries = (configs.resources[0]?.configEntries ?? []).filter((c) => !c.isDefault && c.configValue !== null).map((c) => ({name: c.configName, value: c.configValue}))
      await this.admin
        .createTopics({
          waitForLeaders: true,
          topics: [{topic: parked, numPartitions: Math.max(1, partitions.length), replicationFactor: Math.max(1, partitions[0]?.replicas.length ?? 1), configEntries}],
        })
        .catch((error: unknown) => {
          if ((error as {type?: string}).type !== 'TOPIC_ALREADY_EXISTS') throw error
        })
      this.knownTopics.add(parked)
    }
    this.parkedPartitions = await this.partitionCount(parked)
  }

  private report(chunk?: {summary: ReplaySummary; from: bigint; to: bigint}): void {
    if (!this.options.onProgress) return
    let done = chunk ? Number(chunk.to - chunk.from) : 0
    for (const state of this.partitions.values()) done += Number(state.position - state.start)
    const {replayed, parked, skipped} = chunk?.summary ?? this.summary
    this.options.onProgress({done: Math.min(this.total, done), total: this.total, replayed, parked, skipped})
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))
}

/** One sentence for what went wrong: a fenced replay, Kafka's refusals, or Kafka unreachable. */
function describeFailure(error: unknown, options: ReplayOptions): unknown {
  if (error instanceof KpipeError) return error
  const types = causeTypes(error)
  if (types.includes('PRODUCER_FENCED') || types.includes('INVALID_PRODUCER_EPOCH')) {
    return new DependencyError('kafka', `Another replay of the group ${options.group} started and took over; this one stopped without committing its last transaction.`, {
      hint: 'Let the other replay finish (or stop it and run this one again): no dead letter is published twice.',
      cause: error,
    })
  }
  if (types.includes('UNKNOWN_MEMBER_ID') || types.includes('ILLEGAL_GENERATION')) {
    return new UsageError(`The consumer group ${options.group} is in use by a consumer: it cannot keep a replay's progress.`, {hint: 'Give --group a name of its own.', cause: error})
  }
  return kafkaDependencyError(error) ?? error
}

function causeTypes(error: unknown): string[] {
  const types: string[] = []
  let current = error as {type?: string; cause?: unknown; originalError?: unknown} | undefined
  for (let depth = 0; current && typeof current === 'object' && depth < 8; depth++) {
    if (typeof current.type === 'string') types.push(current.type)
    current = (current.cause ?? current.originalError) as typeof current
  }
  return types
}

/**
 * The transactional producer's start refused. kafkajs turns the broker's
 * TRANSACTIONAL_ID_AUTHORIZATION_FAILED in FindCoordinator into a bare "Failed to find group
 * coordinator" with no cause (tulios/kafkajs cluster/index.js): with a principal (SASL) the
 * likely reason, a missing ACL, is named beside the other one.
 */
function transactionRefusal(error: unknown, transactionalId: string, principal: string | undefined): KpipeError | undefined {
  const access = {principal, transactionalId: {name: transactionalId, operation: 'WRITE'}, cluster: {operation: 'IDEMPOTENT_WRITE'}}
  const denied = kafkaAccessError(error, access)
  if (denied) return denied
  if ((error as {name?: string} | undefined)?.name !== 'KafkaJSGroupCoordinatorNotFound') return undefined
  const who = principal ?? "kpipe's principal"
  return new DependencyError('kafka', `Kafka named no transaction coordinator for the transactional id ${transactionalId}: ${who} lacks WRITE on transactional id ${transactionalId}, or the cluster's transaction log is unavailable.`, {
    hint: `Grant it, e.g. kafka-acls --add --allow-principal ${principal ?? 'User:<principal>'} --operation Write --operation Describe --transactional-id ${transactionalId} (or on the prefix kpipe-replay.); then check kpipe health.`,
    cause: error,
  })
}
