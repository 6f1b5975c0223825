/**
 * `kpipe produce`: NDJSON lines → event envelopes → Kafka. Lines are read as a stream (one line
 * in memory at a time, plus the batch being sent), completed (eventId, occurredAt,
 * schemaVersion), validated exactly as the events worker will validate them, encoded, and sent
 * in batches by an idempotent producer with acks=all, in input order.
 *
 * An invalid line is rejected and reported with its line number; the valid lines around it are
 * still published (reject-and-continue), and the caller exits 1 at the end if any was rejected.
 */
import {randomUUID} from 'node:crypto'
import {StringDecoder} from 'node:string_decoder'
import {CompressionTypes, Partitioners, type Message} from 'kafkajs'

import type {KpipeConfig} from '../config.js'
import {kafkaAccessError, kafkaDependencyError} from '../error-classify.js'
import {ConfigError, DependencyError, errorMessage, KpipeError, UsageError} from '../errors.js'
import {settlesWithin} from '../deadline.js'
import {assertTopicExists} from '../kafka/admin.js'
import {COMMAND_RETRY, createKafka, kafkaPrincipal} from '../kafka/client.js'
import {encodeEvent, type EventEncoding} from './decode.js'
import {findUnstorableText, jsonDepthExceeds, tooDeepMessage, unstorableTextMessage, validateEnvelope} from './envelope.js'

/** Under the broker's default max.message.bytes (1 MiB) for one record batch of a partition. */
export const DEFAULT_MAX_EVENT_BYTES = 1_000_000
const BATCH_MESSAGES = 500
const BATCH_BYTES = 512 * 1024
/** Reported per-line errors kept in the result; the count is always exact. */
const MAX_REPORTED_ERRORS = 100
/** Longest wait for one batch's acknowledgement (kafkajs retries inside it) before giving up. */
const SEND_DEADLINE_MS = 30_000
/** A "line" longer than this means the input is not NDJSON. */
const MAX_LINE_CHARS = 64 * 1024 * 1024

export interface PrepareOptions {
  encoding: EventEncoding
  /** Dotted path of the field whose value is the Kafka key (and the envelope key if absent). */
  keyField: string
  maxEventBytes?: number
  now?: () => Date
  newEventId?: () => string
}

export type PreparedLine = {ok: true; eventId: string; key: string; value: Buffer} | {ok: false; message: string}

/** Pure: one NDJSON line (without its newline) → a Kafka message, or why not. Blank → null. */
export function prepareLine(text: string, options: PrepareOptions): PreparedLine | null {
  if (text.trim() === '') return null
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    const detail = errorMessage(error).replace(/\.$/, '')
    return {ok: false, message: `not valid JSON (${detail}).`}
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return {ok: false, message: `not a JSON object (got ${Array.isArray(parsed) ? 'an array' : parsed === null ? 'null' : typeof parsed}).`}
  }
  if (jsonDepthExceeds(text)) return {ok: false, message: tooDeepMessage('the line')}
  const record = parsed as Record<string, unknown>

  const keyValue = options.keyField === 'key' ? record.key : valueAt(record, options.keyField)
  if (keyValue === undefined || keyValue === null) return {ok: false, message: `field ${options.keyField} (the Kafka key) is missing.`}
  if (typeof keyValue !== 'string' && !(typeof keyValue === 'number' && Number.isFinite(keyValue))) {
    return {ok: false, message: `field ${options.keyField} (the Kafka key) must be a string or a number.`}
  }
  const key = String(keyValue)
  if (record.key === undefined || record.key === null) record.key = key
  else if (record.key !== key && typeof record.key === 'string') {
    return {ok: false, message: `field key ("${record.key}") differs from field ${options.keyField} ("${key}"), the Kafka key.`}
  }
  record.eventId ??= (options.newEventId ?? randomUUID)()
  record.occurredAt ??= (options.now?.() ?? new Date()).toISOString()
  record.schemaVersion ??= 1

  const checked = validateEnvelope(record)
  if (!checked.ok) return {ok: false, message: checked.message}
  // The worker's second check (decode.ts): NUL and lone surrogates arrive only as \u escapes.
  if (text.includes('\\u')) {
    const path = findUnstorableText(checked.event)
    if (path) return {ok: false, message: unstorableTextMessage(path)}
  }
  const value = encodeEvent(checked.event, options.encoding)
  const max = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES
  if (value.length > max) return {ok: false, message: `the encoded event is ${value.length} bytes, over the limit of ${max}.`}
  return {ok: true, eventId: checked.event.eventId, key, value}
}

function valueAt(record: Record<string, unknown>, dotted: string): unknown {
  let current: unknown = record
  for (const part of dotted.split('.')) {
    if (typeof current !== 'object' || current === null) return undefined
    current = (current as Record<string, unknown>)[part]
  }
  return current
}

/** Splits a byte or text stream into lines (\n or \r\n), pulling only as fast as it is consumed. */
export async function* readLines(input: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8')
  let rest = ''
  for await (const chunk of input) {
    const text = rest + (typeof chunk === 'string' ? chunk : decoder.write(chunk))
    let start = 0
    let newline: number
    while ((newline = text.indexOf('\n', start)) !== -1) {
      yield stripCr(text.slice(start, newline))
      start = newline + 1
    }
    rest = text.slice(start)
    if (rest.length > MAX_LINE_CHARS) {
      throw new UsageError(`The input has a line longer than ${MAX_LINE_CHARS / 1024 / 1024} MiB characters; it does not look like NDJSON.`)
    }
  }
  rest += decoder.end()
  if (rest.length > 0) yield stripCr(rest)
}

function stripCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line
}

export interface ProduceOptions extends Omit<PrepareOptions, 'now' | 'newEventId'> {
  kafka: KpipeConfig['kafka']
  topic: string
  /** NDJSON: stdin or a file stream. */
  input: AsyncIterable<Buffer | string>
  /** Told about each rejected line as it happens. */
  onRejected?: (line: number, message: string) => void
  debug?: boolean
  /** Longest wait for one batch's acknowledgement; 30 s by default. */
  sendDeadlineMs?: number
}

export interface ProduceResult {
  topic: string
  produced: number
  rejected: number
  encoding: EventEncoding
  /** The first rejected lines (up to 100), each with its 1-based line number. */
  errors: {line: number; message: string}[]
}

/** Publishes the input's events; throws UsageError for a missing topic, DependencyError when Kafka fails. */
export async function produceEvents(options: ProduceOptions): Promise<ProduceResult> {
  await assertTopicExists(options.kafka, options.topic, {debug: options.debug})
  const kafka = createKafka(options.kafka, {retry: COMMAND_RETRY, debug: options.debug, onLog: options.debug ? logToStderr : undefined})

  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    // Java's murmur2 partitioning, so a key lands where every other client puts it.
    createPartitioner: Partitioners.DefaultPartitioner,
    // An idempotent producer retries without limit (kafkajs warns, rightly, that a limit can
    // break its sequence numbers); what bounds a send is SEND_DEADLINE_MS below, after which
    // the command gives up as a whole and this producer is never used again.
    retry: {...COMMAND_RETRY, retries: Number.MAX_SAFE_INTEGER},
  })
  const result: ProduceResult = {topic: options.topic, produced: 0, rejected: 0, encoding: options.encoding, errors: []}
  let batch: Message[] = []
  let batchBytes = 0
  const flush = async () => {
    if (batch.length === 0) return
    try {
      const sent = producer.send({topic: options.topic, acks: -1, compression: CompressionTypes.None, messages: batch})
      if (!(await settlesWithin(sent, options.sendDeadlineMs ?? SEND_DEADLINE_MS))) {
        throw new DependencyError('kafka', `Kafka did not acknowledge a batch of ${options.topic} within ${(options.sendDeadlineMs ?? SEND_DEADLINE_MS) / 1000}s; ${result.produced} events were published before it.`, {
          hint: 'Check that the brokers are up (kpipe topics list), then send the rest of the input again: the worker ignores eventIds it already stored.',
        })
      }
    } catch (error) {
      if (error instanceof KpipeError) throw error
      const known = kafkaDependencyError(error)
      if (known) {
        const message = `${known.message.replace(/\.$/, '')}; ${result.produced} events were published before it failed.`
        throw known instanceof DependencyError ? new DependencyError('kafka', message, {hint: known.hint, cause: error}) : new ConfigError(message, {hint: known.hint, cause: error})
      }
      throw error
    }
    result.produced += batch.length
    batch = []
    batchBytes = 0
  }

  // A producer's missing ACL: WRITE on the topic, or IDEMPOTENT_WRITE on the cluster (its
  // InitProducerId, which Kafka allows with WRITE on any topic since 3.2).
  const access = {principal: kafkaPrincipal(options.kafka), topic: {name: options.topic, operation: 'WRITE'}, cluster: {operation: 'IDEMPOTENT_WRITE'}}
  try {
    await producer.connect()
  } catch (error) {
    throw kafkaAccessError(error, access) ?? error
  }
  try {
    let lineNumber = 0
    for await (const line of readLines(options.input)) {
      lineNumber++
      const prepared = prepareLine(line, options)
      if (prepared === null) continue
      if (!prepared.ok) {
        result.rejected++
        if (result.errors.length < MAX_REPORTED_ERRORS) result.errors.push({line: lineNumber, message: prepared.message})
        options.onRejected?.(lineNumber, prepared.message)
        continue
      }
      if (batch.length >= BATCH_MESSAGES || batchBytes + prepared.value.length > BATCH_BYTES) await flush()
      batch.push({key: prepared.key, value: prepared.value})
      batchBytes += prepared.value.length
    }
    await flush()
  } catch (error) {
    throw error instanceof KpipeError ? error : (kafkaAccessError(error, access) ?? error)
  } finally {
    await settlesWithin(producer.disconnect().catch(() => undefined), 5000)
  }
  return result
}

function logToStderr(entry: {level: string; namespace: string; message: string}): void {
  process.stderr.write(`kafkajs ${entry.level} [${entry.namespace}] ${entry.message}\n`)
}
