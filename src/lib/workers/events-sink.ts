/**
 * The events sink: a decoded batch → one idempotent, set-based upsert into pipeline.events
 * (PostgreSQL, the truth) → Redis projections (the cache). Records PostgreSQL refuses for their
 * content (not for a bad connection) are found by bisecting the batch and rejected, so one bad
 * row never blocks the partition; everything else is thrown for the engine to retry.
 */
import {toEventRow, type EventRow} from '../postgres/events-store.js'
import type {EventEnvelope} from '../records/envelope.js'
import type {ProjectedEvent} from '../redis/projections.js'
import type {Projector} from '../redis/projector.js'
import type {DecodedRecord, RejectedRecord, Sink, SinkWriteContext, SinkWriteResult} from './types.js'

/** Writes rows idempotently; resolves with how many were new. */
export interface EventStore {
  upsert(rows: EventRow[]): Promise<{inserted: number}>
  /** Throws when a write could not succeed now (for /readyz). */
  probe?(): Promise<void>
  close?(): Promise<void>
}

export interface EventsSinkOptions {
  store: EventStore
  /** Absent: no Redis projections (e.g. benchmarks of the bare PostgreSQL path). */
  projector?: Projector
}

export class EventsSink implements Sink<EventEnvelope> {
  readonly name = 'events'

  constructor(private readonly options: EventsSinkOptions) {}

  async write(records: DecodedRecord<EventEnvelope>[], context: SinkWriteContext): Promise<SinkWriteResult<EventEnvelope>> {
    const unique = firstPerEventId(records)
    const rejected: RejectedRecord<EventEnvelope>[] = []
    const inserted = await this.upsertIsolating(unique, rejected)
    const rejectedIds = new Set(rejected.map((r) => r.record.value.eventId))
    const accepted = rejectedIds.size === 0 ? unique : unique.filter((r) => !rejectedIds.has(r.value.eventId))
    const {projector} = this.options
    if (!projector || records.length === 0) return {rejected, inserted}
    // The engine runs the projection beside the next slice's upsert and commits this slice once
    // Redis took it or the miss is recorded in PostgreSQL's projection backlog.
    const range = {from: BigInt(records[0]!.source.offset), to: BigInt(records.at(-1)!.source.offset)}
    const events = accepted.map((r) => projectedEvent(r.value))
    const followUp = async () => {
      await projector.project(events, context.topic, context.partition, range)
    }
    return {rejected, inserted, followUp}
  }

  isRetriable(error: unknown): boolean {
    return !isProgrammingError(error) && !isSchemaError(error)
  }

  async probe(): Promise<void> {
    await this.options.store.probe?.()
  }

  async close(): Promise<void> {
    await this.options.projector?.close()
    await this.options.store.close?.()
  }

  /**
   * Upserts the batch in one statement; if PostgreSQL refuses it for its data, splits it in
   * halves until the refused rows are alone, and rejects those (error class `sink`).
   */
  private async upsertIsolating(records: DecodedRecord<EventEnvelope>[], rejected: RejectedRecord<EventEnvelope>[]): Promise<number> {
    if (records.length === 0) return 0
    try {
      const {inserted} = await this.options.store.upsert(records.map(eventRow))
      return inserted
    } catch (error) {
      if (!isDataError(error)) throw error
      if (records.length === 1) {
        rejected.push({record: records[0]!, errorClass: 'sink', message: `PostgreSQL refused the event: ${describePgError(error)}`})
        return 0
      }
      const middle = Math.ceil(records.length / 2)
      return (await this.upsertIsolating(records.slice(0, middle), rejected)) + (await this.upsertIsolating(records.slice(middle), rejected))
    }
  }
}

/** The first record of each eventId in a batch (the store would keep that one too). */
export function firstPerEventId(records: DecodedRecord<EventEnvelope>[]): DecodedRecord<EventEnvelope>[] {
  const seen = new Set<string>()
  const unique: DecodedRecord<EventEnvelope>[] = []
  for (const record of records) {
    if (seen.has(record.value.eventId)) continue
    seen.add(record.value.eventId)
    unique.push(record)
  }
  return unique
}

export function eventRow(record: DecodedRecord<EventEnvelope>): EventRow {
  return toEventRow(record.value, record.source)
}

export function projectedEvent(event: EventEnvelope): ProjectedEvent {
  return {
    eventId: event.eventId,
    type: event.type,
    source: event.source,
    key: event.key,
    occurredAtMs: Date.parse(event.occurredAt),
    correlationId: event.correlationId,
    schemaVersion: event.schemaVersion,
    payload: event.payload,
  }
}

interface PgErrorLike {
  code?: string
  message?: string
  detail?: string
}

/**
 * SQLSTATE classes that blame the data, not the connection: 22 (data exception: bad text,
 * out-of-range values, unsupported \u0000 in jsonb), 23 (integrity), 54 (row or index entry too
 * large).
 */
export function isDataError(error: unknown): boolean {
  const code = (error as PgErrorLike | undefined)?.code
  return typeof code === 'string' && /^(22|23|54)[0-9A-Z]{3}$/.test(code)
}

/** Missing table or column: retrying cannot help; the schema needs `kpipe db migrate`. */
export function isSchemaError(error: unknown): boolean {
  const code = (error as PgErrorLike | undefined)?.code
  return code === '42P01' || code === '42703' || code === '3F000'
}

function isProgrammingError(error: unknown): boolean {
  return error instanceof TypeError || error instanceof ReferenceError || error instanceof SyntaxError || error instanceof RangeError
}

function describePgError(error: unknown): string {
  const e = error as PgErrorLike
  return [e.message, e.code ? `(SQLSTATE ${e.code})` : '', e.detail ? `— ${e.detail}` : ''].filter(Boolean).join(' ')
}
