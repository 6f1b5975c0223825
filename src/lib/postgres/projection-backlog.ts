/**
 * What Redis missed, remembered by PostgreSQL (the truth, up whenever a worker has just written
 * rows): `projection_backlog` holds the offset ranges whose events are in `events` but whose
 * Redis projection failed. The worker writes a range before it commits the range's offsets and
 * deletes it once the range was re-projected from `events`; a worker that dies meanwhile leaves
 * the rows for the next one (at its start-up, or when Redis answers again).
 */
import {quoteIdent, SCHEMA, type Queryable} from './migrations.js'

export interface BacklogRange {
  id: string
  topic: string
  partition: number
  from: bigint
  to: bigint
}

export interface ProjectionBacklog {
  /** Durably records that [from, to] of one partition was written but not projected. */
  mark(topic: string, partition: number, from: bigint, to: bigint): Promise<BacklogRange>
  /** The recorded ranges, oldest first (at most `limit`). */
  pending(limit?: number): Promise<BacklogRange[]>
  /** Deletes ranges that were re-projected. */
  clear(ids: readonly string[]): Promise<void>
}

export class PgProjectionBacklog implements ProjectionBacklog {
  private readonly table: string

  /** `topics`: the ranges this worker looks after (its own topic); all when absent. */
  constructor(
    private readonly db: Queryable,
    private readonly options: {schema?: string; topics?: readonly string[]} = {},
  ) {
    this.table = `${quoteIdent(options.schema ?? SCHEMA)}.projection_backlog`
  }

  async mark(topic: string, partition: number, from: bigint, to: bigint): Promise<BacklogRange> {
    const {rows} = await this.db.query<{id: string}>(
      `INSERT INTO ${this.table} (kafka_topic, kafka_partition, from_offset, to_offset) VALUES ($1, $2, $3, $4) RETURNING id`,
      [topic, partition, from.toString(), to.toString()],
    )
    return {id: String(rows[0]!.id), topic, partition, from, to}
  }

  /** The newest row's id ('0' when empty): what a full rebuild starting now covers. */
  async watermark(): Promise<string> {
    const {rows} = await this.db.query<{id: string | null}>(`SELECT max(id) AS id FROM ${this.table}`)
    return String(rows[0]?.id ?? '0')
  }

  /** Deletes every row up to `id` (after a full rebuild that started once they were written). */
  async clearThrough(id: string): Promise<void> {
    await this.db.query(`DELETE FROM ${this.table} WHERE id <= $1`, [id])
  }

  async pending(limit = 10_000): Promise<BacklogRange[]> {
    const topics = this.options.topics
    const {rows} = await this.db.query<{id: string; kafka_topic: string; kafka_partition: number; from_offset: string; to_offset: string}>(
      `SELECT id, kafka_topic, kafka_partition, from_offset, to_offset FROM ${this.table}
        ${topics ? 'WHERE kafka_topic = ANY($2::text[])' : ''} ORDER BY id LIMIT $1`,
      topics ? [limit, topics] : [limit],
    )
    return rows.map((row) => ({id: String(row.id), topic: row.kafka_topic, partition: row.kafka_partition, from: BigInt(row.from_offset), to: BigInt(row.to_offset)}))
  }

  async clear(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return
    await this.db.query(`DELETE FROM ${this.table} WHERE id = ANY($1::bigint[])`, [ids])
  }
}
