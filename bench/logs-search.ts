/**
 * `kpipe logs search` on millions of rows (DESIGN §6: < 200 ms for level + time, correlation id
 * and text searches). Fills pipeline.logs's shape in a scratch schema (made by the real
 * migrations, dropped after) with generated lines spread over the last days, then times the
 * searches through searchLogs() — the code the command runs — and prints each one's
 * EXPLAIN (ANALYZE, BUFFERS) plan, to show which index answered.
 *
 *   npx tsx bench/logs-search.ts [--rows 3000000] [--days 3] [--runs 7] [--keep]
 *
 * The rows are generated inside PostgreSQL with generate_series (a few seconds per million),
 * with the indexes dropped during the load and rebuilt after, then ANALYZEd: the state a table
 * filled by the logs worker reaches, minus the time to get there. The query time excludes the
 * CLI's start-up (node + oclif, measured separately at the end on `--help`).
 */
import {execFileSync} from 'node:child_process'
import path from 'node:path'
import {parseArgs} from 'node:util'

import {defaultConfig} from '../src/lib/config.js'
import {buildSearchQuery} from '../src/lib/logs/search-query.js'
import {searchLogs, type SearchLogsOptions} from '../src/lib/logs/search-service.js'
import {createPartitionsAhead, DAY_MS, ensureDayPartitions, utcDayOf} from '../src/lib/postgres/logs-store.js'
import {migrate, quoteIdent} from '../src/lib/postgres/migrations.js'
import {createPgPool} from '../src/lib/postgres/pool.js'

const {values: args} = parseArgs({
  options: {
    rows: {type: 'string', default: '3000000'},
    days: {type: 'string', default: '3'},
    runs: {type: 'string', default: '7'},
    keep: {type: 'boolean', default: false},
  },
})
const rows = Number(args.rows)
const days = Number(args.days)
const runs = Number(args.runs)
const url = process.env.KPIPE_PG_URL ?? defaultConfig().postgres.url
const pool = createPgPool({url}, {max: 1, applicationName: 'kpipe bench logs-search'})
const schemaName = `kpipe_bench_logs_${Date.now().toString(36)}`
const schema = quoteIdent(schemaName)
const now = new Date()

const client = await pool.connect()
try {
  await migrate(client, {schema: schemaName})
  const first = utcDayOf(now.getTime() - days * DAY_MS)
  await ensureDayPartitions(client, Array.from({length: days + 1}, (_, i) => first + i), {schema: schemaName})
  await createPartitionsAhead(client, {now, schema: schemaName})

  // Load without indexes, then build them as migration 3 defines them.
  const {rows: indexes} = await client.query<{name: string; def: string}>(
    `SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE i.indrelid = $1::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)`,
    [`${schema}.logs`],
  )
  for (const index of indexes) await client.query(`DROP INDEX ${schema}.${quoteIdent(index.name)}`)

  const load = Date.now()
  const chunk = 500_000
  for (let start = 0; start < rows; start += chunk) {
    // Line i is (rows - i) / rows of `days` before now: evenly spread, the last one now.
    await client.query(
      `INSERT INTO ${schema}.logs (ts, service, level, message, correlation_id, attrs, kafka_topic, kafka_partition, kafka_offset, ingested_at)
       SELECT $1::timestamptz - (($2::bigint - i) * $3::float8 / $2::bigint) * interval '1 millisecond',
              'service-' || (hashint % 20),
              CASE WHEN p < 5 THEN 'trace' WHEN p < 25 THEN 'debug' WHEN p < 85 THEN 'info' WHEN p < 95 THEN 'warn' WHEN p < 99 THEN 'error' ELSE 'fatal' END,
              CASE WHEN hashint % 1000 = 7 THEN 'upstream gateway timeout after ' || (hashint % 5000) || 'ms calling payments'
                   ELSE (ARRAY['request handled', 'cache miss for key', 'user session refreshed', 'query executed', 'message published to topic'])[1 + hashint % 5]
                        || ' id=' || md5(i::text) END,
              CASE WHEN i % 2 = 0 THEN 'corr-' || (i / 10) END,
              jsonb_build_object('user', 'u-' || (hashint % 50000), 'status', (ARRAY[200, 200, 200, 404, 500])[1 + hashint % 5], 'region', 'eu-' || (hashint % 3)),
              'logs', (i % 3)::int, i / 3, $1::timestamptz
         FROM (SELECT i, abs(hashint8(i)) AS hashint, abs(hashint8(i + 1)) % 100 AS p FROM generate_series($4::bigint, $5::bigint) AS i) AS g`,
      [now.toISOString(), rows, days * DAY_MS, start, Math.min(rows, start + chunk) - 1],
    )
  }
  const loaded = Date.now()
  // pg_get_indexdef names a partitioned index ON ONLY the parent; rebuild it on every partition.
  for (const index of indexes) await client.query(index.def.replace(' ON ONLY ', ' ON '))
  await client.query(`ANALYZE ${schema}.logs`)
  const indexed = Date.now()
  const {rows: size} = await client.query<{size: string}>(`SELECT pg_size_pretty(sum(pg_total_relation_size(inhrelid))) AS size FROM pg_inherits WHERE inhparent = $1::regclass`, [
    `${schema}.logs`,
  ])
  console.log(
    `${rows.toLocaleString('en-US')} lines over ${days} days in ${schemaName} (${size[0]!.size} with indexes): ` +
      `loaded in ${((loaded - load) / 1000).toFixed(1)}s, indexed in ${((indexed - loaded) / 1000).toFixed(1)}s`,
  )

  const hour = new Date(now.getTime() - 3_600_000)
  const all = new Date(now.getTime() - days * DAY_MS)
  const {rows: sample} = await client.query<{correlation_id: string}>(
    `SELECT correlation_id FROM ${schema}.logs WHERE ts > $1 AND correlation_id IS NOT NULL LIMIT 1`,
    [new Date(now.getTime() - DAY_MS)],
  )
  const searches: [string, SearchLogsOptions][] = [
    ['--level error --since 1h', {minLevel: 'error', since: hour, limit: 100}],
    ['--level fatal --since 1h', {minLevel: 'fatal', since: hour, limit: 100}],
    [`--correlation-id ${sample[0]!.correlation_id} --since ${days}d`, {correlationId: sample[0]!.correlation_id, since: all, limit: 100}],
    ['--grep "gateway timeout" (since 1h)', {grep: 'gateway timeout', since: hour, limit: 100}],
    [`--grep "gateway timeout" --since ${days}d`, {grep: 'gateway timeout', since: all, limit: 100}],
    [`--grep "no such text" --since ${days}d`, {grep: 'no such text', since: all, limit: 100}],
    ['--service service-3 --since 1h', {services: ['service-3'], since: hour, limit: 100}],
    [`--attr user=u-4242 --since ${days}d`, {attrs: {user: 'u-4242'}, since: all, limit: 100}],
  ]
  const results: string[] = []
  for (const [label, options] of searches) {
    const search = {...options, schema: schemaName}
    let found = 0
    await searchLogs(client, search) // warm
    const times: number[] = []
    for (let run = 0; run < runs; run++) {
      const started = process.hrtime.bigint()
      found = (await searchLogs(client, search)).length
      times.push(Number(process.hrtime.bigint() - started) / 1e6)
    }
    times.sort((a, b) => a - b)
    const median = times[Math.floor(times.length / 2)]!
    results.push(
      `| \`${label}\` | ${found} | ${median.toFixed(1)} | ${times[0]!.toFixed(1)} | ${times.at(-1)!.toFixed(1)} | ${median < 200 ? 'yes' : '**no**'} |`,
    )
    const {text, values} = buildSearchQuery({...search, order: 'newest'})
    const plan = await client.query<{'QUERY PLAN': string}>(`EXPLAIN (ANALYZE, BUFFERS) ${text}`, values)
    console.log(`\n### ${label}\n${plan.rows.map((r) => r['QUERY PLAN']).join('\n')}`)
  }
  console.log(`\n| search | lines | median ms | min ms | max ms | < 200 ms |\n|---|---:|---:|---:|---:|---|\n${results.join('\n')}`)
  const started = Date.now()
  execFileSync(process.execPath, [path.join(import.meta.dirname, '..', 'bin', 'run.js'), 'logs', 'search', '--help'], {stdio: 'ignore'})
  console.log(`\nCLI start-up (kpipe logs search --help, built): ${Date.now() - started} ms. Load average: ${(await import('node:os')).loadavg().map((l) => l.toFixed(2)).join(' ')}`)
} finally {
  if (!args.keep) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  else console.log(`kept ${schemaName}`)
  client.release()
  await pool.end()
}
