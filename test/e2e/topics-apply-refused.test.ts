/**
 * `kpipe topics apply` refusing a change: exit 1, nothing applied, and under --json the result
 * (what was refused) rather than a bare error, so a CI script reads one document either way.
 */
import {Kafka, logLevel} from 'kafkajs'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {json, runCli, uniqueName, writeConfig} from '../helpers/cli.js'

const brokers = (process.env.KPIPE_BROKERS ?? 'localhost:9092').split(',')
const kafka = new Kafka({clientId: 'kpipe-e2e-refused', brokers, logLevel: logLevel.NOTHING})

describe('kpipe topics apply: a refused change', () => {
  const topic = uniqueName('e2e-refused')
  const other = uniqueName('e2e-refused-new')

  beforeAll(async () => {
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({waitForLeaders: true, topics: [{topic, numPartitions: 3, replicationFactor: 1}]})
    await admin.disconnect()
  })

  afterAll(async () => {
    const admin = kafka.admin()
    await admin.connect()
    await admin.deleteTopics({topics: [topic, other]}).catch(() => undefined)
    await admin.disconnect()
  })

  it('prints the refused result under --json, exits 1 and creates nothing of the same plan', async () => {
    // Every default topic taken out of management, so only these two are planned.
    const file = writeConfig(
      ['topics:', '  events: ~', '  logs: ~', '  analytics: ~', '  events.dlq: ~', '  logs.dlq: ~', '  analytics.dlq: ~', `  ${topic}: {partitions: 1}`, `  ${other}: {partitions: 2}`, ''].join('\n'),
    )
    const result = await runCli(['topics', 'apply', '--json'], {env: {KPIPE_CONFIG: file}})
    expect(result.code, result.stderr).toBe(1)
    const body = json<{changed: boolean; applied: unknown[]; refusals: {topic: string; kind: string}[]; plan: {kind: string; topic: string}[]; error?: unknown}>(result)
    expect(body.error).toBeUndefined()
    expect(body.changed).toBe(false)
    expect(body.applied).toEqual([])
    expect(body.refusals).toEqual([expect.objectContaining({topic, kind: 'partition-decrease'})])
    expect(body.plan).toEqual(expect.arrayContaining([expect.objectContaining({kind: 'create', topic: other})]))
    const admin = kafka.admin()
    await admin.connect()
    const names = await admin.listTopics()
    await admin.disconnect()
    expect(names).not.toContain(other)
  })
})
