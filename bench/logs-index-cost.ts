/**
 * What each index of pipeline.logs costs the write: insertLogs() of the same parsed synthetic
 * lines (as logs-drain.ts's bare peer) into a fresh scratch schema per variant, made by the real
 * migrations, with some indexes dropped or their storage parameters changed. Reports rows/s and
 * the PostgreSQL backends' CPU per row (utime + stime from /proc), which is steadier than the
 * rate on a shared machine. Appends the table to bench/results/<date>-logs-index-cost.md.
 *
 *   npx tsx bench/logs-index-cost.ts [--rows 200000] [--connections 1] [--batch-size 2000]
 *                                    [--variants "all;-logs_message_trgm;-logs_attrs;unique-only;gin:gin_pending_list_limit=65536"]
 *
 * A variant is `all` (as migrated), `-index-index…` (those dropped), `unique-only` (only the
 * unique constraint left), or `gin:<storage parameters>` (set on every GIN index of the day
 * partitions, e.g. `gin:fastupdate=off`).
 */
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {cpus, loadavg} from 'node:os'
import path from 'node:path'
import {parseArgs} from 'node:util'

import {parseLogRecord} from '../src/lib/logs/log-parse.js'
import type {LogRow} from '../src/lib/logs/log-line.js'
import {syntheticLogRecords} from '../src/lib/logs/synthetic-lines.js'
import {daysOf, ensureDayPartitions, insertLogs} from '../src/lib/postgres/logs-store.js'
import {migrate, quoteIdent} from '../src/lib/postgres/migrations.js'
import {createPgPool} from '../src/lib/postgres/pool.js'
import type {SourceRecord} from '../src/lib/workers/types.js'

const REPO = path.resolve(import.meta.dirname, '..')
const {values: args} = parseArgs({
  options: {
    rows: {type: 'string', default: '200000'},
    connections: {type: 'string', default: '1'},
    'batch-size': {type: 'string', default: '2000'},
    variants: {type: 'string', default: 'all;-logs_message_trgm;-logs_attrs;-logs_message_trgm-logs_attrs;unique-only;gin:gin_pending_list_limit=65536'},
  },
})
const N = Number(args.rows)
const CONNECTIONS = Number(args.connections)
const BATCH = Number(args['batch-size'])
const PG_URL = process.env.KPIPE_PG_URL ?? 'postgres://localhost:5432/kpipe'
const SECONDARY_INDEXES = ['logs_ts', 'logs_service_ts', 'logs_level_ts', 'logs_correlation_id', 'logs_attrs', 'logs_ingested_at', 'logs_message_trgm']
const PARTITIONS = 3

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100 // utime + stime in USER_HZ ticks
}

/** The synthetic mix, parsed as the logs worker would; dated in the last hours (no retention concerns: scratch schema). */
function rows(): LogRow[] {
  const startMs = Date.now() - N * 20 - 60_000
  const out: LogRow[] = []
  syntheticLogRecords(N, {scope: 'bench-ix', startMs, spacingMs: 20, seed: 7}).forEach((r, i) => {
    const headers: SourceRecord['headers'] = {}
    for (const [name, value] of Object.entries(r.headers ?? {})) headers[name] = Buffer.from(value)
    const source: SourceRecord = {
      topic: 'bench-ix',
      partition: i % PARTITIONS,
      offset: String(Math.floor(i / PARTITIONS)),
      key: r.key === null ? null : Buffer.from(r.key),
      value: r.value,
      headers,
      timestamp: String(startMs + i * 20 + 250),
    }
    const outcome = parseLogRecord(source, {maxBytes: 1024 * 1024})
    if (outcome.ok) out.push({...outcome.value, kafkaTopic: source.topic, kafkaPartition: source.partition, kafkaOffset: source.offset})
  })
  return out
}

async function main(): Promise<void> {
  const loadAtStart = loadavg().map((l) => l.toFixed(1)).join(' ')
  const all = rows()
  const batches: LogRow[][] = []
  for (let p = 0; p < PARTITIONS; p++) {
    const ofPartition = all.filter((row) => row.kafkaPartition === p)
    for (let start = 0; start < ofPartition.length; start += BATCH) batches.push(ofPartition.slice(start, start + BATCH))
  }
  const pool = createPgPool({url: PG_URL}, {max: CONNECTIONS, applicationName: 'kpipe bench logs-index-cost'})
  const table: string[] = []
  try {
    for (const variant of args.variants!.split(';').filter(Boolean)) {
      const schemaName = `kpipe_bench_ix_${Date.now().toString(36)}`
      const schema = quoteIdent(schemaName)
      const setup = await pool.connect()
      try {
        await migrate(setup, {schema: schemaName})
        await ensureDayPartitions(setup, daysOf(all), {schema: schemaName})
        if (variant.startsWith('gin:')) {
          const {rows: gin} = await setup.query<{name: string}>(
            `SELECT i.relname AS name FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid JOIN pg_am a ON a.oid = i.relam
              WHERE t.relnamespace = $1::regnamespace AND t.relname LIKE 'logs_p%' AND a.amname = 'gin'`,
            [schemaName],
          )
          for (const {name} of gin) await setup.query(`ALTER INDEX ${schema}.${quoteIdent(name)} SET (${variant.slice(4)})`)
        } else if (variant !== 'all') {
          const drop = variant === 'unique-only' ? SECONDARY_INDEXES : variant.split('-').filter(Boolean)
          for (const index of drop) await setup.query(`DROP INDEX ${schema}.${quoteIdent(index)}`)
        }
      } finally {
        setup.release()
      }
      const clients = await Promise.all(Array.from({length: CONNECTIONS}, () => pool.connect()))
      try {
        const pids = await Promise.all(clients.map(async (client) => (await client.query<{pid: number}>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid))
        const before = pids.map(cpuSeconds)
        let next = 0
        let inserted = 0
        const started = process.hrtime.bigint()
        await Promise.all(
          clients.map(async (client) => {
            while (next < batches.length) {
              const result = await insertLogs(client, batches[next++]!, {schema: schemaName})
              inserted += result.inserted
            }
          }),
        )
        const seconds = Number(process.hrtime.bigint() - started) / 1e9
        const pgCpu = pids.reduce((sum, pid, i) => sum + cpuSeconds(pid) - before[i]!, 0)
        if (inserted !== all.length) throw new Error(`${variant}: inserted ${inserted} of ${all.length}`)
        const line = `| ${variant} | ${Math.round(all.length / seconds).toLocaleString('en-US')} | ${((pgCpu * 1e6) / all.length).toFixed(1)} µs |`
        process.stderr.write(`${line}\n`)
        table.push(line)
      } finally {
        for (const client of clients) client.release()
        await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
      }
    }
  } finally {
    await pool.end()
  }
  const text = [
    `# logs index cost — ${new Date().toISOString()}`,
    '',
    `${all.length.toLocaleString('en-US')} parsed synthetic lines, insertLogs in batches of ${BATCH} on ${CONNECTIONS} connection(s), a fresh scratch schema per variant; ` +
      `${cpus().length} CPUs, load average at the start ${loadAtStart}, at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')}.`,
    'Command: `npx tsx bench/logs-index-cost.ts ' + process.argv.slice(2).join(' ') + '`',
    '',
    '| variant | rows/s | PostgreSQL CPU per row |',
    '|---|---:|---:|',
    ...table,
    '',
  ].join('\n')
  process.stdout.write(`${text}\n`)
  const file = path.join(REPO, 'bench/results', `${new Date().toISOString().slice(0, 10)}-logs-index-cost.md`)
  mkdirSync(path.dirname(file), {recursive: true})
  writeFileSync(file, existsSync(file) ? `${readFileSync(file, 'utf8')}\n${text}\n` : `${text}\n`)
}

await main()
