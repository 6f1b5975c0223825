/**
 * Dead letters (DESIGN §3): the original key, value, headers and timestamp, plus kpipe.dlq.*
 * headers saying where the record came from and why it failed. Header building is pure; the
 * producer is idempotent with acks=-1 and every send is awaited before offsets are committed.
 */
import type {IHeaders, Kafka, Message, Producer} from 'kafkajs'

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

/** Sends dead letters with an idempotent producer (acks=-1); `send` resolves once acknowledged. */
export class DeadLetterProducer {
  private readonly producer: Producer
  private connected = false

  constructor(
    kafka: Kafka,
    private readonly worker: string,
  ) {
    this.producer = kafka.producer({idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false})
  }

  async connect(): Promise<void> {
    if (this.connected) return
    await this.producer.connect()
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
    await this.producer.sendBatch({acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({topic, messages}))})
  }

  async disconnect(): Promise<void> {
    if (!this.connected) return
    this.connected = false
    await this.producer.disconnect()
  }
}
