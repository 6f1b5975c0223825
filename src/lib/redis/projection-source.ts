/**
 * Reads events back from PostgreSQL (the truth) in the shape the Redis projections need: for a
 * worker's catch-up after a Redis outage (by Kafka offsets) and for `kpipe cache rebuild`
 * (everything, by keyset pagination on event_id).
 */
import type {Pool} from 'pg'

import type {ProjectedEvent} from './projections.js'
import type {OffsetRange} from './stale-ranges.js'
import type {ProjectionSource} from './projector.js'

interface EventProjectionRow {
  event_id: string
  type: string
  source: string
  entity_key: string
  occurred_at: Date
  correlation_id: string | null
  schema_version: number | null
  payload: Record<string, unknown>
  kafka_offset: string
}

const COLUMNS = 'event_id, type, source, entity_key, occurred_at, correlation_id, schema_version, payload, kafka_offset'

function toProjected(row: EventProjectionRow): ProjectedEvent {
  return {
    eventId: row.event_id,
    type: row.type,
    source: row.source,
    key: row.entity_key,
    occurredAtMs: row.occurred_at.getTime(),
    correlationId: row.correlation_id,
    schemaVersion: Number(row.schema_version ?? 1),
    payload: row.payload,
  }
}

export class PgProjectionSource implements ProjectionSource {
  constructor(private readonly pool: Pool) {}

  async readOffsets(topic: string, partition: number, range: OffsetRange, after: bigint | null, limit: number) {
    const from = after === null ? range.from : after + 1n
    const {rows} = await this.pool.query<EventProjectionRow>(
      `SELECT ${COLUMNS} FROM pipeline.events
        WHERE kafka_topic = $1 AND kafka_partition = $2 AND kafka_offset BETWEEN $3 AND $4
        ORDER BY kafka_offset LIMIT $5`,
      [topic, partition, from.toString(), range.to.toString(), limit],
    )
    return {events: rows.map(toProjected), lastOffset: rows.length > 0 ? BigInt(rows.at(-1)!.kafka_offset) : null}
  }

  /** One page of all events after `afterEventId`, by event_id. */
  async readAll(afterEventId: string | null, limit: number): Promise<{events: ProjectedEvent[]; lastEventId: string | null}> {
    // event_id is the primary key: each page is an index range scan, however large the table.
    const {rows} = await this.pool.query<EventProjectionRow>(
      `SELECT ${COLUMNS} FROM pipeline.events WHERE event_id > $1 ORDER BY event_id LIMIT $2`,
      [afterEventId ?? '', limit],
    )
    return {events: rows.map(toProjected), lastEventId: rows.at(-1)?.event_id ?? null}
  }
}
