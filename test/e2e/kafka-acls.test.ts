/**
 * Authorization on the secure stack (StandardAuthorizer, scripts/stack.d/kafka-acls.txt): the
 * events worker under its least-privilege SCRAM principal works on the SASL_SSL listener with
 * exactly the documented ACLs (granted here for a topic and group of this test's own), and
 * without one of them stops at once with one sentence naming the missing permission, exit 3,
 * having committed nothing past what it stored.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type pg from 'pg'

import {json, runCli} from '../helpers/cli.js'
import {documentedAcls, grant, principalEnv, type AclLine} from '../helpers/secure-stack.js'
import {
  committedTotal,
  createTopics,
  deleteRows,
  deleteTopics,
  eventMessage,
  makeEvents,
  pgPool,
  produce,
  readTopic,
  rowCounts,
  uniqueName,
} from '../integration/workers/helpers.js'

const PRINCIPAL = 'User:kpipe-events'

/** kafka-acls.txt's lines for a principal, with the pipeline's names replaced by a test's own. */
function aclsFor(principal: string, topic: string, group: string, without?: {name: string; operation: string}, base = 'events'): AclLine[] {
  const rename: Record<string, string> = {[base]: topic, [`${base}.dlq`]: `${topic}.dlq`, [`${base}.dlq.parked`]: `${topic}.dlq.parked`, [`kpipe-${base}`]: group}
  return documentedAcls(principal).map((line) => {
    const name = rename[line.name] ?? line.name
    const operations = line.operations.filter((op) => !(without && without.name === name && without.operation === op))
    return {...line, name, operations}
  })
}

function eventsWorkerAcls(topic: string, group: string, without?: {name: string; operation: string}): AclLine[] {
  return aclsFor(PRINCIPAL, topic, group, without)
}

interface Summary {
  consumed: number
  written: number
  deadLettered: number
}

describe('kpipe worker events under a least-privilege principal (ACLs)', () => {
  let env: Record<string, string>
  let pool: pg.Pool
  const topics: string[] = []
  const revokes: (() => Promise<void>)[] = []

  beforeAll(async () => {
    env = {...(await principalEnv('kpipe-events')), KPIPE_METRICS_PORT: '0'}
    pool = await pgPool()
  })

  afterAll(async () => {
    for (const revoke of revokes) await revoke()
    for (const topic of topics) {
      await deleteRows(pool, topic)
      await deleteTopics(topic)
    }
    await pool?.end()
  })

  /** A topic of 1 partition: 5 events, 1 poison record, 5 events. */
  async function newTopic(prefix: string): Promise<{topic: string; group: string; events: number}> {
    const topic = uniqueName(prefix)
    topics.push(topic)
    await createTopics(topic, 1)
    const events = makeEvents(10, topic).map(eventMessage)
    await produce(topic, [...events.slice(0, 5), {key: 'poison', value: '{"not json'}, ...events.slice(5)])
    return {topic, group: `${topic}-g`, events: 10}
  }

  function runWorker(topic: string, group: string) {
    return runCli(['worker', 'events', '--topic', topic, '--group', group, '--from-beginning', '--stop-when-caught-up', '--no-projections', '--json'], {env, timeoutMs: 60_000})
  }

  it('works end to end with exactly the documented ACLs', async () => {
    const {topic, group} = await newTopic('e2e-acl-ok')
    revokes.push(await grant(eventsWorkerAcls(topic, group)))
    const result = await runWorker(topic, group)
    expect(result.code, result.stderr.slice(-2000)).toBe(0)
    expect(json<Summary>(result)).toMatchObject({consumed: 11, written: 10, deadLettered: 1})
    expect((await rowCounts(pool, topic)).rows).toBe(10)
    expect(await readTopic(`${topic}.dlq`)).toHaveLength(1)
    expect(await committedTotal(group, topic)).toBe(11)
  })

  const missing: {what: string; operation: string; resource: (t: string, g: string) => string; sentence: (t: string, g: string) => RegExp}[] = [
    {what: 'READ on its topic', operation: 'Read', resource: (t) => t, sentence: (t) => new RegExp(`^Error: Kafka refused .*READ on topic ${t}\\b[^\\n]*\\.$`, 'm')},
    {what: 'READ on its group', operation: 'Read', resource: (_t, g) => g, sentence: (_t, g) => new RegExp(`^Error: Kafka refused .*READ on (consumer )?group ${g}\\b[^\\n]*\\.$`, 'm')},
    {what: 'WRITE on its dead-letter topic', operation: 'Write', resource: (t) => `${t}.dlq`, sentence: (t) => new RegExp(`^Error: Kafka refused .*WRITE on topic ${t}\\.dlq\\b[^\\n]*\\.$`, 'm')},
  ]

  for (const {what, operation, resource, sentence} of missing) {
    it(`without ${what}: one sentence naming it, exit 3, nothing committed past what was stored`, async () => {
      const {topic, group} = await newTopic('e2e-acl-deny')
      const acls = eventsWorkerAcls(topic, group, {name: resource(topic, group), operation})
      revokes.push(await grant(acls))
      const result = await runWorker(topic, group)
      expect(result.code, result.stderr.slice(-2000)).toBe(3)
      const errors = result.stderr.split('\n').filter((line) => line.startsWith('Error: '))
      expect(errors, result.stderr.slice(-2000)).toHaveLength(1)
      expect(errors[0]).toMatch(sentence(topic, group))
      // No retry storm: the worker gave up at the first refusal, not after kafkajs' retries.
      expect(result.stderr.match(/AUTHORIZATION_FAILED|not authori[sz]ed/gi)?.length ?? 0).toBeLessThan(10)
      // Nothing committed past what was stored: every committed offset has its row.
      const committed = await committedTotal(group, topic)
      const stored = (await rowCounts(pool, topic)).rows
      expect(committed).toBeLessThanOrEqual(Math.min(stored, 5))
      // Lose nothing: with the permission granted, the same group accounts for every record.
      revokes.push(await grant(eventsWorkerAcls(topic, group)))
      const again = await runWorker(topic, group)
      expect(again.code, again.stderr.slice(-2000)).toBe(0)
      expect((await rowCounts(pool, topic)).rows).toBe(10)
      expect(await readTopic(`${topic}.dlq`)).toHaveLength(1)
      expect(await committedTotal(group, topic)).toBe(11)
    })
  }
})

describe('the pipeline under its least-privilege principals (kafka-acls.txt)', () => {
  let pool: pg.Pool
  const topic = uniqueName('e2e-acl-pipeline')
  const group = `${topic}-g`
  const revokes: (() => Promise<void>)[] = []

  beforeAll(async () => {
    pool = await pgPool()
    await createTopics(topic, 2)
    for (const principal of ['User:kpipe-producer', 'User:kpipe-events', 'User:kpipe-replay', 'User:kpipe-monitor']) revokes.push(await grant(aclsFor(principal, topic, group)))
  })

  afterAll(async () => {
    for (const revoke of revokes) await revoke()
    if (!pool) return
    await deleteRows(pool, topic)
    await deleteTopics(topic)
    await deleteTopics(`${topic}.dlq.parked`)
    await pool.end()
  })

  async function as(user: string, args: string[], input?: string) {
    const result = await runCli(args, {env: {...(await principalEnv(user)), KPIPE_METRICS_PORT: '0'}, input, timeoutMs: 60_000})
    expect(result.code, `${user} ${args.join(' ')}: ${result.stderr.slice(-2000)}`).toBe(0)
    return result
  }

  it('produce, worker, integrity, replay-dlq, lag, health and topics list each work under their own principal', async () => {
    const events = makeEvents(20, topic).map((m) => JSON.stringify(m))
    const produced = await as('kpipe-producer', ['produce', '--topic', topic, '--json'], events.join('\n') + '\n')
    expect(produced.stdout).toMatch(/"produced":\s*20\b/)
    // A poison record, from the plain listener (kpipe produce validates what it sends).
    await produce(topic, [{key: 'poison', value: '{"not json'}])
    expect((await rowCounts(pool, topic)).rows).toBe(0)
    const worker = await as('kpipe-events', ['worker', 'events', '--topic', topic, '--group', group, '--from-beginning', '--stop-when-caught-up', '--no-projections', '--json'])
    expect(json<Summary>(worker)).toMatchObject({consumed: 21, written: 20, deadLettered: 1})
    const integrity = await as('kpipe-monitor', ['integrity', '--sink', 'postgres', '--topic', topic, '--group', group, '--json'])
    expect(json<{ok: boolean; sinks: {rows: number; deadLetters: number; missingOffsets: number}[]}>(integrity)).toMatchObject({ok: true, sinks: [{rows: 20, deadLetters: 1, missingOffsets: 0}]})
    await as('kpipe-monitor', ['lag', '--group', group, '--json'])
    await as('kpipe-monitor', ['health', '--topic', topic, '--json'])
    const listed = await as('kpipe-monitor', ['topics', 'list', '--json'])
    expect(json<{topics: {name: string}[]}>(listed).topics.map((t) => t.name)).toContain(topic)
    const replay = await as('kpipe-replay', ['replay-dlq', '--dlq', `${topic}.dlq`, '--json'])
    expect(replay.stdout).toMatch(/"replayed":\s*1\b/)
  })

  it('replay-dlq without WRITE on its transactional id, and topic create without CREATE: one sentence each, exit 3', async () => {
    const dlq = `${topic}.dlq`
    // A progress group outside the stack's prefix kpipe-replay., granted READ but no transactional id.
    const replayGroup = `${topic}-replay`
    revokes.push(await grant([{principal: 'User:kpipe-replay', resourceType: 'group', pattern: 'literal', name: replayGroup, operations: ['Read', 'Describe']}]))
    await produce(dlq, [{key: 'k', value: 'a dead letter without headers'}])
    const env = {...(await principalEnv('kpipe-replay')), KPIPE_METRICS_PORT: '0'}
    const replay = await runCli(['replay-dlq', '--dlq', dlq, '--group', replayGroup], {env, timeoutMs: 60_000})
    expect(replay.code, replay.stderr).toBe(3)
    // kafkajs reports the refusal as a coordinator not found: the sentence names the ACL all the same.
    expect(replay.stderr).toMatch(new RegExp(`^Error: Kafka .*User:kpipe-replay lacks WRITE on transactional id ${replayGroup}\\.txn\\b[^\\n]*\\.$`, 'm'))
    expect(replay.stderr.split('\n').filter((line) => line.startsWith('Error: '))).toHaveLength(1)

    const created = uniqueName('e2e-acl-create')
    const create = await runCli(['topic', 'create', created, '--partitions', '1'], {env: await principalEnv('kpipe-monitor'), timeoutMs: 60_000})
    expect(create.code, create.stderr).toBe(3)
    expect(create.stderr).toMatch(new RegExp(`^Error: Kafka refused .*\\(TOPIC_AUTHORIZATION_FAILED\\): it lacks CREATE on topic ${created}\\.$`, 'm'))
  })

  it('the logs and analytics workers work under their own principals', async () => {
    for (const worker of ['logs', 'analytics']) {
      const own = uniqueName(`e2e-acl-${worker}`)
      await createTopics(own, 1)
      try {
        revokes.push(await grant(aclsFor(`User:kpipe-${worker}`, own, `${own}-g`, undefined, worker)))
        await produce(own, makeEvents(5, own).map(eventMessage))
        const result = await as(`kpipe-${worker}`, ['worker', worker, '--topic', own, '--group', `${own}-g`, '--from-beginning', '--stop-when-caught-up', '--json'])
        expect(json<Summary>(result)).toMatchObject({consumed: 5, written: 5, deadLettered: 0})
      } finally {
        await pool.query('DELETE FROM pipeline.logs WHERE kafka_topic = $1', [own])
        await deleteTopics(own)
      }
    }
  })
})
