/**
 * What pipeline.events and pipeline.logs hold for one topic, as islands (runs of consecutive
 * Kafka offsets), in set-based queries that the (kafka_topic, kafka_partition, kafka_offset)
 * indexes answer in order: per partition an index range scan from the checked range's start,
 * `offset - dense_rank()` constant along a run (gaps and islands), grouped. A million rows are
 * one index scan and a handful of result rows; no row travels to Node.
 */
import {quoteIdent, SCHEMA, type Queryable} from '../postgres/migrations.js'
import type {DuplicateRows, RowIsland} from './reconcile.js'

export type PgSinkTable = 'events' | 'logs'

export interface IslandBound {
  partition: number
  /** Inclusive bounds of the offsets to read. */
  from: bigint
  to: bigint
}

export const INT64_MIN = -(2n ** 63n)
export const INT64_MAX = 2n ** 63n - 1n

function table(name: PgSinkTable, schema: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`
}

/**
 * The partitions that have rows of the topic, by a loose index scan (one index probe per
 * partition instead of reading every row): finds rows of partitions the topic does not have.
 */
export async function rowPartitions(db: Queryable, name: PgSinkTable, topic: string, options: {schema?: string} = {}): Promise<number[]> {
  const t = table(name, options.schema ?? SCHEMA)
  const {rows} = await db.query<{p: number}>(
    `WITH RECURSIVE parts(p) AS (
       SELECT min(kafka_partition) FROM ${t} WHERE kafka_topic = $1
       UNION ALL
       SELECT (SELECT min(kafka_partition) FROM ${t} WHERE kafka_topic = $1 AND kafka_partition > parts.p) FROM parts WHERE parts.p IS NOT NULL
     )
     SELECT p FROM parts WHERE p IS NOT NULL`,
    [topic],
  )
  return rows.map((row) => row.p)
}

/** The islands statement: one lateral index range scan per bound, gaps and islands inside it. */
export function islandsQuery(name: PgSinkTable, schema: string = SCHEMA): string {
  return `SELECT b.p AS partition, i.first_offset::text, i.last_offset::text, i.rows::text
  FROM unnest($2::int[], $3::bigint[], $4::bigint[]) AS b(p, lo, hi)
  CROSS JOIN LATERAL (
    SELECT min(o) AS first_offset, max(o) AS last_offset, count(*) AS rows
      FROM (SELECT kafka_offset AS o, kafka_offset - dense_rank() OVER (ORDER BY kafka_offset) AS grp
              FROM ${table(name, schema)}
             WHERE kafka_topic = $1 AND kafka_partition = b.p AND kafka_offset BETWEEN b.lo AND b.hi) AS s
     GROUP BY grp
  ) AS i
  ORDER BY 1, 2`
}

export async function rowIslands(db: Queryable, name: PgSinkTable, topic: string, bounds: readonly IslandBound[], options: {schema?: string} = {}): Promise<Map<number, RowIsland[]>> {
  const islands = new Map<number, RowIsland[]>()
  if (bounds.length === 0) return islands
  const {rows} = await db.query<{partition: number; first_offset: string; last_offset: string; rows: string}>(islandsQuery(name, options.schema), [
    topic,
    bounds.map((b) => b.partition),
    bounds.map((b) => b.from.toString()),
    bounds.map((b) => b.to.toString()),
  ])
  for (const row of rows) {
    const list = islands.get(row.partition) ?? []
    list.push({from: BigInt(row.first_offset), to: BigInt(row.last_offset), rows: BigInt(row.rows)})
    islands.set(row.partition, list)
  }
  return islands
}

/** Offsets with two or more rows inside the given islands (only asked for islands with rows > span). */
export async function duplicateRows(
  db: Queryable,
  name: PgSinkTable,
  topic: string,
  partition: number,
  islands: readonly RowIsland[],
  options: {schema?: string} = {},
): Promise<DuplicateRows[]> {
  if (islands.length === 0) return []
  const {rows} = await db.query<{offset: string; rows: string}>(
    `SELECT e.kafka_offset::text AS offset, count(*)::text AS rows
       FROM unnest($3::bigint[], $4::bigint[]) AS b(lo, hi)
       JOIN ${table(name, options.schema ?? SCHEMA)} AS e ON e.kafka_topic = $1 AND e.kafka_partition = $2 AND e.kafka_offset BETWEEN b.lo AND b.hi
      GROUP BY e.kafka_offset HAVING count(*) > 1 ORDER BY e.kafka_offset`,
    [topic, partition, islands.map((i) => i.from.toString()), islands.map((i) => i.to.toString())],
  )
  return rows.map((row) => ({offset: BigInt(row.offset), rows: BigInt(row.rows)}))
}

/** Which of these event ids pipeline.events holds (by its primary key), in one query per 10,000. */
export async function storedEventIds(db: Queryable, eventIds: readonly string[], options: {schema?: string} = {}): Promise<Set<string>> {
  const found = new Set<string>()
  const unique = [...new Set(eventIds)]
  for (let i = 0; i < unique.length; i += 10_000) {
    const {rows} = await db.query<{event_id: string}>(`SELECT event_id FROM ${table('events', options.schema ?? SCHEMA)} WHERE event_id = ANY($1::text[])`, [
      unique.slice(i, i + 10_000),
    ])
    for (const row of rows) found.add(row.event_id)
  }
  return found
}
