/** The events sink's store: pipeline.events through the records engineer's set-based upsert. */
import type {Pool} from 'pg'

import {upsertEvents, type EventRow} from '../postgres/events-store.js'
import type {EventStore} from './events-sink.js'

export class PgEventStore implements EventStore {
  constructor(private readonly pool: Pool) {}

  /** A round trip that needs the table: fails when PostgreSQL is down or the table is gone. */
  async probe(): Promise<void> {
    await this.pool.query('SELECT 1 FROM pipeline.events LIMIT 0')
  }

  async upsert(rows: EventRow[]): Promise<{inserted: number}> {
    const client = await this.pool.connect()
    let broken: Error | undefined
    try {
      return await upsertEvents(client, rows)
    } catch (error) {
      // A connection-level failure leaves the client unusable: drop it from the pool.
      if (!(error as {code?: string}).code || /^(08|57)/.test((error as {code: string}).code)) broken = error as Error
      throw error
    } finally {
      client.release(broken)
    }
  }
}
