/**
 * `kpipe produce` end to end: the built CLI publishes to a topic of its own on the stack's
 * broker, and a plain kafkajs consumer reads back what the events worker would read.
 */
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {Kafka, logLevel, type KafkaMessage} from 'kafkajs'
import {afterAll, describe, expect, it} from 'vitest'

import {decodeEventRecord} from '../../src/lib/records/decode.js'
import type {EventEnvelope} from '../../src/lib/records/envelope.js'
import {json, runCli, uniqueName} from '../helpers/cli.js'

interface ProduceJson {
  topic: string
  produced: number
  rejected: number
  encoding: string
  errors: {line: number; message: string}[]
}

const brokers = (process.env.KPIPE_BROKERS ?? 'localhost:9092').split(',')
const kafka = new Kafka({clientId: 'kpipe-e2e-produce', brokers, logLevel: logLevel.NOTHING})
const ndjson = (...lines: unknown[]) => lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n'
const event = (key: string, extra: Record<string, unknown> = {}) => ({type: 'user.signup', source: 'accounts', key, payload: {plan: 'pro'}, ...extra})

async function readAll(topic: string, expected: number): Promise<{partition: number; message: KafkaMessage}[]> {
  const consumer = kafka.consumer({groupId: uniqueName('e2e-produce-reader')})
  const seen: {partition: number; message: KafkaMessage}[] = []
  await consumer.connect()
  try {
    await consumer.subscribe({topic, fromBeginning: true})
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${seen.length} of ${expected} records`)), 30_000)
      void consumer.run({
        eachMessage: async ({partition, message}) => {
          seen.push({partition, message})
          if (seen.length >= expected) {
            clearTimeout(timer)
            resolve()
          }
        },
      })
    })
  } finally {
    await consumer.disconnect()
  }
  return seen
}

// Each test publishes to a topic of its own: none reads what another one wrote.
const topics: string[] = []
async function freshTopic(): Promise<string> {
  const topic = uniqueName('e2e-produce')
  topics.push(topic)
  const created = await runCli(['topic', 'create', topic, '--partitions', '3', '--json'])
  expect(created.code, created.stderr).toBe(0)
  return topic
}

const stdinLines = () => ndjson(event('user-1', {eventId: 'e2e-1', correlationId: 'corr-1'}), event('user-2'), 'not json', '', event('user-1', {eventId: 'e2e-3'}))
function avroFile(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'kpipe-produce-'))
  const file = path.join(dir, 'events.ndjson')
  writeFileSync(file, ndjson(event('user-3', {eventId: 'e2e-avro-1', occurredAt: '2024-05-01T12:00:00.000Z'}), event('user-1', {eventId: 'e2e-avro-2'})))
  return file
}

describe('kpipe produce', () => {
  afterAll(async () => {
    const admin = kafka.admin()
    await admin.connect()
    await admin.deleteTopics({topics}).catch(() => undefined)
    await admin.disconnect()
  })

  it('publishes valid lines from stdin, rejects the invalid one by line number, and exits 1', async () => {
    const topic = await freshTopic()
    const result = await runCli(['produce', '--topic', topic, '--json'], {input: stdinLines()})
    expect(result.code, result.stderr).toBe(1)
    expect(json<ProduceJson>(result)).toEqual({
      topic,
      produced: 3,
      rejected: 1,
      encoding: 'json',
      errors: [{line: 3, message: expect.stringMatching(/^not valid JSON/)}],
    })
  })

  it('publishes Avro from a file and exits 0', async () => {
    const topic = await freshTopic()
    const result = await runCli(['produce', '--topic', topic, '--file', avroFile(), '--encoding', 'avro'])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toBe('')
    expect(result.stderr).toContain(`Published 2 events to ${topic} (avro).`)
  })

  it('writes records the events worker decodes, keyed by entity, one partition per key', async () => {
    const topic = await freshTopic()
    const before = Date.now()
    expect((await runCli(['produce', '--topic', topic], {input: stdinLines()})).code).toBe(1) // the invalid line
    const after = Date.now()
    expect((await runCli(['produce', '--topic', topic, '--file', avroFile(), '--encoding', 'avro'])).code).toBe(0)
    const records = await readAll(topic, 5)
    const decoded = records.map(({partition, message}) => {
      const result = decodeEventRecord(message.value, {maxBytes: 1 << 20})
      if (!result.ok) throw new Error(result.message)
      return {partition, kafkaKey: message.key?.toString(), encoding: result.encoding, event: result.event as EventEnvelope}
    })
    expect(decoded).toHaveLength(5)
    for (const d of decoded) expect(d.kafkaKey).toBe(d.event.key)
    expect(decoded.filter((d) => d.encoding === 'avro').map((d) => d.event.eventId).sort()).toEqual(['e2e-avro-1', 'e2e-avro-2'])
    expect(new Set(decoded.filter((d) => d.event.key === 'user-1').map((d) => d.partition)).size).toBe(1)

    const first = decoded.find((d) => d.event.eventId === 'e2e-1')!.event
    expect(first).toMatchObject({type: 'user.signup', source: 'accounts', key: 'user-1', correlationId: 'corr-1', schemaVersion: 1, payload: {plan: 'pro'}})
    const filled = decoded.find((d) => d.event.key === 'user-2')!.event
    expect(filled.eventId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    // Filled with the time it was published: while the command ran, however long that took.
    expect(Date.parse(filled.occurredAt)).toBeGreaterThanOrEqual(before)
    expect(Date.parse(filled.occurredAt)).toBeLessThanOrEqual(after)
    // Within a key, input order is kept.
    const user1 = decoded.filter((d) => d.event.key === 'user-1').map((d) => d.event.eventId)
    expect(user1).toEqual(['e2e-1', 'e2e-3', 'e2e-avro-2'])
  })

  it('exits 2 naming a topic that does not exist', async () => {
    const result = await runCli(['produce', '--topic', uniqueName('e2e-missing'), '--json'], {input: ndjson(event('k'))})
    expect(result.code).toBe(2)
    expect(json<{error: {message: string; hint: string}}>(result).error).toMatchObject({
      message: expect.stringMatching(/^The topic e2e-missing-\S+ does not exist\.$/),
      hint: expect.stringContaining('kpipe topics apply'),
    })
  })

  it('exits 3 when Kafka is unreachable, with one sentence', async () => {
    const result = await runCli(['produce', '--topic', uniqueName('e2e-produce'), '--brokers', '127.0.0.1:1'], {input: ndjson(event('k'))})
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(/^Error: Kafka is unreachable/m)
  })

  it('exits 2 for a file that cannot be read', async () => {
    const topic = await freshTopic()
    const result = await runCli(['produce', '--topic', topic, '--file', '/nonexistent/events.ndjson'])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('The file /nonexistent/events.ndjson cannot be read')
  })
})
