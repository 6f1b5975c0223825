/**
 * One analytics event → one row of the BigQuery table `events`, as a raw insertAll row with its
 * deterministic insert id (`topic-partition-offset`, DESIGN §3). Pure: the sink sends these.
 */
import type {EventEnvelope} from '../records/envelope.js'
import type {DecodedRecord} from '../workers/types.js'

/** The columns kpipe writes; the names analysts query (see ANALYTICS_SCHEMA). */
export interface AnalyticsRowJson {
  event_id: string
  type: string
  source: string
  /** Canonical UTC, microseconds: `2026-01-01T00:00:00.123456Z`. */
  occurred_at: string
  entity_key: string
  correlation_id: string | null
  schema_version: number
  /** The payload object as JSON text: insertAll takes a JSON column's value as a string. */
  payload: string
  kafka_topic: string
  kafka_partition: number
  /** A decimal string: offsets are 64-bit and insertAll reads INT64 from strings exactly. */
  kafka_offset: string
  ingested_at: string
}

/** A raw insertAll row (`{raw: true}` in @google-cloud/bigquery): no random insert id is made. */
export interface InsertRow {
  insertId: string
  json: AnalyticsRowJson
}

export type RowOutcome = {ok: true; row: InsertRow} | {ok: false; message: string}

/** BigQuery's TIMESTAMP range: 0001-01-01 00:00:00 to 9999-12-31 23:59:59.999999 UTC. */
const MIN_TIMESTAMP_MS = Date.parse('0001-01-01T00:00:00.000Z')
const MAX_TIMESTAMP_MS = Date.parse('9999-12-31T23:59:59.999Z')
const FRACTION = /T\d{2}:\d{2}:\d{2}\.(\d+)/

/** The insert id BigQuery deduplicates on (best effort, about a minute): the Kafka coordinates. */
export function insertId(source: {topic: string; partition: number; offset: string}): string {
  return `${source.topic}-${source.partition}-${source.offset}`
}

/**
 * An envelope timestamp (ISO-8601 with any offset, seconds optional, up to nanoseconds) in the
 * one form BigQuery and its emulator both read: UTC, seconds always, microseconds kept. The
 * emulator fails the whole request on `2026-01-01T00:00Z` or `+0530`, and BigQuery takes no
 * year outside 1–9999: such a time is reported, not sent. Offsets are whole minutes, so the
 * sub-millisecond digits are the same in UTC.
 */
export function bigQueryTimestamp(iso: string): {ok: true; value: string} | {ok: false; message: string} {
  const ms = Date.parse(iso)
  if (Number.isNaN(ms)) return {ok: false, message: `occurredAt "${iso}" is not a time BigQuery can store.`}
  if (ms < MIN_TIMESTAMP_MS || ms > MAX_TIMESTAMP_MS) {
    return {ok: false, message: `occurredAt "${iso}" is outside BigQuery's TIMESTAMP range (years 1 to 9999, UTC).`}
  }
  const base = new Date(ms).toISOString() // YYYY-MM-DDTHH:mm:ss.sssZ within that range
  const micros = (FRACTION.exec(iso)?.[1] ?? '').slice(3, 6)
  return {ok: true, value: micros ? `${base.slice(0, -1)}${micros.padEnd(3, '0')}Z` : base}
}

export function analyticsRow(record: DecodedRecord<EventEnvelope>, ingestedAt: string): RowOutcome {
  const {source, value: event} = record
  const occurredAt = bigQueryTimestamp(event.occurredAt)
  if (!occurredAt.ok) return occurredAt
  return {
    ok: true,
    row: {
      insertId: insertId(source),
      json: {
        event_id: event.eventId,
        type: event.type,
        source: event.source,
        occurred_at: occurredAt.value,
        entity_key: event.key,
        correlation_id: event.correlationId,
        schema_version: event.schemaVersion,
        payload: JSON.stringify(event.payload),
        kafka_topic: source.topic,
        kafka_partition: source.partition,
        kafka_offset: source.offset,
        ingested_at: ingestedAt,
      },
    },
  }
}

/** Bytes the row adds to an insertAll request body (its JSON, plus the comma between rows). */
export function rowBytes(row: InsertRow): number {
  return Buffer.byteLength(JSON.stringify(row)) + 1
}
