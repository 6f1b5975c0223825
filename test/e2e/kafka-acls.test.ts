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

/** kafka-acls.txt's lines for the events worker, renamed to this test's topic and group. */
function eventsWorkerAcls(topic: string, group: string, without?: {name: string; operation: string}): AclLine[] {
  const rename: Record<string, string> = {events: topic, 'events.dlq': `${topic}.dlq`, 'kpipe-events': group}
  return documentedAcls(PRINCIPAL).map((line) => {
    const name = rename[line.name] ?? line.name
    const operations = line.operations.filter((op) => !(without && without.name === name && without.operation === op))
    return {...line, name, operations}
  })
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
