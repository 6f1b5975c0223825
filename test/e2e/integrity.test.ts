/**
 * `kpipe integrity` end to end: the built CLI against the stack after real worker runs. A clean
 * events run (poison records, an event published twice, a committed and an aborted transaction)
 * checks clean; deleted rows are named as missing ranges and an impossible row as an orphan, both
 * exit 1; consuming the topic again with a fresh group restores the rows and the check passes.
 * The logs and BigQuery sinks check clean after their workers, and a logs row sharing another's
 * Kafka coordinates is a duplicate. Every test has its own topics and groups, and deletes only
 * its own rows.
 */
import {randomUUID} from 'node:crypto'

import type pg from 'pg'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {createBigQuery} from '../../src/lib/bigquery/client.js'
import {json, runCli, type CliResult} from '../helpers/cli.js'
import {
  createTopics,
  deleteRows,
  deleteTopics,
  eventMessage,
  interleave,
  kafka,
  makeEvents,
  pgPool,
  poisonMessages,
  produce,
  uniqueName,
} from '../integration/workers/helpers.js'

interface SinkReport {
  sink: string
  topic: string
  ok: boolean
  checkedOffsets: number
  rows: number
  deadLetters: number
  repeatedDeadLetters: number
  superseded: number
  missingOffsets: number
  missing: {partition: number; from: number; to: number; count: number}[]
  duplicates: {kind: string; partition?: number; offset?: number; rows?: number; deadLetters?: number}[]
  orphans: {kind: string; partition: number; from: number; to: number; count: number; reason: string}[]
  partitions: {partition: number; ok: boolean}[]
}

interface Report {
  ok: boolean
  sinks: SinkReport[]
  unchecked: {sink: string; topic: string; partition: number; from: number; to: number; count: number; reason: string}[]
}

const HEAVY = 300_000

function integrity(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(['integrity', ...args], {env, timeoutMs: 180_000})
}

function reportOf(result: CliResult, code: number): Report {
  expect(result.code, `${result.stdout.slice(-2000)}\n${result.stderr.slice(-2000)}`).toBe(code)
  return json<Report>(result)
}

async function drainEvents(topic: string, group: string): Promise<void> {
  const result = await runCli(['worker', 'events', '--topic', topic, '--group', group, '--from-beginning', '--stop-when-caught-up', '--no-projections', '--metrics-port', '0', '--json'], {
    timeoutMs: HEAVY,
  })
  expect(result.code, result.stderr.slice(-3000)).toBe(0)
}

/** Runs of consecutive offsets, as integrity names missing ranges. */
function runsOf(partition: number, offsets: number[]): {partition: number; from: number; to: number; count: number}[] {
  const runs: {partition: number; from: number; to: number; count: number}[] = []
  for (const offset of [...offsets].sort((a, b) => a - b)) {
    const last = runs.at(-1)
    if (last && last.to + 1 === offset) {
      last.to = offset
      last.count++
    } else {
      runs.push({partition, from: offset, to: offset, count: 1})
    }
  }
  return runs
}

describe('kpipe integrity: pipeline.events', () => {
  const topic = uniqueName('e2e-integrity')
  const group = `${topic}-g`
  let pool: pg.Pool

  beforeAll(async () => {
    pool = await pgPool()
    await createTopics(topic, 3)
    const events = makeEvents(330, topic, {entities: 40})
    const poison = poisonMessages(topic, 4, 1000).map((p) => p.message)
    // 300 plain events with 4 poison records among them, and the first event published again
    // (a producer retry: the upsert keeps its first offset, the second is superseded).
    await produce(topic, [...interleave(events.slice(0, 300).map(eventMessage), poison), eventMessage(events[0]!)])
    // A committed transaction (its markers take offsets) and an aborted one (records and markers
    // that a read-committed worker never sees), then plain events after them.
    const producer = kafka.producer({transactionalId: `${topic}-tx`, idempotent: true, maxInFlightRequests: 1})
    await producer.connect()
    try {
      const committed = await producer.transaction()
      await committed.send({topic, acks: -1, messages: events.slice(300, 310).map(eventMessage)})
      await committed.commit()
      const aborted = await producer.transaction()
      await aborted.send({topic, acks: -1, messages: makeEvents(5, `${topic}-aborted`).map(eventMessage)})
      await aborted.abort()
    } finally {
      await producer.disconnect()
    }
    await produce(topic, events.slice(310).map(eventMessage))
    await drainEvents(topic, group)
  }, HEAVY)

  afterAll(async () => {
    if (!pool) return
    await deleteRows(pool, topic)
    await deleteTopics(topic)
    await pool.end()
  })

  it('a clean run checks clean: every offset a row, a dead letter, a superseded record or a transaction marker', async () => {
    const report = reportOf(await integrity(['--sink', 'postgres', '--topic', topic, '--group', group, '--json']), 0)
    expect(report.ok).toBe(true)
    const [sink] = report.sinks
    expect(sink).toMatchObject({sink: 'postgres', topic, ok: true, rows: 330, deadLetters: 4, superseded: 1, missingOffsets: 0, missing: [], duplicates: [], orphans: []})
    const markers = report.unchecked.filter((u) => u.reason === 'not-a-record').reduce((sum, u) => sum + u.count, 0)
    // 5 aborted records, and at least one commit and one abort marker.
    expect(markers).toBeGreaterThanOrEqual(7)
    expect(sink!.checkedOffsets).toBe(330 + 4 + 1 + markers)

    const human = await integrity(['--sink', 'postgres', '--topic', topic, '--group', group])
    expect(human.code, human.stderr).toBe(0)
    expect(human.stdout).toMatch(/partition\s+log start\s+log end\s+committed/)
    expect(human.stdout).toContain(`OK: ${sink!.checkedOffsets} offsets checked in 1 sink`)
  }, HEAVY)

  it('deleted rows exit 1 as missing ranges; consuming the topic again with a fresh group restores them', async () => {
    const {rows} = await pool.query<{event_id: string; kafka_offset: string}>(
      `SELECT event_id, kafka_offset::text FROM pipeline.events WHERE kafka_topic = $1 AND kafka_partition = 0 AND event_id <> $2
        ORDER BY kafka_offset LIMIT 12`,
      [topic, `${topic}-0`],
    )
    // Three consecutive rows and two single ones.
    const victims = [rows[2]!, rows[3]!, rows[4]!, rows[7]!, rows[11]!]
    await pool.query('DELETE FROM pipeline.events WHERE kafka_topic = $1 AND event_id = ANY($2)', [topic, victims.map((v) => v.event_id)])

    const failed = await integrity(['--sink', 'postgres', '--topic', topic, '--group', group, '--json'])
    const report = reportOf(failed, 1)
    expect(report.ok).toBe(false)
    expect(report.sinks[0]!.missing).toEqual(runsOf(0, victims.map((v) => Number(v.kafka_offset))))
    expect(report.sinks[0]!.missingOffsets).toBe(5)
    expect(report.sinks[0]!.partitions.find((p) => p.partition === 0)!.ok).toBe(false)
    expect(failed.stderr).toMatch(/MISMATCH in postgres \(.*\): 5 missing/)

    const fresh = `${topic}-again-${randomUUID().slice(0, 6)}`
    await drainEvents(topic, fresh)
    const restored = reportOf(await integrity(['--sink', 'postgres', '--topic', topic, '--group', fresh, '--json']), 0)
    // The poison records were dead-lettered again by the second group: accounted for once each.
    expect(restored.sinks[0]).toMatchObject({ok: true, missing: [], deadLetters: 4, repeatedDeadLetters: 4, duplicates: []})
    expect(reportOf(await integrity(['--sink', 'postgres', '--topic', topic, '--group', group, '--json']), 0).ok).toBe(true)
  }, HEAVY)

  it('a row at an offset that does not exist, or in a partition the topic lacks, exits 1 as an orphan', async () => {
    const insert = (eventId: string, partition: number, offset: number) =>
      pool.query(
        `INSERT INTO pipeline.events (event_id, type, source, entity_key, occurred_at, payload, kafka_topic, kafka_partition, kafka_offset)
         VALUES ($1, 'test.orphan', 'tests', 'k', now(), '{}', $2, $3, $4)`,
        [eventId, topic, partition, offset],
      )
    try {
      await insert(`${topic}-orphan-end`, 1, 1_000_000)
      await insert(`${topic}-orphan-partition`, 7, 3)
      const failed = await integrity(['--sink', 'postgres', '--topic', topic, '--group', group, '--json'])
      const report = reportOf(failed, 1)
      expect(report.sinks[0]!.orphans).toEqual([
        {kind: 'row', partition: 1, from: 1_000_000, to: 1_000_000, count: 1, reason: 'beyond-end'},
        {kind: 'row', partition: 7, from: 3, to: 3, count: 1, reason: 'no-such-partition'},
      ])
      expect(report.sinks[0]!.missing).toEqual([])
      expect(failed.stderr).toMatch(/2 orphans/)
      const human = await integrity(['--sink', 'postgres', '--topic', topic, '--group', group])
      expect(human.code).toBe(1)
      expect(human.stdout).toContain('orphan: 1 row(s) at partition 1 offset 1000000: beyond the log end')
    } finally {
      await pool.query('DELETE FROM pipeline.events WHERE event_id = ANY($1)', [[`${topic}-orphan-end`, `${topic}-orphan-partition`]])
    }
    expect(reportOf(await integrity(['--sink', 'postgres', '--topic', topic, '--group', group, '--json']), 0).ok).toBe(true)
  }, HEAVY)

  it('exits 3 when PostgreSQL is unreachable, 3 when Kafka is', async () => {
    const noPg = await integrity(['--sink', 'postgres', '--topic', topic, '--group', group, '--pg-url', 'postgres://localhost:1/kpipe'])
    expect(noPg.code, noPg.stderr).toBe(3)
    expect(noPg.stderr).toMatch(/PostgreSQL is unreachable/)
    const noKafka = await integrity(['--sink', 'postgres', '--topic', topic, '--group', group, '--brokers', 'localhost:1'])
    expect(noKafka.code, noKafka.stderr).toBe(3)
    expect(noKafka.stderr).toMatch(/Kafka is unreachable/)
  })

  it('exits 2 on bad flags and on a group that never committed', async () => {
    const noSink = await integrity(['--topic', topic])
    expect(noSink.code).toBe(2)
    expect(noSink.stderr).toContain('--topic names one sink')
    const badSince = await integrity(['--sink', 'postgres', '--topic', topic, '--group', group, '--since', 'soon'])
    expect(badSince.code).toBe(2)
    expect(badSince.stderr).toMatch(/--since/)
    const noGroup = await integrity(['--sink', 'postgres', '--topic', topic, '--group', `${topic}-never`])
    expect(noGroup.code).toBe(2)
    expect(noGroup.stderr).toContain('has committed no offsets')
  })
})

describe('kpipe integrity: pipeline.logs', () => {
  const topic = uniqueName('e2e-integrity-logs')
  const group = `${topic}-g`
  let pool: pg.Pool

  beforeAll(async () => {
    pool = await pgPool()
    await createTopics(topic, 3)
    const now = Date.now()
    const lines = Array.from({length: 100}, (_, i) => ({
      key: `${topic}-svc`,
      value: JSON.stringify({ts: new Date(now - 60_000 + i).toISOString(), level: 'info', msg: `line ${i}`, service: `${topic}-svc`}),
    }))
    await produce(topic, [...lines.slice(0, 50), {key: 'null', value: null}, ...lines.slice(50), {key: 'bin', value: Buffer.from([0xff, 0xfe, 0x00, 0x81])}])
    const result = await runCli(['worker', 'logs', '--topic', topic, '--group', group, '--from-beginning', '--stop-when-caught-up', '--metrics-port', '0', '--retention', '9000d', '--json'], {
      timeoutMs: HEAVY,
    })
    expect(result.code, result.stderr.slice(-3000)).toBe(0)
  }, HEAVY)

  afterAll(async () => {
    if (!pool) return
    await pool.query('DELETE FROM pipeline.logs WHERE kafka_topic = $1', [topic])
    await deleteTopics(topic)
    await pool.end()
  })

  it('checks clean after the logs worker; a second row with the same Kafka coordinates is a duplicate', async () => {
    const clean = reportOf(await integrity(['--sink', 'logs', '--topic', topic, '--group', group, '--json']), 0)
    expect(clean.sinks[0]).toMatchObject({sink: 'logs', ok: true, checkedOffsets: 102, rows: 100, deadLetters: 2, missing: [], duplicates: []})

    const {rows} = await pool.query<{kafka_partition: number; kafka_offset: string}>(
      'SELECT kafka_partition, kafka_offset::text FROM pipeline.logs WHERE kafka_topic = $1 ORDER BY kafka_partition, kafka_offset LIMIT 1',
      [topic],
    )
    const copy = rows[0]!
    // The same record stored twice under another time (the unique constraint includes ts).
    await pool.query(
      `INSERT INTO pipeline.logs (ts, service, level, message, correlation_id, attrs, kafka_topic, kafka_partition, kafka_offset)
       SELECT ts - interval '1 millisecond', service, level, message, correlation_id, attrs, kafka_topic, kafka_partition, kafka_offset
         FROM pipeline.logs WHERE kafka_topic = $1 AND kafka_partition = $2 AND kafka_offset = $3`,
      [topic, copy.kafka_partition, copy.kafka_offset],
    )
    const report = reportOf(await integrity(['--sink', 'logs', '--topic', topic, '--group', group, '--json']), 1)
    expect(report.sinks[0]!.duplicates).toEqual([{kind: 'offset', partition: copy.kafka_partition, offset: Number(copy.kafka_offset), rows: 2, deadLetters: 0}])
  }, HEAVY)
})

describe('kpipe integrity: BigQuery', () => {
  const topic = uniqueName('e2e-integrity-bq')
  const group = `${topic}-g`
  const project = process.env.KPIPE_BQ_PROJECT ?? 'local'
  const endpoint = process.env.KPIPE_BQ_ENDPOINT ?? 'http://localhost:9050'
  const dataset = `kpipe_e2e_integrity_${Date.now().toString(36)}_${randomUUID().slice(0, 5)}`
  const env = {KPIPE_BQ_PROJECT: project, KPIPE_BQ_DATASET: dataset, KPIPE_BQ_ENDPOINT: endpoint}

  beforeAll(async () => {
    await createTopics(topic, 3)
    // Small: the emulator is slow.
    const events = makeEvents(200, topic, {entities: 20})
    await produce(topic, interleave(events.map(eventMessage), poisonMessages(topic, 2, 1000).map((p) => p.message)))
    const result = await runCli(['worker', 'analytics', '--topic', topic, '--group', group, '--table', 'events', '--from-beginning', '--stop-when-caught-up', '--metrics-port', '0', '--json'], {
      env,
      timeoutMs: HEAVY,
    })
    expect(result.code, result.stderr.slice(-3000)).toBe(0)
  }, HEAVY)

  afterAll(async () => {
    await deleteTopics(topic)
    await createBigQuery({project, dataset, endpoint}).dataset(dataset).delete({force: true}).catch(() => undefined)
  }, 120_000)

  it('checks clean after the analytics worker', async () => {
    const report = reportOf(await integrity(['--sink', 'bigquery', '--topic', topic, '--group', group, '--table', 'events', '--json'], env), 0)
    expect(report.sinks[0]).toMatchObject({sink: 'bigquery', ok: true, checkedOffsets: 202, rows: 200, deadLetters: 2, missing: [], duplicates: [], orphans: []})
  }, HEAVY)

  it('exits 2 naming a table that does not exist', async () => {
    const result = await integrity(['--sink', 'bigquery', '--topic', topic, '--group', group, '--table', 'no_such_table'], env)
    expect(result.code, result.stderr).toBe(2)
    expect(result.stderr).toContain(`The BigQuery table ${project}.${dataset}.no_such_table does not exist`)
  })
})
