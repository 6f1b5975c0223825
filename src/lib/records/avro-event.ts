/**
 * Event envelopes in Avro single-object encoding (Avro specification, "Single-object encoding"):
 * the marker C3 01, the writer schema's CRC-64-AVRO fingerprint (8 bytes, little-endian), then
 * the binary body. The record carries the payload as JSON text (`payloadJson`): payloads are
 * free-form per event type, Avro has no "any JSON" type, and the sink stores jsonb anyway.
 * `occurredAt` is a timestamp-millis long, as other Avro readers expect.
 */
import type {DecodeResult} from './decode.js'
import {findUnstorableText, jsonDepthExceeds, MAX_JSON_DEPTH, tooDeepMessage, unstorableTextMessage, validateEnvelope, type EventEnvelope} from './envelope.js'
import type {EventSchemaStore, EventSchemaVersion} from './schema-store.js'

export const SINGLE_OBJECT_MARKER_0 = 0xc3
export const SINGLE_OBJECT_MARKER_1 = 0x01
export const SINGLE_OBJECT_HEADER_BYTES = 10

/** The Avro record as the event schemas describe it (v2 adds traceId; older readers skip it). */
interface AvroEventRecord {
  eventId: string
  type: string
  source: string
  occurredAt: number
  key: string
  correlationId: string | null
  schemaVersion: number
  payloadJson: string
  traceId?: string | null
}

export function isSingleObjectEncoded(value: Uint8Array): boolean {
  return value.length >= 2 && value[0] === SINGLE_OBJECT_MARKER_0 && value[1] === SINGLE_OBJECT_MARKER_1
}

/** Encodes a (valid) envelope with the given writer schema. */
export function encodeAvroEvent(event: EventEnvelope, writer: EventSchemaVersion): Buffer {
  const record: AvroEventRecord = {
    eventId: event.eventId,
    type: event.type,
    source: event.source,
    occurredAt: Date.parse(event.occurredAt),
    key: event.key,
    correlationId: event.correlationId,
    schemaVersion: event.schemaVersion,
    payloadJson: JSON.stringify(event.payload),
    traceId: null,
  }
  const body = writer.type.toBuffer(record)
  const out = Buffer.allocUnsafe(SINGLE_OBJECT_HEADER_BYTES + body.length)
  out[0] = SINGLE_OBJECT_MARKER_0
  out[1] = SINGLE_OBJECT_MARKER_1
  writer.fingerprint.copy(out, 2)
  body.copy(out, SINGLE_OBJECT_HEADER_BYTES)
  return out
}

/** Decodes a single-object encoded value (the caller has checked the marker). */
export function decodeAvroEvent(value: Buffer, schemas: EventSchemaStore): DecodeResult {
  if (value.length < SINGLE_OBJECT_HEADER_BYTES) {
    return {ok: false, errorClass: 'decode', message: `the Avro value is ${value.length} bytes, shorter than the 10-byte single-object header.`}
  }
  const writer = schemas.find(value, 2)
  if (!writer) {
    const fingerprint = value.subarray(2, SINGLE_OBJECT_HEADER_BYTES).toString('hex')
    return {
      ok: false,
      errorClass: 'schema',
      message: `the Avro value was written with an unknown schema (fingerprint ${fingerprint}); known event schemas are v${schemas.versions.map((v) => v.version).join(', v')}.`,
    }
  }

  let record: AvroEventRecord
  try {
    const decoded = schemas.reader.type.decode(value, SINGLE_OBJECT_HEADER_BYTES, writer.resolver)
    if (decoded.offset < 0) {
      return {ok: false, errorClass: 'decode', message: `the Avro body is truncated for event schema v${writer.version}.`}
    }
    if (decoded.offset !== value.length) {
      return {
        ok: false,
        errorClass: 'decode',
        message: `the Avro body has ${value.length - decoded.offset} bytes left over after an event of schema v${writer.version}.`,
      }
    }
    record = decoded.value as AvroEventRecord
  } catch (error) {
    return {ok: false, errorClass: 'decode', message: `the Avro body does not match event schema v${writer.version}: ${(error as Error).message}.`}
  }

  const millis = record.occurredAt
  if (!Number.isFinite(millis) || Math.abs(millis) > 8.64e15) {
    return {ok: false, errorClass: 'validation', message: `field occurredAt (${millis} ms) is outside the range of a timestamp.`}
  }
  let payload: unknown
  try {
    payload = JSON.parse(record.payloadJson)
    if (jsonDepthExceeds(record.payloadJson, MAX_JSON_DEPTH - 1)) {
      return {ok: false, errorClass: 'validation', message: tooDeepMessage('field payloadJson')}
    }
  } catch (error) {
    return {ok: false, errorClass: 'validation', message: `field payloadJson is not valid JSON: ${(error as Error).message}.`}
  }
  const checked = validateEnvelope({
    eventId: record.eventId,
    type: record.type,
    source: record.source,
    occurredAt: new Date(millis).toISOString(),
    key: record.key,
    correlationId: record.correlationId,
    schemaVersion: record.schemaVersion,
    payload,
  })
  if (!checked.ok) return checked
  // avsc replaces malformed UTF-8 with U+FFFD, but a raw NUL survives in Avro strings.
  const event = checked.event
  const nulField =
    event.eventId.includes('\0') ? 'eventId'
    : event.type.includes('\0') ? 'type'
    : event.source.includes('\0') ? 'source'
    : event.key.includes('\0') ? 'key'
    : event.correlationId?.includes('\0') ? 'correlationId'
    : record.payloadJson.includes('\\u') ? findUnstorableText(event.payload, 'payload')
    : undefined
  if (nulField) return {ok: false, errorClass: 'validation', message: unstorableTextMessage(nulField)}
  return {ok: true, event, encoding: 'avro'}
}
