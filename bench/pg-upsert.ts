/**
 * The bare PostgreSQL ceiling for the events sink: upsertEvents() of N rows on one connection,
 * in batches, into a scratch schema (created by the real migrations, dropped after).
 * `npx tsx bench/pg-upsert.ts [rows=100000] [batch sizes=1000,2000,5000]`, against KPIPE_PG_URL
 * (eval "$(./scripts/stack env)") or the default local URL. Prints rows/s for new rows and for a
 * full redelivery of the same rows (every one a conflict, nothing written).
 *
 * Measured on the 2-core dev machine (stack PostgreSQL 15, Node 24.21, ~300-byte events, 100k
 * rows per batch size), two runs while other suites ran (load average 4-5):
 *   batch 1000: new 28k-45k rows/s, redelivery 151k-168k rows/s
 *   batch 2000: new 41k-45k rows/s, redelivery 111k-112k rows/s
 *   batch 5000: new 29k-35k rows/s, redelivery  68k-107k rows/s
 * i.e. the 40-50K rows/s ceiling DESIGN §6 expects, best at 1000-2000 rows per statement. The
 * JavaScript side (dedupe, sort, array literals) is ~3.4 ms of the ~45 ms a 2000-row batch takes;
 * the rest is PostgreSQL (five indexes on pipeline.events, WAL).
 */
import {defaultConfig} from '../src/lib/config.js'
import {upsertEvents, type EventRow} from '../src/lib/postgres/events-store.js'
import {migrate, quoteIdent} from '../src/lib/postgres/migrations.js'
import {createPgPool} from '../src/lib/postgres/pool.js'

const total = Number(process.argv[2] ?? 100_000)
const batchSizes = (process.argv[3] ?? '1000,2000,5000').split(',').map(Number)
const url = process.env.KPIPE_PG_URL ?? defaultConfig().postgres.url
const pool = createPgPool({url}, {max: 1, applicationName: 'kpipe bench pg-upsert'})
const schema = `kpipe_bench_${Date.now().toString(36)}`

function rows(run: number): EventRow[] {
  return Array.from({length: total}, (_, i) => ({
    eventId: `0b4e7a1c-6f2d-4e53-${run.toString().padStart(4, '0')}-${String(i).padStart(12, '0')}`,
    type: 'user.signup',
    source: 'accounts',
    occurredAt: new Date(1_714_564_800_000 + i).toISOString(),
    key: `user-${i % 10_000}`,
    correlationId: `corr-${i}`,
    schemaVersion: 1,
    payload: {plan: 'pro', seats: i % 50, country: 'DE', referrer: 'newsletter', trial: true, amountCents: 4900},
    kafkaTopic: 'events',
    kafkaPartition: i % 6,
    kafkaOffset: String(Math.floor(i / 6)),
  }))
}

async function pass(client: Parameters<typeof upsertEvents>[0], data: EventRow[], batch: number): Promise<{rate: number; inserted: number}> {
  const started = process.hrtime.bigint()
  let inserted = 0
  for (let i = 0; i < data.length; i += batch) inserted += (await upsertEvents(client, data.slice(i, i + batch), {schema})).inserted
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  return {rate: Math.round(data.length / seconds), inserted}
}

const client = await pool.connect()
try {
  await migrate(client, {schema})
  console.log(`upsertEvents, ${total.toLocaleString('en-US')} rows, one connection, ${url.replace(/:[^:@/]*@/, ':***@')}`)
  for (const [run, batch] of batchSizes.entries()) {
    const data = rows(run)
    const fresh = await pass(client, data, batch)
    const again = await pass(client, data, batch)
    console.log(
      `batch ${String(batch).padStart(5)}: new rows ${fresh.rate.toLocaleString('en-US').padStart(8)} rows/s (${fresh.inserted} inserted)` +
        `   redelivery ${again.rate.toLocaleString('en-US').padStart(8)} rows/s (${again.inserted} inserted)`,
    )
  }
} finally {
  await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`).catch(() => undefined)
  client.release()
  await pool.end()
}
