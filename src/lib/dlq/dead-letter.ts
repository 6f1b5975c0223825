/**
 * Dead letters (DESIGN §3): the original key, value, headers and timestamp, plus kpipe.dlq.*
 * headers saying where the record came from and why it failed. Header building is pure; the
 * producer is idempotent with acks=-1 and every send is awaited before offsets are committed.
 */
import {Partitioners, type IHeaders, type Kafka, type Message, type Producer, type RetryOptions} from 'kafkajs'

import {kafkaAccessError} from '../error-classify.js'
import {DependencyError} from '../errors.js'

import type {ErrorClass, SourceRecord} from '../workers/types.js'

export const DLQ_HEADER_PREFIX = 'kpipe.dlq.'
export const DLQ_HEADERS = {
  originalTopic: 'kpipe.dlq.original.topic',
  originalPartition: 'kpipe.dlq.original.partition',
  originalOffset: 'kpipe.dlq.original.offset',
  originalTimestamp: 'kpipe.dlq.original.timestamp',
  errorClass: 'kpipe.dlq.error.class',
  errorMessage: 'kpipe.dlq.error.message',
  worker: 'kpipe.dlq.worker',
  failedAt: 'kpipe.dlq.failed.at',
  attempt: 'kpipe.dlq.attempt',
} as const

/** Error messages are cut so a dead letter's headers stay small. */
export const MAX_ERROR_MESSAGE_LENGTH = 1000

export interface DeadLetter {
  record: SourceRecord
  errorClass: ErrorClass
  message: string
}

export interface DeadLetterContext {
  worker: string
  failedAt: Date
}

/** The dead-letter topic of a topic: `events` → `events.dlq`. */
export function deadLetterTopic(topic: string): string {
  return `${topic}.dlq`
}

/**
 * The headers of a dead letter: the record's own headers (minus kpipe.dlq.* left over from an
 * earlier failure, which the new ones replace) plus the kpipe.dlq.* headers. `attempt` counts
 * failures: a record replayed from the DLQ that fails again carries attempt n+1.
 */
export function deadLetterHeaders(letter: DeadLetter, context: DeadLetterContext): IHeaders {
  const headers: IHeaders = {}
  let previousAttempt = 0
  for (const [name, value] of Object.entries(letter.record.headers ?? {})) {
    if (value === undefined) continue
    if (name.startsWith(DLQ_HEADER_PREFIX)) {
      if (name === DLQ_HEADERS.attempt) previousAttempt = parseAttempt(value)
      continue
    }
    headers[name] = value
  }
  const {record} = letter
  headers[DLQ_HEADERS.originalTopic] = record.topic
  headers[DLQ_HEADERS.originalPartition] = String(record.partition)
  headers[DLQ_HEADERS.originalOffset] = record.offset
  headers[DLQ_HEADERS.originalTimestamp] = record.timestamp
  headers[DLQ_HEADERS.errorClass] = letter.errorClass
  headers[DLQ_HEADERS.errorMessage] = truncate(letter.message, MAX_ERROR_MESSAGE_LENGTH)
  headers[DLQ_HEADERS.worker] = context.worker
  headers[DLQ_HEADERS.failedAt] = context.failedAt.toISOString()
  headers[DLQ_HEADERS.attempt] = String(previousAttempt + 1)
  return headers
}

/** The Kafka message for a dead letter: original key, value and timestamp kept as they were. */
export function deadLetterMessage(letter: DeadLetter, context: DeadLetterContext): Message {
  return {
    key: letter.record.key,
    value: letter.record.value,
    timestamp: letter.record.timestamp,
    headers: deadLetterHeaders(letter, context),
  }
}

function parseAttempt(value: IHeaders[string]): number {
  const first = Array.isArray(value) ? value.at(-1) : value
  const n = Number(first === undefined ? Number.NaN : first.toString())
  return Number.isInteger(n) && n > 0 ? n : 0
}

function truncate(text: string, max: number): string {
  const oneLine = text.replace(/\s+/g, ' ').trim()
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, max - 1)}…`
}

/** Kafka's default max.message.bytes (broker and topic): 1 MiB plus the batch overhead. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588

/** Record and batch overhead in Kafka's v2 format, rounded up: varints, attributes, header counts. */
const RECORD_OVERHEAD = 32
const HEADER_OVERHEAD = 10
const BATCH_OVERHEAD = 128

/** Upper bound of one message's size inside a record batch (uncompressed). */
export function messageBytes(message: Message): number {
  let bytes = RECORD_OVERHEAD + byteLength(message.key) + byteLength(message.value)
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    for (const item of Array.isArray(value) ? value : [value]) bytes += HEADER_OVERHEAD + Buffer.byteLength(name) + byteLength(item)
  }
  return bytes
}

function byteLength(value: Buffer | string | null | undefined): number {
  if (value === null || value === undefined) return 0
  return typeof value === 'string' ? Buffer.byteLength(value) : value.length
}

/**
 * Splits messages into requests whose record batch stays under `maxBytes` (the topic's
 * max.message.bytes): a slice of thousands of poison records, each with a dozen headers, can be
 * several MB and the broker would refuse it whole. Order is kept; a message too large on its own
 * goes alone (and the broker's refusal names the problem).
 */
export function chunkBySize(messages: Message[], maxBytes: number): Message[][] {
  const budget = Math.max(1, maxBytes - BATCH_OVERHEAD)
  const chunks: Message[][] = []
  let current: Message[] = []
  let size = 0
  for (const message of messages) {
    const bytes = messageBytes(message)
    if (current.length > 0 && size + bytes > budget) {
      chunks.push(current)
      current = []
      size = 0
    }
    current.push(message)
    size += bytes
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}

/**
 * Sends dead letters with an idempotent producer (acks=-1); `send` resolves once acknowledged.
 * Transient failures are retried inside kafkajs without limit (an idempotent producer must not
 * give up on a sequence); a broker's refusal that retrying cannot change (too large, not
 * authorised, no such topic) is thrown as a KpipeError naming the topic and the reason.
 */
export class DeadLetterProducer {
  private readonly producer: Producer
  private connected = false
  private readonly maxBytes = new Map<string, number>()

  constructor(
    kafka: Kafka,
    private readonly worker: string,
    private readonly options: {retry?: RetryOptions; principal?: string} = {},
  ) {
    this.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      // Java's murmur2, as every other client: chosen, so kafkajs has no default to warn about.
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: {...options.retry, retries: Number.MAX_SAFE_INTEGER},
    })
  }

  /** The dead-letter topic's max.message.bytes, read at start-up; 1 MiB when not told. */
  setMaxMessageBytes(topic: string, bytes: number): void {
    this.maxBytes.set(topic, bytes)
  }

  async connect(): Promise<void> {
    if (this.connected) return
    await this.producer.connect().catch((error: unknown) => {
      throw kafkaAccessError(error, {principal: this.options.principal, cluster: {operation: 'IDEMPOTENT_WRITE'}}) ?? error
    })
    this.connected = true
  }

  /** Sends the letters to `<topic>.dlq` (or `dlqTopic`), awaiting the acknowledgement. */
  async send(letters: DeadLetter[], dlqTopic?: string, now: Date = new Date()): Promise<void> {
    if (letters.length === 0) return
    await this.connect()
    const byTopic = new Map<string, Message[]>()
    for (const letter of letters) {
      const topic = dlqTopic ?? deadLetterTopic(letter.record.topic)
      const messages = byTopic.get(topic) ?? []
      messages.push(deadLetterMessage(letter, {worker: this.worker, failedAt: now}))
      byTopic.set(topic, messages)
    }
    for (const [topic, messages] of byTopic) {
      for (const chunk of chunkBySize(messages, this.maxBytes.get(topic) ?? DEFAULT_MAX_MESSAGE_BYTES)) {
        try {
          await this.producer.send({topic, acks: -1, messages: chunk})
        } catch (error) {
          // A missing ACL: WRITE on the topic (or IDEMPOTENT_WRITE on the cluster, which an
          // idempotent producer needs on brokers older than 3.2 without WRITE on any topic).
          const denied = kafkaAccessError(error, {principal: this.options.principal, topic: {name: topic, operation: 'WRITE'}, cluster: {operation: 'IDEMPOTENT_WRITE'}})
          if (denied) throw denied
          throw refusal(error, topic) ?? error
        }
      }
    }
  }

  async disconnect(): Promise<void> {
    if (!this.connected) return
    this.connected = false
    await this.producer.disconnect()
  }
}

/** A broker's non-retriable answer to a dead-letter write, as one sentence (exit 3). */
function refusal(error: unknown, topic: string): DependencyError | undefined {
  const protocol = findProtocolError(error)
  if (!protocol || protocol.retriable !== false) return undefined
  const hint =
    protocol.type === 'MESSAGE_TOO_LARGE' || protocol.type === 'RECORD_LIST_TOO_LARGE'
      ? `Raise max.message.bytes of ${topic} to at least the source topic's (kpipe topics apply with config: {max.message.bytes: …}), then start the worker again: nothing was committed past this record.`
      : /AUTHORIZATION/.test(protocol.type ?? '')
        ? `Grant the worker's principal Write on ${topic}, then start it again: nothing was committed past this record.`
        : `Fix ${topic} (kpipe topics describe ${topic}), then start the worker again: nothing was committed past this record.`
  return new DependencyError('kafka', `Kafka refused dead letters for ${topic} (${protocol.type}: ${(protocol.message ?? '').replace(/\.$/, '')}).`, {hint, cause: error})
}

function findProtocolError(error: unknown): {type?: string; message?: string; retriable?: boolean} | undefined {
  type Link = {name?: string; type?: string; message?: string; retriable?: boolean; cause?: unknown; originalError?: unknown}
  const chain: Link[] = []
  let current = error as Link | undefined
  for (let depth = 0; current && typeof current === 'object' && depth < 8; depth++) {
    chain.push(current)
    current = (current.cause ?? current.originalError) as Link | undefined
  }
  // kafkajs wraps a refusal in KafkaJSNonRetriableError, with the protocol error as its cause.
  const protocol = chain.find((e) => e.name === 'KafkaJSProtocolError')
  if (protocol) return {type: protocol.type, message: protocol.message, retriable: chain.some((e) => e.retriable === false) ? false : protocol.retriable}
  return chain.find((e) => e.name === 'KafkaJSNonRetriableError')
}
