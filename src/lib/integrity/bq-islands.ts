/**
 * What the BigQuery analytics table holds for one topic, in two set-based queries: islands of
 * distinct Kafka coordinates (gaps and islands with DENSE_RANK, as in PostgreSQL) with how many
 * raw rows each holds, and the event ids that rows of different coordinates share. The raw table
 * is at least once (copies of one record are expected; the events_dedup view keeps one), so
 * copies are counted, not failed; two records with one event id are duplicates.
 */
import type {BigQuery} from '@google-cloud/bigquery'

import {quotedTable} from '../bigquery/names.js'
import {ConfigError} from '../errors.js'
import type {EventIdDuplicate, RowIsland} from './reconcile.js'

export interface BigQueryRows {
  islands: Map<number, RowIsland[]>
  /** Raw rows beyond one per Kafka record. */
  rawCopies: bigint
  eventIdDuplicates: EventIdDuplicate[]
}

/** Kafka topic names are [a-zA-Z0-9._-]: safe as a GoogleSQL string literal once checked. */
function topicLiteral(topic: string): string {
  if (!/^[a-zA-Z0-9._-]{1,249}$/.test(topic)) throw new ConfigError(`--topic: "${topic}" is not a Kafka topic name.`)
  return `'${topic}'`
}

export function bigQueryIslandsQuery(target: {project: string; dataset: string; table: string}, topic: string): string {
  return `SELECT kafka_partition AS p, MIN(kafka_offset) AS first_offset, MAX(kafka_offset) AS last_offset, SUM(copies) AS copies
FROM (
  SELECT kafka_partition, kafka_offset, copies, kafka_offset - DENSE_RANK() OVER (PARTITION BY kafka_partition ORDER BY kafka_offset) AS grp
  FROM (SELECT kafka_partition, kafka_offset, COUNT(*) AS copies FROM ${quotedTable(target.project, target.dataset, target.table)}
        WHERE kafka_topic = ${topicLiteral(topic)} GROUP BY kafka_partition, kafka_offset)
)
GROUP BY kafka_partition, grp
ORDER BY p, first_offset`
}

export function bigQueryEventIdQuery(target: {project: string; dataset: string; table: string}, topic: string, limit: number): string {
  return `SELECT event_id, STRING_AGG(CONCAT(CAST(kafka_partition AS STRING), ':', CAST(kafka_offset AS STRING)), ',') AS coordinates
FROM (SELECT DISTINCT event_id, kafka_partition, kafka_offset FROM ${quotedTable(target.project, target.dataset, target.table)}
      WHERE kafka_topic = ${topicLiteral(topic)})
GROUP BY event_id
HAVING COUNT(*) > 1
ORDER BY event_id
LIMIT ${limit}`
}

const asBigInt = (value: unknown): bigint => BigInt(String(typeof value === 'object' && value !== null && 'value' in value ? (value as {value: unknown}).value : value))

export async function bigQueryRows(bigquery: BigQuery, target: {project: string; dataset: string; table: string}, topic: string, options: {limit?: number} = {}): Promise<BigQueryRows> {
  const [islandRows] = await bigquery.query({query: bigQueryIslandsQuery(target, topic)})
  const islands = new Map<number, RowIsland[]>()
  let rawCopies = 0n
  for (const row of islandRows as {p: unknown; first_offset: unknown; last_offset: unknown; copies: unknown}[]) {
    const partition = Number(asBigInt(row.p))
    const island = {from: asBigInt(row.first_offset), to: asBigInt(row.last_offset), rows: asBigInt(row.copies)}
    rawCopies += island.rows - (island.to - island.from + 1n)
    // Copies of a record are the raw table's at-least-once, not a second claim on the offset.
    const list = islands.get(partition) ?? []
    list.push({...island, rows: island.to - island.from + 1n})
    islands.set(partition, list)
  }
  const [idRows] = await bigquery.query({query: bigQueryEventIdQuery(target, topic, options.limit ?? 1000)})
  const eventIdDuplicates = (idRows as {event_id: string; coordinates: string}[]).map((row) => ({
    eventId: row.event_id,
    at: row.coordinates
      .split(',')
      .map((pair) => {
        const [partition, offset] = pair.split(':')
        return {partition: Number(partition), offset: BigInt(offset!)}
      })
      .sort((a, b) => a.partition - b.partition || (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0)),
  }))
  return {islands, rawCopies, eventIdDuplicates}
}
