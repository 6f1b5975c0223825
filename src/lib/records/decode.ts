/**
 * Kafka record value → event envelope, and back. Pure and on the events worker's hot path:
 * one shared fatal TextDecoder, one JSON.parse, typeof checks, resolvers built at start-up.
 * Every failure carries the dead-letter error class (DESIGN §3) and one sentence.
 */
import {decodeAvroEvent, encodeAvroEvent, isSingleObjectEncoded} from './avro-event.js'
import {findUnstorableText, jsonDepthExceeds, tooDeepMessage, unstorableTextMessage, validateEnvelope, type EventEnvelope} from './envelope.js'
import {defaultEventSchemas, type EventSchemaStore} from './schema-store.js'

export type EventEncoding = 'json' | 'avro'
export const EVENT_ENCODINGS: readonly EventEncoding[] = ['json', 'avro']

export type DecodeErrorClass = 'decode' | 'schema' | 'validation' | 'oversize'

export type DecodeResult =
  | {ok: true; event: EventEnvelope; encoding: EventEncoding}
  | {ok: false; errorClass: DecodeErrorClass; message: string}

export interface DecodeOptions {
  /** Values longer than this are rejected as `oversize` before any parsing. */
  maxBytes: number
  /** The known writer schemas for Avro values; the package's schemas/event by default. */
  schemas?: EventSchemaStore
}

// fatal: malformed UTF-8 throws instead of becoming U+FFFD, so it is a decode error.
const utf8 = new TextDecoder('utf-8', {fatal: true})

/**
 * Decodes one record value. Avro single-object encoding is recognised by its marker (C3 01),
 * which cannot start JSON text; anything else is read as UTF-8 JSON.
 */
export function decodeEventRecord(value: Buffer | null, options: DecodeOptions): DecodeResult {
  try {
    return decodeValue(value, options)
  } catch (error) {
    // Every known failure is a result above; this keeps an unforeseen one a dead letter, not a crash.
    return {ok: false, errorClass: 'decode', message: `the value could not be decoded: ${sentence(error)}`}
  }
}

function decodeValue(value: Buffer | null, options: DecodeOptions): DecodeResult {
  if (value === null || value === undefined) return {ok: false, errorClass: 'decode', message: 'the record has no value (a tombstone).'}
  if (value.length > options.maxBytes) {
    return {ok: false, errorClass: 'oversize', message: `the value is ${value.length} bytes, over the limit of ${options.maxBytes}.`}
  }
  if (value.length === 0) return {ok: false, errorClass: 'decode', message: 'the value is empty.'}
  if (isSingleObjectEncoded(value)) return decodeAvroEvent(value, options.schemas ?? defaultEventSchemas())

  let text: string
  try {
    text = utf8.decode(value)
  } catch {
    return {ok: false, errorClass: 'decode', message: 'the value is neither Avro single-object encoded nor valid UTF-8 text.'}
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    return {ok: false, errorClass: 'decode', message: `the value is not JSON: ${sentence(error)}`}
  }
  const checked = validateEnvelope(parsed)
  if (!checked.ok) return checked
  if (jsonDepthExceeds(text)) return {ok: false, errorClass: 'validation', message: tooDeepMessage('the value')}
  // NUL and lone surrogates can only arrive in JSON text as \u escapes; skip the walk without one.
  if (text.includes('\\u')) {
    const path = findUnstorableText(checked.event)
    if (path) return {ok: false, errorClass: 'validation', message: unstorableTextMessage(path)}
  }
  return {ok: true, event: checked.event, encoding: 'json'}
}

export interface EncodeOptions {
  /** Avro only: the event schema version to write with; the newest by default. */
  avroSchemaVersion?: number
  schemas?: EventSchemaStore
}

/** Encodes a valid envelope as UTF-8 JSON or Avro single-object encoding. */
export function encodeEvent(event: EventEnvelope, encoding: EventEncoding, options: EncodeOptions = {}): Buffer {
  if (encoding === 'avro') {
    const schemas = options.schemas ?? defaultEventSchemas()
    return encodeAvroEvent(event, schemas.writer(options.avroSchemaVersion))
  }
  // Envelope fields only, in a fixed order.
  return Buffer.from(
    JSON.stringify({
      eventId: event.eventId,
      type: event.type,
      source: event.source,
      occurredAt: event.occurredAt,
      key: event.key,
      correlationId: event.correlationId,
      schemaVersion: event.schemaVersion,
      payload: event.payload,
    }),
    'utf8',
  )
}

function sentence(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  return message.endsWith('.') ? message : `${message}.`
}
