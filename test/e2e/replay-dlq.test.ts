/**
 * `kpipe replay-dlq` end to end against the stack's broker: dead letters made by a real worker
 * run and written directly in the three writers' dialects, replayed by the built CLI, and read
 * back with a read-committed consumer (what a downstream consumer of a transactional producer
 * sees), comparing the sets of dead-letter coordinates, not only counts.
 */
import {spawn} from 'node:child_process'
import type {IHeaders, Message} from 'kafkajs'
import type pg from 'pg'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {deadLetterMessage} from '../../src/lib/dlq/dead-letter.js'
import {replayTransactionalId, type ReplaySummary} from '../../src/lib/dlq/replay-model.js'
import type {ErrorClass} from '../../src/lib/workers/types.js'
import {binRun, json, repoRoot, runCli} from '../helpers/cli.js'
import {
  assertBuilt,
  deleteRows,
  eventMessage,
  kafka,
  makeEvents,
  pgPool,
  poisonMessages,
  produce,
  runWorkerUntilCaughtUp,
  sleep,
  uniqueName,
  waitUntil,
} from '../integration/workers/helpers.js'

type ReplayJson = ReplaySummary

interface ReadRecord {
  partition: number
  offset: string
  key: string | null
  value: string | null
  headers: Record<string, string>
}

const made = {topics: new Set<string>(), groups: new Set<string>()}

async function createTopic(topic: string, partitions = 1): Promise<string> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    await admin.createTopics({waitForLeaders: true, topics: [{topic, numPartitions: partitions, replicationFactor: 1}]})
  } finally {
    await admin.disconnect()
  }
  made.topics.add(topic)
  return topic
}

/** A fresh dead-letter topic, its scratch destination, and a group, all this test's own. */
async function scene(prefix: string): Promise<{dlq: string; scratch: string; group: string}> {
  const dlq = await createTopic(`${uniqueName(prefix)}.dlq`)
  made.topics.add(`${dlq}.parked`)
  const scratch = await createTopic(uniqueName(`${prefix}-scratch`), 2)
  const group = uniqueName(`${prefix}-replay`)
  made.groups.add(group)
  return {dlq, scratch, group}
}

/**
 * Reads a topic to the end offsets of now with a read-committed consumer (kafkajs'
 * `readUncommitted: false`): records of aborted transactions are not returned. Offsets are not
 * a count here (transaction markers take offsets), so the read ends when every partition's
 * position reached its end.
 */
async function readCommitted(topic: string): Promise<ReadRecord[]> {
  const admin = kafka.admin()
  await admin.connect()
  const ends = new Map<number, bigint>()
  try {
    for (const p of await admin.fetchTopicOffsets(topic)) if (BigInt(p.high) > BigInt(p.low)) ends.set(p.partition, BigInt(p.high))
  } finally {
    await admin.disconnect()
  }
  const out: ReadRecord[] = []
  if (ends.size === 0) return out
  const groupId = uniqueName('e2e-replay-reader')
  made.groups.add(groupId)
  const consumer = kafka.consumer({groupId, readUncommitted: false, maxWaitTimeInMs: 200})
  const reached = (partition: number, lastOffset: string) => {
    if (BigInt(lastOffset) + 1n >= (ends.get(partition) ?? 0n)) ends.delete(partition)
  }
  await consumer.connect()
  try {
    await consumer.subscribe({topic, fromBeginning: true})
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${out.length} records of ${topic}; partitions ${[...ends.keys()]} not at their end`)), 60_000)
      const check = () => {
        if (ends.size === 0) {
          clearTimeout(timer)
          resolve()
        }
      }
      // A batch of only aborted records or markers reaches no eachBatch; kafkajs reports it here.
      consumer.on(consumer.events.END_BATCH_PROCESS, ({payload}) => {
        reached(payload.partition, payload.lastOffset)
        check()
      })
      consumer
        .run({
          eachBatch: async ({batch}) => {
            for (const message of batch.messages) {
              if (!ends.has(batch.partition)) break
              const headers: Record<string, string> = {}
              for (const [name, value] of Object.entries(message.headers ?? ({} as IHeaders))) headers[name] = String(value)
              out.push({partition: batch.partition, offset: message.offset, key: message.key?.toString() ?? null, value: message.value?.toString() ?? null, headers})
            }
            reached(batch.partition, batch.lastOffset())
            check()
          },
        })
        .catch(reject)
    })
  } finally {
    await consumer.disconnect()
  }
  return out
}

/** The dead-letter offsets a destination received, sorted: duplicates would show as repeats. */
function replayedOffsets(records: ReadRecord[]): number[] {
  return records.map((r) => Number(r.headers['kpipe.replay.dlq.offset'])).sort((a, b) => a - b)
}

function range(n: number): number[] {
  return Array.from({length: n}, (_, i) => i)
}

/** kpipe dead letters as the workers write them (the real header builder), attempt as given. */
function kpipeLetters(originalTopic: string, specs: {errorClass: ErrorClass; attempt?: number; key?: string}[]): Message[] {
  return specs.map((spec, i) => {
    const headers: IHeaders = {'x-app': `app-${i}`}
    if (spec.attempt !== undefined && spec.attempt > 1) headers['kpipe.dlq.attempt'] = String(spec.attempt - 1)
    const message = deadLetterMessage(
      {
        record: {topic: originalTopic, partition: 0, offset: String(1000 + i), key: Buffer.from(spec.key ?? `k-${i}`), value: Buffer.from(`{"n":${i}}`), headers, timestamp: String(Date.now())},
        errorClass: spec.errorClass,
        message: `${spec.errorClass} failure ${i}`,
      },
      {worker: 'events', failedAt: new Date()},
    )
    return message
  })
}

async function committedOffset(group: string, topic: string): Promise<number> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const [offsets] = await admin.fetchOffsets({groupId: group, topics: [topic]})
    return Number(offsets?.partitions[0]?.offset ?? -1)
  } finally {
    await admin.disconnect()
  }
}

/**
 * Runs a replay to its end. A commit's markers reach the partitions just after the commit
 * returns; until then a read-committed reader's end offset (the last stable offset) lags.
 * Initialising a producer with the replay's transactional id waits until its last transaction
 * is complete, so what the replay committed is readable when this returns.
 */
async function replay(args: string[]) {
  const result = await runCli(['replay-dlq', ...args, '--json'], {timeoutMs: 120_000})
  const group = args[args.indexOf('--group') + 1]!
  if (!args.includes('--dry-run')) await settle(group)
  return result
}

async function settle(group: string): Promise<void> {
  const producer = kafka.producer({transactionalId: replayTransactionalId(group), maxInFlightRequests: 1, idempotent: true})
  await producer.connect()
  try {
    await (await producer.transaction()).abort()
  } finally {
    await producer.disconnect()
  }
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeInt32BE(n)
  return b
}
function int64(n: number): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigInt64BE(BigInt(n))
  return b
}

describe('kpipe replay-dlq', () => {
  let pool: pg.Pool | undefined

  beforeAll(() => {
    assertBuilt()
  })

  afterAll(async () => {
    const admin = kafka.admin()
    await admin.connect()
    try {
      const existing = new Set(await admin.listTopics())
      const topics = [...made.topics].filter((t) => existing.has(t))
      if (topics.length > 0) await admin.deleteTopics({topics}).catch(() => undefined)
      // A killed replay leaves its reader's group (<group>.reader.<id>) behind: those go too.
      const {groups} = await admin.listGroups()
      const ours = groups.map((g) => g.groupId).filter((id) => [...made.groups].some((group) => id === group || id.startsWith(`${group}.reader.`)))
      await admin.deleteGroups([...new Set([...made.groups, ...ours])]).catch(() => undefined)
    } finally {
      await admin.disconnect()
    }
    await pool?.end()
  })

  it('after a worker run with poison: the dry run counts the dead letters by class, a replay publishes exactly that many, and a second replay none', async () => {
    const topic = uniqueName('e2e-replay-src')
    await createTopic(topic, 2)
    const dlq = await createTopic(`${topic}.dlq`)
    const scratch = await createTopic(uniqueName('e2e-replay-scratch'), 2)
    const group = uniqueName('e2e-replay-g')
    made.groups.add(group)
    made.groups.add(`${topic}-worker`)
    pool = await pgPool()
    const poison = poisonMessages(topic, 7, 1_000_000) // decode ×3, validation ×3, schema ×1
    const expected: Record<string, number> = {}
    for (const p of poison) expected[p.errorClass] = (expected[p.errorClass] ?? 0) + 1
    await produce(topic, [...makeEvents(40, topic, {entities: 5}).map(eventMessage), ...poison.map((p) => p.message)])
    try {
      const worker = await runWorkerUntilCaughtUp(['--topic', topic, '--group', `${topic}-worker`, '--from-beginning', '--metrics-port', '0', '--no-projections'])
      expect(worker.code, worker.stderr.slice(-2000)).toBe(0)
      expect(worker.summary).toMatchObject({deadLettered: poison.length})

      const dry = await replay(['--dlq', dlq, '--group', group, '--dry-run'])
      expect(dry.code, dry.stderr).toBe(0)
      const planned = json<ReplayJson>(dry)
      expect(planned).toMatchObject({dryRun: true, read: poison.length, replayed: poison.length, parked: 0, skipped: 0})
      expect(planned.byErrorClass).toEqual(expected)
      expect(planned.byOriginalTopic).toEqual({[topic]: poison.length})
      expect(planned.samples.length).toBeGreaterThan(0)
      expect(planned.samples[0]!.errorMessage).not.toBe('')
      // The dry run changed nothing: no commit, nothing published.
      expect(await committedOffset(group, dlq)).toBe(-1)
      expect(await readCommitted(scratch)).toEqual([])

      const first = await replay(['--dlq', dlq, '--group', group, '--to', scratch])
      expect(first.code, first.stderr).toBe(0)
      expect(json<ReplayJson>(first)).toMatchObject({dryRun: false, read: poison.length, replayed: poison.length, stoppedBy: 'done'})
      const published = await readCommitted(scratch)
      expect(replayedOffsets(published)).toEqual(range(poison.length))
      for (const record of published) {
        expect(record.headers['kpipe.replay.dlq.topic']).toBe(dlq)
        expect(record.headers['kpipe.dlq.attempt']).toBe('1')
        expect(Object.keys(record.headers).filter((h) => h.startsWith('kpipe.dlq.'))).toEqual(['kpipe.dlq.attempt'])
      }
      // Original keys and values, as the poison was produced.
      expect(published.map((r) => r.key).sort()).toEqual(poison.map((p) => String(p.message.key)).sort())

      const second = await replay(['--dlq', dlq, '--group', group, '--to', scratch])
      expect(second.code, second.stderr).toBe(0)
      expect(json<ReplayJson>(second)).toMatchObject({read: 0, replayed: 0})
      expect(replayedOffsets(await readCommitted(scratch))).toEqual(range(poison.length))
    } finally {
      await deleteRows(pool, topic)
    }
  })

  it('a replay killed with SIGKILL midway and run again publishes each dead letter exactly once', async () => {
    const {dlq, scratch, group} = await scene('e2e-replay-kill')
    const total = 60
    await produce(dlq, kpipeLetters('events', range(total).map(() => ({errorClass: 'validation' as const}))))
    // 5/s: about a second per transaction, each record sent inside it as it is paced, so the
    // kill lands in the middle of the run (and most likely inside an open transaction).
    const child = spawn(process.execPath, [binRun, 'replay-dlq', '--dlq', dlq, '--group', group, '--to', scratch, '--rate', '5/s', '--json'], {cwd: repoRoot, stdio: 'ignore'})
    const exited = new Promise((resolve) => child.once('close', resolve))
    try {
      await waitUntil(async () => (await committedOffset(group, dlq)) > 0, 120_000, 'the first committed transaction')
      await sleep(500)
    } finally {
      child.kill('SIGKILL')
      await exited
    }
    // Not settled here: fencing the killed run's open transaction is the resumed run's job. So
    // this read may miss the killed run's very last commit (its markers), never add to it.
    const atKill = await committedOffset(group, dlq)
    expect(atKill).toBeGreaterThan(0)
    expect(atKill).toBeLessThan(total) // killed midway

    const resumed = await replay(['--dlq', dlq, '--group', group, '--to', scratch])
    expect(resumed.code, resumed.stderr).toBe(0)
    const summary = json<ReplayJson>(resumed)
    // The resumed run starts where the killed one committed: what it had sent uncommitted was
    // aborted when the new run fenced it, and is published again, once.
    expect(summary.replayed).toBeGreaterThan(0)
    expect(summary.replayed).toBeLessThanOrEqual(total - atKill)
    expect(replayedOffsets(await readCommitted(scratch))).toEqual(range(total))
    expect(await committedOffset(group, dlq)).toBe(total)
  })

  it('SIGTERM stops after the current transaction, commits, and prints the summary so far', async () => {
    const {dlq, scratch, group} = await scene('e2e-replay-term')
    const total = 40
    await produce(dlq, kpipeLetters('events', range(total).map(() => ({errorClass: 'decode' as const}))))
    const child = spawn(process.execPath, [binRun, 'replay-dlq', '--dlq', dlq, '--group', group, '--to', scratch, '--rate', '5/s', '--json'], {cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve))
    try {
      await waitUntil(async () => (await committedOffset(group, dlq)) > 0, 120_000, 'the first committed transaction')
    } finally {
      child.kill('SIGTERM')
    }
    expect(await exited).toBe(0)
    await settle(group)
    const summary = JSON.parse(stdout) as ReplayJson
    expect(summary.stoppedBy).toBe('signal')
    expect(summary.replayed).toBeLessThan(total)
    // What the summary says was replayed is what was committed and published.
    expect(await committedOffset(group, dlq)).toBe(summary.replayed)
    expect(replayedOffsets(await readCommitted(scratch))).toEqual(range(summary.replayed))
  })

  it('parks a record that already failed --max-attempts times instead of republishing it', async () => {
    const {dlq, scratch, group} = await scene('e2e-replay-park')
    await produce(dlq, kpipeLetters('events', [{errorClass: 'validation', attempt: 3, key: 'looping'}, {errorClass: 'validation', attempt: 1, key: 'fresh'}, {errorClass: 'schema', attempt: 2, key: 'second'}]))
    const dry = json<ReplayJson>(await replay(['--dlq', dlq, '--group', group, '--to', scratch, '--dry-run']))
    expect(dry).toMatchObject({replayed: 2, parked: 1})

    const result = await replay(['--dlq', dlq, '--group', group, '--to', scratch])
    expect(result.code, result.stderr).toBe(0)
    expect(json<ReplayJson>(result)).toMatchObject({read: 3, replayed: 2, parked: 1})
    const published = await readCommitted(scratch)
    expect(published.map((r) => r.key).sort()).toEqual(['fresh', 'second'])
    expect(published.find((r) => r.key === 'second')!.headers['kpipe.dlq.attempt']).toBe('2')
    const parked = await readCommitted(`${dlq}.parked`)
    expect(parked).toHaveLength(1)
    expect(parked[0]).toMatchObject({key: 'looping', value: '{"n":0}'})
    expect(parked[0]!.headers).toMatchObject({'kpipe.dlq.attempt': '3', 'kpipe.dlq.error.class': 'validation', 'kpipe.replay.dlq.offset': '0', 'x-app': 'app-0'})
    expect(parked[0]!.headers['kpipe.replay.parked.reason']).toMatch(/attempt 3/)

    // A higher --max-attempts in a new group replays it; the parked topic keeps its copy.
    const again = json<ReplayJson>(await replay(['--dlq', dlq, '--group', `${group}-b`, '--to', scratch, '--max-attempts', '5', '--dry-run']))
    made.groups.add(`${group}-b`)
    expect(again).toMatchObject({replayed: 3, parked: 0})
  })

  it("recognises Kafka Connect's and Spring Kafka's dead letters and shows their original topics in the dry run", async () => {
    const {dlq, scratch, group} = await scene('e2e-replay-foreign')
    const connect = (i: number, context: boolean): Message => ({
      key: `c-${i}`,
      value: `connect-${i}`,
      headers: {
        ...(context ? {'__connect.errors.topic': 'orders', '__connect.errors.partition': '3', '__connect.errors.offset': String(500 + i)} : {}),
        '__connect.errors.exception.class.name': 'org.apache.kafka.connect.errors.DataException',
        '__connect.errors.exception.message': `Converting byte[] to Kafka Connect data failed (${i})`,
        '__connect.errors.connector.name': 'jdbc-sink',
        'x-trace': `t-${i}`,
      },
    })
    const spring = (i: number): Message => ({
      key: `s-${i}`,
      value: Buffer.from([0xde, 0xad, i]),
      headers: {
        'kafka_dlt-original-topic': 'payments',
        'kafka_dlt-original-partition': int32(1),
        'kafka_dlt-original-offset': int64(2 ** 33 + i),
        'kafka_dlt-exception-fqcn': 'org.springframework.kafka.support.serializer.DeserializationException',
        'kafka_dlt-exception-message': `failed to deserialize (${i})`,
      },
    })
    // The record without an original topic comes first: a replay without --to must stop before anything.
    await produce(dlq, [connect(0, false), connect(1, true), connect(2, true), connect(3, true), spring(0), spring(1)])

    const dry = await replay(['--dlq', dlq, '--group', group, '--dry-run'])
    expect(dry.code, dry.stderr).toBe(0)
    const planned = json<ReplayJson>(dry)
    expect(planned.byOriginalTopic).toEqual({orders: 3, payments: 2, '(none)': 1})
    expect(planned.byErrorClass).toEqual({'org.apache.kafka.connect.errors.DataException': 4, 'org.springframework.kafka.support.serializer.DeserializationException': 2})
    expect(planned.byDialect).toEqual({connect: 4, spring: 2})
    expect(planned).toMatchObject({read: 6, replayed: 5, unroutable: 1})

    const refused = await replay(['--dlq', dlq, '--group', group])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(/does not say which topic it came from.*no --to/)
    expect(await readCommitted(scratch)).toEqual([])

    const routed = await replay(['--dlq', dlq, '--group', group, '--to', scratch, '--error-class', 'DataException', '--error-class', 'DeserializationException'])
    expect(routed.code, routed.stderr).toBe(0)
    expect(json<ReplayJson>(routed)).toMatchObject({replayed: 6, skipped: 0})
    const published = await readCommitted(scratch)
    expect(replayedOffsets(published)).toEqual(range(6))
    for (const record of published) {
      expect(Object.keys(record.headers).some((h) => h.startsWith('__connect.errors.') || h.startsWith('kafka_dlt-'))).toBe(false)
      expect(record.headers['kpipe.dlq.attempt']).toBe('1')
    }
    expect(published.find((r) => r.key === 'c-1')!.headers['x-trace']).toBe('t-1')
  })

  it('a filtered replay leaves the records it skips for a later replay, and never repeats the ones it moved', async () => {
    const {dlq, scratch, group} = await scene('e2e-replay-filter')
    const classes: ErrorClass[] = ['decode', 'validation', 'decode', 'schema', 'validation', 'decode', 'validation', 'decode']
    await produce(dlq, kpipeLetters('events', classes.map((errorClass) => ({errorClass}))))
    const decode = classes.flatMap((c, i) => (c === 'decode' ? [i] : []))

    const filtered = json<ReplayJson>(await replay(['--dlq', dlq, '--group', group, '--to', scratch, '--error-class', 'decode']))
    expect(filtered).toMatchObject({replayed: decode.length, skipped: classes.length - decode.length})
    expect(replayedOffsets(await readCommitted(scratch))).toEqual(decode)

    const same = json<ReplayJson>(await replay(['--dlq', dlq, '--group', group, '--to', scratch, '--error-class', 'decode']))
    // It starts at the first skipped record (offset 1); the decode records after it are known done.
    expect(same).toMatchObject({replayed: 0, skipped: classes.length - decode.length, alreadyDone: decode.filter((i) => i > 1).length})
    expect(replayedOffsets(await readCommitted(scratch))).toEqual(decode)

    const rest = json<ReplayJson>(await replay(['--dlq', dlq, '--group', group, '--to', scratch]))
    expect(rest).toMatchObject({replayed: classes.length - decode.length, skipped: 0})
    expect(replayedOffsets(await readCommitted(scratch))).toEqual(range(classes.length))
    expect(await committedOffset(group, dlq)).toBe(classes.length)
  })

  it('exits 2 on bad flags and a missing topic, 3 when Kafka is unreachable', async () => {
    expect((await runCli(['replay-dlq'])).code).toBe(2)
    const rate = await runCli(['replay-dlq', '--dlq', 'x', '--rate', 'fast'])
    expect(rate.code).toBe(2)
    expect(rate.stderr).toMatch(/--rate/)
    const since = await runCli(['replay-dlq', '--dlq', 'x', '--since', 'yesterday'])
    expect(since.code).toBe(2)
    const missing = await runCli(['replay-dlq', '--dlq', uniqueName('e2e-replay-missing'), '--dry-run'])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/does not exist/)
    const down = await runCli(['replay-dlq', '--dlq', 'x', '--brokers', 'localhost:1'])
    expect(down.code).toBe(3)
    expect(down.stderr).toMatch(/Kafka is unreachable/)
  })
})
