/**
 * End-to-end latency: intended send → row in pipeline.events, for the events a load test
 * produced, read back from PostgreSQL. Each event carries its intended send time in µs
 * (payload.t); the row's ingested_at is the worker's write (now() of its transaction, just before
 * the commit makes it visible). Both clocks are the machine's own when the load test runs beside
 * PostgreSQL, as on the local stack; across hosts the figure includes their clock offset.
 */
import type pg from 'pg'

import type {KpipeConfig} from '../config.js'
import {UsageError} from '../errors.js'
import {createPgPool, withPgClient} from '../postgres/pool.js'
import {SCHEMA} from '../postgres/migrations.js'
import {LatencyRecorder, type LatencySummary} from './latency.js'
import type {LoadEvents} from './load-events.js'

/** Ids per query: an index lookup each, a few ms per chunk. */
const CHUNK = 5000
const POLL_MS = 250

export interface EndToEndResult {
  latency: LatencySummary
  /** Valid measured events produced. */
  expected: number
  stored: number
  missing: number
  timeoutMs: number
  /** How long after the produce the last expected row was found (or the timeout). */
  waitedMs: number
}

/** Fails fast, before any load, when PostgreSQL or pipeline.events is not there. */
export async function checkEndToEndReady(postgres: KpipeConfig['postgres']): Promise<void> {
  const pool = createPgPool(postgres, {max: 1, applicationName: 'kpipe load-test'})
  try {
    await withPgClient(pool, postgres.url, async (client) => {
      const found = await client.query<{table: string | null}>(`SELECT to_regclass('${SCHEMA}.events') AS table`)
      if (found.rows[0]?.table == null) {
        throw new UsageError(`--e2e reads ${SCHEMA}.events, which does not exist in this database.`, {hint: 'Run kpipe db migrate, and start kpipe worker events on the topic.'})
      }
    })
  } finally {
    await pool.end().catch(() => undefined)
  }
}

export async function measureEndToEnd(options: {
  postgres: KpipeConfig['postgres']
  timeoutMs: number
  events: LoadEvents
  /** Measured records are firstSeq ≤ seq < endSeq; the poison among them are not expected. */
  firstSeq: number
  endSeq: number
  signal?: AbortSignal
  /** Record into this histogram (several producers' events into one); a new one by default. */
  latency?: LatencyRecorder
}): Promise<EndToEndResult> {
  const {events, firstSeq, endSeq} = options
  const started = Date.now()
  const found = new Uint8Array(endSeq - firstSeq)
  let expected = 0
  for (let seq = firstSeq; seq < endSeq; seq++) {
    if (events.isPoison(seq)) found[seq - firstSeq] = 1
    else expected++
  }
  const latency = options.latency ?? new LatencyRecorder()
  const pool = createPgPool(options.postgres, {max: 1, applicationName: 'kpipe load-test'})
  let stored = 0
  try {
    await withPgClient(pool, options.postgres.url, async (client) => {
      let from = firstSeq
      for (;;) {
        stored += await readChunks(client, events, found, firstSeq, from, endSeq, latency)
        // Rows arrive in roughly produce order: the next pass starts at the first one missing.
        while (from < endSeq && found[from - firstSeq] === 1) from++
        if (from >= endSeq || Date.now() - started >= options.timeoutMs || options.signal?.aborted) return
        await new Promise((resolve) => setTimeout(resolve, POLL_MS))
      }
    })
  } finally {
    await pool.end().catch(() => undefined)
  }
  return {latency: latency.summary(), expected, stored, missing: expected - stored, timeoutMs: options.timeoutMs, waitedMs: Date.now() - started}
}

async function readChunks(client: pg.PoolClient, events: LoadEvents, found: Uint8Array, firstSeq: number, from: number, endSeq: number, latency: LatencyRecorder): Promise<number> {
  let stored = 0
  let ids: string[] = []
  const flush = async () => {
    if (ids.length === 0) return
    const rows = await client.query<{event_id: string; us: string}>(
      `SELECT event_id, (extract(epoch FROM ingested_at) * 1000000)::bigint - (payload->>'t')::bigint AS us
         FROM ${SCHEMA}.events WHERE event_id = ANY($1::text[])`,
      [ids],
    )
    for (const row of rows.rows) {
      const seq = events.seqOf(row.event_id)
      if (found[seq - firstSeq] === 1) continue
      found[seq - firstSeq] = 1
      latency.record(Number(row.us))
      stored++
    }
    ids = []
  }
  for (let seq = from; seq < endSeq; seq++) {
    if (found[seq - firstSeq] === 1) continue
    ids.push(events.eventId(seq))
    if (ids.length >= CHUNK) await flush()
  }
  await flush()
  return stored
}
