/**
 * The events sink: a decoded batch → one idempotent, set-based upsert into pipeline.events
 * (PostgreSQL, the truth) → Redis projections (the cache). Records PostgreSQL refuses for their
 * content (not for a bad connection) are found by bisecting the batch (sink-errors.ts) and
 * rejected, so one bad row never blocks the partition; everything else is thrown for the engine
 * to retry.
 */
import {toEventRow, type EventRow} from '../postgres/events-store.js'
import type {EventEnvelope} from '../records/envelope.js'
import type {ProjectedEvent} from '../redis/projections.js'
import type {Projector} from '../redis/projector.js'
import {isRetriablePgFailure, writeIsolating} from './sink-errors.js'
import type {DecodedRecord, RejectedRecord, Sink, SinkWriteContext, SinkWriteResult} from './types.js'

export {isDataError, isSchemaError} from './sink-errors.js'

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
    const inserted = await writeIsolating(unique, async (batch) => (await this.options.store.upsert(batch.map(eventRow))).inserted, rejected, 'event')
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
    return isRetriablePgFailure(error)
  }

  async probe(): Promise<void> {
    await this.options.store.probe?.()
  }

  async close(): Promise<void> {
    await this.options.projector?.close()
    await this.options.store.close?.()
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
