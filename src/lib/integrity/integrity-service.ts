/**
 * `kpipe integrity`: gathers the facts of each sink (Kafka's offsets and the group's commits,
 * the sink's rows as islands, the dead letters' original offsets), reads from Kafka only the few
 * offsets nothing accounts for, and hands everything to the pure core (reconcile.ts). Knows
 * nothing of oclif.
 */
import type {Admin, IHeaders, Kafka} from 'kafkajs'
import type pg from 'pg'

import {httpStatus} from '../bigquery/insert-errors.js'
import {createBigQuery} from '../bigquery/client.js'
import {checkTable} from '../bigquery/names.js'
import type {KpipeConfig} from '../config.js'
import {DLQ_HEADERS} from '../dlq/dead-letter.js'
import {bigqueryDependencyError, kafkaDependencyError} from '../error-classify.js'
import {ConfigError, KpipeError, UsageError} from '../errors.js'
import {COMMAND_RETRY, createKafka, kafkaPrincipal} from '../kafka/client.js'
import {parseOffset} from '../lag/lag-model.js'
import {assertSchemaCurrent, SCHEMA} from '../postgres/migrations.js'
import {createPgPool, pgDependencyError} from '../postgres/pool.js'
import {decodeEventRecord} from '../records/decode.js'
import {bigQueryRows} from './bq-islands.js'
import {readRanges} from './kafka-ranges.js'
import {duplicateRows, INT64_MAX, INT64_MIN, rowIslands, rowPartitions, storedEventIds, type IslandBound, type PgSinkTable} from './pg-islands.js'
import {
  integrityJson,
  normalizeRanges,
  rangesOfOffsets,
  reconcileSink,
  totalSize,
  unaccountedRanges,
  type EventIdDuplicate,
  type IntegrityJson,
  type OffsetRange,
  type PartitionFacts,
  type Resolution,
  type RowIsland,
  type SinkName,
  type SinkReport,
} from './reconcile.js'

export const SINKS: readonly SinkName[] = ['postgres', 'logs', 'bigquery']

/** Each sink's worker, topic and consumer group by default (src/lib/workers/*-worker.ts). */
export const SINK_DEFAULTS: Record<SinkName, {worker: string; topic: string; group: string}> = {
  postgres: {worker: 'events', topic: 'events', group: 'kpipe-events'},
  logs: {worker: 'logs', topic: 'logs', group: 'kpipe-logs'},
  bigquery: {worker: 'analytics', topic: 'analytics', group: 'kpipe-analytics'},
}

/** Most unaccounted offsets read back from Kafka per sink; beyond, they stay missing unread. */
export const MAX_KAFKA_READS = 100_000

export interface IntegrityTarget {
  sink: SinkName
  topic: string
  group: string
  dlqTopic: string
  /** Named with --sink: a missing topic or a group without commits is an error, not a skip. */
  explicit: boolean
}

export interface IntegrityOptions {
  config: KpipeConfig
  targets: readonly IntegrityTarget[]
  /** --since, as ms since the epoch. */
  sinceMs?: number
  /** The BigQuery table the analytics worker writes (`events`). */
  bigqueryTable: string
  /** PostgreSQL schema; `pipeline` unless a benchmark asks for another. */
  schema?: string
  debug?: boolean
}

export type IntegrityResult = IntegrityJson

/** A sink left out of `--sink all`, and why. */
class Skip extends Error {}

export async function checkIntegrity(options: IntegrityOptions): Promise<IntegrityResult> {
  const kafka = createKafka(options.config.kafka, {retry: COMMAND_RETRY, debug: options.debug})
  const admin = kafka.admin()
  let pool: pg.Pool | undefined
  const reports: SinkReport[] = []
  const skipped: IntegrityJson['skipped'] = []
  try {
    await admin.connect()
    for (const target of options.targets) {
      try {
        if (target.sink !== 'bigquery') pool ??= createPgPool(options.config.postgres, {max: 3, applicationName: 'kpipe integrity'})
        reports.push(await checkSink(kafka, admin, pool, target, options))
      } catch (error) {
        if (!(error instanceof Skip)) throw error
        skipped.push({sink: target.sink, reason: error.message})
      }
    }
  } catch (error) {
    throw asKpipeError(error, options.config)
  } finally {
    await admin.disconnect().catch(() => undefined)
    await pool?.end().catch(() => undefined)
  }
  if (reports.length === 0) {
    throw new UsageError(`Nothing to check: ${skipped.map((s) => `${s.sink} (${s.reason})`).join('; ')}.`, {
      hint: 'Run the workers first, or name a sink with --sink and its --topic / --group.',
    })
  }
  return integrityJson(reports, skipped)
}

function asKpipeError(error: unknown, config: KpipeConfig): unknown {
  if (error instanceof KpipeError) return error
  return kafkaDependencyError(error) ?? pgDependencyError(error, config.postgres.url) ?? bigqueryDependencyError(error, config.bigquery.endpoint) ?? error
}

interface KafkaFacts {
  partitions: number[]
  low: Map<number, bigint>
  high: Map<number, bigint>
  committed: Map<number, bigint | null>
  since?: Map<number, bigint>
  compacted: boolean
}

async function kafkaFacts(admin: Admin, target: IntegrityTarget, sinceMs: number | undefined): Promise<KafkaFacts> {
  const topics = new Set(await admin.listTopics())
  if (!topics.has(target.topic)) {
    const message = `the topic ${target.topic} does not exist`
    if (!target.explicit) throw new Skip(message)
    throw new ConfigError(`The topic ${target.topic} does not exist on the cluster.`, {hint: 'Name the topic the worker consumes with --topic.'})
  }
  const offsets = await admin.fetchTopicOffsets(target.topic)
  const low = new Map<number, bigint>()
  const high = new Map<number, bigint>()
  for (const p of offsets) {
    low.set(p.partition, parseOffset(p.low) ?? 0n)
    high.set(p.partition, parseOffset(p.high) ?? 0n)
  }
  const [groupOffsets] = await admin.fetchOffsets({groupId: target.group, topics: [target.topic]})
  const committed = new Map<number, bigint | null>()
  for (const p of groupOffsets?.partitions ?? []) committed.set(p.partition, parseOffset(p.offset))
  if (![...committed.values()].some((offset) => offset !== null)) {
    const message = `the group ${target.group} has committed no offsets on ${target.topic}`
    if (!target.explicit) throw new Skip(message)
    throw new UsageError(`The consumer group ${target.group} has committed no offsets on ${target.topic}: there is nothing to check against.`, {
      hint: `Name the worker's group with --group (the ${SINK_DEFAULTS[target.sink].worker} worker's default is ${SINK_DEFAULTS[target.sink].group}).`,
    })
  }
  let since: Map<number, bigint> | undefined
  if (sinceMs !== undefined) {
    since = new Map()
    for (const p of await admin.fetchTopicOffsetsByTimestamp(target.topic, sinceMs)) since.set(p.partition, parseOffset(p.offset) ?? 0n)
  }
  const {resources} = await admin.describeConfigs({includeSynonyms: false, resources: [{type: 2 /* TOPIC */, name: target.topic, configNames: ['cleanup.policy']}]})
  const policy = resources[0]?.configEntries.find((e) => e.configName === 'cleanup.policy')?.configValue ?? 'delete'
  return {partitions: offsets.map((p) => p.partition).sort((a, b) => a - b), low, high, committed, since, compacted: policy.includes('compact')}
}

/** Original offsets of the topic's records in its dead-letter topic, by partition. */
async function deadLetterOffsets(kafka: Kafka, admin: Admin, target: IntegrityTarget, principal: string | undefined): Promise<{byPartition: Map<number, bigint[]>; note?: string}> {
  const byPartition = new Map<number, bigint[]>()
  if (!(await admin.listTopics()).includes(target.dlqTopic)) {
    return {byPartition, note: `the dead-letter topic ${target.dlqTopic} does not exist: no dead letter accounts for any offset`}
  }
  const offsets = await admin.fetchTopicOffsets(target.dlqTopic)
  const wanted = new Map<number, OffsetRange[]>()
  for (const p of offsets) {
    const lo = parseOffset(p.low) ?? 0n
    const hi = parseOffset(p.high) ?? 0n
    if (hi > lo) wanted.set(p.partition, [{from: lo, to: hi - 1n}])
  }
  await readRanges(
    kafka,
    target.dlqTopic,
    wanted,
    (record) => {
      if (headerText(record.headers, DLQ_HEADERS.originalTopic) !== target.topic) return
      const partition = Number(headerText(record.headers, DLQ_HEADERS.originalPartition))
      const offset = parseOffset(headerText(record.headers, DLQ_HEADERS.originalOffset))
      if (!Number.isInteger(partition) || offset === null) return
      const list = byPartition.get(partition) ?? []
      list.push(offset)
      byPartition.set(partition, list)
    },
    {admin, partitions: offsets.map((p) => p.partition), principal},
  )
  return {byPartition}
}

function headerText(headers: IHeaders, name: string): string | undefined {
  const value = headers[name]
  const last = Array.isArray(value) ? value.at(-1) : value
  return last === undefined ? undefined : last.toString()
}

interface SinkRows {
  islands: Map<number, RowIsland[]>
  duplicates: Map<number, {offset: bigint; rows: bigint}[]>
  rawCopies?: bigint
  eventIdDuplicates?: EventIdDuplicate[]
}

async function postgresRows(pool: pg.Pool, table: PgSinkTable, target: IntegrityTarget, facts: KafkaFacts, schema: string): Promise<SinkRows> {
  await assertSchemaCurrent(pool, {schema})
  const present = await rowPartitions(pool, table, target.topic, {schema})
  const bounds: IslandBound[] = []
  const known = new Set(facts.partitions)
  for (const partition of facts.partitions) {
    const start = checkStart(facts, partition)
    bounds.push({partition, from: start, to: INT64_MAX}, {partition, from: INT64_MIN, to: -1n})
  }
  for (const partition of present) if (!known.has(partition)) bounds.push({partition, from: INT64_MIN, to: INT64_MAX})
  const islands = await rowIslands(pool, table, target.topic, bounds, {schema})
  const duplicates = new Map<number, {offset: bigint; rows: bigint}[]>()
  for (const [partition, list] of islands) {
    const crowded = list.filter((island) => island.rows > island.to - island.from + 1n)
    if (crowded.length > 0) duplicates.set(partition, await duplicateRows(pool, table, target.topic, partition, crowded, {schema}))
  }
  return {islands, duplicates}
}

function checkStart(facts: KafkaFacts, partition: number): bigint {
  const low = facts.low.get(partition) ?? 0n
  const since = facts.since?.get(partition)
  return since !== undefined && since > low ? since : low
}

async function checkSink(kafka: Kafka, admin: Admin, pool: pg.Pool | undefined, target: IntegrityTarget, options: IntegrityOptions): Promise<SinkReport> {
  const facts = await kafkaFacts(admin, target, options.sinceMs)
  const schema = options.schema ?? SCHEMA
  const notes: string[] = []
  const rowsPromise = target.sink === 'bigquery' ? bigqueryRowsOf(target, options) : postgresRows(pool!, target.sink === 'postgres' ? 'events' : 'logs', target, facts, schema)
  // The dead-letter topic is read while the sink answers.
  const [rows, letters] = await Promise.all([rowsPromise, deadLetterOffsets(kafka, admin, target, kafkaPrincipal(options.config.kafka))])
  if (letters.note) notes.push(letters.note)

  const partitions: PartitionFacts[] = []
  const all = new Set([...facts.partitions, ...rows.islands.keys(), ...letters.byPartition.keys()])
  for (const partition of [...all].sort((a, b) => a - b)) {
    const exists = facts.partitions.includes(partition)
    partitions.push({
      partition,
      exists,
      logStart: facts.low.get(partition) ?? 0n,
      logEnd: facts.high.get(partition) ?? 0n,
      committed: facts.committed.get(partition) ?? null,
      since: facts.since?.get(partition),
      islands: rows.islands.get(partition) ?? [],
      duplicateRows: rows.duplicates.get(partition) ?? [],
      deadLetters: letters.byPartition.get(partition) ?? [],
    })
  }

  const resolutions = facts.compacted ? new Map<number, Resolution>() : await resolveUnaccounted(kafka, admin, pool, target, partitions, schema, notes)
  return reconcileSink({
    sink: target.sink,
    topic: target.topic,
    group: target.group,
    dlqTopic: target.dlqTopic,
    compacted: facts.compacted,
    partitions,
    resolutions,
    eventIdDuplicates: rows.eventIdDuplicates,
    rawCopies: rows.rawCopies,
    notes,
  })
}

async function bigqueryRowsOf(target: IntegrityTarget, options: IntegrityOptions): Promise<SinkRows> {
  const {bigquery: config} = options.config
  const table = checkTable(options.bigqueryTable)
  const bigquery = createBigQuery(config)
  const missing = () => {
    const message = `the BigQuery table ${config.project}.${config.dataset}.${table} does not exist`
    if (!target.explicit) return new Skip(message)
    return new ConfigError(`The BigQuery table ${config.project}.${config.dataset}.${table} does not exist.`, {
      hint: 'Name the dataset and table the analytics worker writes (--bq-dataset, --table).',
    })
  }
  try {
    // Asked first: a query naming a missing table fails as a bad query, not as "not found".
    const [exists] = await bigquery.dataset(config.dataset).table(table).exists()
    if (!exists) throw missing()
    const found = await bigQueryRows(bigquery, {project: config.project, dataset: config.dataset, table}, target.topic)
    return {islands: found.islands, duplicates: new Map(), rawCopies: found.rawCopies, eventIdDuplicates: found.eventIdDuplicates}
  } catch (error) {
    if (error instanceof Skip || error instanceof KpipeError) throw error
    if (httpStatus(error) === 404) throw missing()
    throw bigqueryDependencyError(error, config.endpoint) ?? error
  }
}

/**
 * Reads the offsets no row and no dead letter claims from Kafka: absent ones are transaction
 * markers or aborted records; for pipeline.events, a record whose event id is stored (at
 * another offset) is superseded. The rest stay missing.
 */
async function resolveUnaccounted(
  kafka: Kafka,
  admin: Admin,
  pool: pg.Pool | undefined,
  target: IntegrityTarget,
  partitions: readonly PartitionFacts[],
  schema: string,
  notes: string[],
): Promise<Map<number, Resolution>> {
  const wanted = new Map<number, OffsetRange[]>()
  let budget = BigInt(MAX_KAFKA_READS)
  let capped = false
  for (const facts of partitions) {
    const ranges: OffsetRange[] = []
    for (const range of unaccountedRanges(facts)) {
      if (budget <= 0n) {
        capped = true
        break
      }
      const size = range.to - range.from + 1n
      const take = size <= budget ? range : {from: range.from, to: range.from + budget - 1n}
      if (size > budget) capped = true
      ranges.push(take)
      budget -= take.to - take.from + 1n
    }
    if (ranges.length > 0) wanted.set(facts.partition, ranges)
  }
  const resolutions = new Map<number, Resolution>()
  if (wanted.size === 0) return resolutions
  if (capped) notes.push(`more than ${MAX_KAFKA_READS} offsets had no row: only the first ${MAX_KAFKA_READS} were read back from Kafka; the others count as missing`)

  const idsAt = new Map<number, {offset: bigint; eventId: string}[]>()
  const absent = await readRanges(
    kafka,
    target.topic,
    wanted,
    (record) => {
      if (target.sink !== 'postgres') return
      const decoded = decodeEventRecord(record.value, {maxBytes: Number.MAX_SAFE_INTEGER})
      if (!decoded.ok) return // a poison record without a dead letter: missing
      const list = idsAt.get(record.partition) ?? []
      list.push({offset: record.offset, eventId: decoded.event.eventId})
      idsAt.set(record.partition, list)
    },
    {admin, partitions: partitions.filter((p) => p.exists).map((p) => p.partition), timeoutMs: 120_000 + Number(totalSize([...wanted.values()].flat())) * 2},
  )
  const stored = pool && idsAt.size > 0 ? await storedEventIds(pool, [...idsAt.values()].flat().map((r) => r.eventId), {schema}) : new Set<string>()
  for (const partition of wanted.keys()) {
    const superseded = (idsAt.get(partition) ?? []).filter((r) => stored.has(r.eventId)).map((r) => r.offset)
    resolutions.set(partition, {superseded: rangesOfOffsets(superseded), notRecords: normalizeRanges(absent.get(partition) ?? [])})
  }
  return resolutions
}
