/**
 * Declarative topics end to end: the built CLI against the real broker of ./scripts/stack.
 * Topics of each case carry a unique prefix; the default pipeline topics are shared and only
 * ever applied (idempotently).
 */
import {execFile} from 'node:child_process'
import {writeFileSync} from 'node:fs'
import {promisify} from 'node:util'

import {Kafka, logLevel} from 'kafkajs'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {binRun, json, repoRoot, runCli, uniqueName as cliUniqueName, writeConfig} from '../helpers/cli.js'

const execFileAsync = promisify(execFile)

// Every topic a test makes is deleted after the file (the pipeline defaults are shared: kept).
const created: string[] = []
function uniqueName(prefix: string): string {
  const name = cliUniqueName(prefix)
  created.push(name)
  return name
}
afterAll(async () => {
  const kafka = new Kafka({clientId: 'kpipe-e2e-topics', brokers: (process.env.KPIPE_BROKERS ?? 'localhost:9092').split(','), logLevel: logLevel.NOTHING})
  const admin = kafka.admin()
  await admin.connect()
  try {
    const existing = new Set(await admin.listTopics())
    const topics = created.filter((name) => existing.has(name))
    if (topics.length > 0) await admin.deleteTopics({topics})
  } finally {
    await admin.disconnect()
  }
})

interface PlanJson {
  inSyncWithFile: boolean
  brokers: number
  actions: {kind: string; topic: string; changes?: {key: string; from: string | null; to: string}[]; from?: number; to?: number}[]
  refusals: {topic: string; kind: string}[]
  inSync: string[]
  unmanaged: string[]
}
interface DescribeJson {
  name: string
  replicationFactor: number
  partitions: {partition: number; leader: number; isr: number[]; earliestOffset: string; latestOffset: string}[]
  configs: {name: string; value: string | null; source: string}[]
}

const configValue = (topic: DescribeJson, name: string) => topic.configs.find((c) => c.name === name)

/** A kpipe.yaml that manages only the given topics (the pipeline defaults switched off). */
function isolatedConfig(topics: string): string {
  return `topics:\n  events: ~\n  logs: ~\n  analytics: ~\n  events.dlq: ~\n  logs.dlq: ~\n  analytics.dlq: ~\n${topics}`
}

describe('kpipe topics (real broker)', () => {
  let brokers = 1

  beforeAll(async () => {
    const result = await runCli(['topics', 'apply', '--json'])
    expect(result.code, result.stderr).toBe(0)
    const plan = json<PlanJson>(await runCli(['topics', 'plan', '--json']))
    brokers = plan.brokers
  })

  it('applies the pipeline defaults: events keeps 7 days, and a second apply changes nothing', async () => {
    const events = json<DescribeJson>(await runCli(['topics', 'describe', 'events', '--json']))
    expect(configValue(events, 'retention.ms')).toMatchObject({value: '604800000', source: 'topic'})
    expect(events.partitions.length).toBeGreaterThanOrEqual(6)
    expect(events.replicationFactor).toBe(Math.min(3, brokers))
    expect(configValue(events, 'min.insync.replicas')?.value).toBe(brokers >= 3 ? '2' : '1')

    const logs = json<DescribeJson>(await runCli(['topics', 'describe', 'logs', '--json']))
    expect(configValue(logs, 'retention.ms')?.value).toBe('2592000000')
    const analytics = json<DescribeJson>(await runCli(['topics', 'describe', 'analytics', '--json']))
    expect(configValue(analytics, 'retention.ms')?.value).toBe('259200000')

    const again = await runCli(['topics', 'apply'])
    expect(again.code).toBe(0)
    expect(again.stdout).toContain('No changes.')
    const plan = await runCli(['topics', 'plan', '--json'])
    expect(plan.code).toBe(0)
    expect(json<PlanJson>(plan).inSyncWithFile).toBe(true)
  })

  it('detects an edited retention, applies exactly that change, and leaves other configs alone', async () => {
    const name = uniqueName('e2e-topics')
    const file = writeConfig(isolatedConfig(`  ${name}:\n    partitions: 2\n    retention: 2d\n    config: {cleanup.policy: delete, segment.ms: 3600000}\n`))
    expect((await runCli(['topics', 'apply', '--config', file])).code).toBe(0)
    expect((await runCli(['topics', 'plan', '--config', file])).code).toBe(0)

    writeFileSync(file, isolatedConfig(`  ${name}:\n    partitions: 2\n    retention: 5d\n    config: {cleanup.policy: delete, segment.ms: 3600000}\n`))
    const plan = await runCli(['topics', 'plan', '--config', file, '--json'])
    expect(plan.code).toBe(1)
    const planned = json<PlanJson>(plan)
    expect(planned.actions).toEqual([
      expect.objectContaining({kind: 'alter-configs', topic: name, changes: [{key: 'retention.ms', from: '172800000', to: '432000000'}]}),
    ])
    const human = await runCli(['topics', 'plan', '--config', file])
    expect(human.stdout).toContain(`~ config ${name}: retention.ms 172800000 (2d) → 432000000 (5d)`)

    const applied = await runCli(['topics', 'apply', '--config', file, '--json'])
    expect(applied.code, applied.stderr).toBe(0)
    expect(json<{changed: boolean}>(applied).changed).toBe(true)

    const topic = json<DescribeJson>(await runCli(['topics', 'describe', name, '--json']))
    expect(configValue(topic, 'retention.ms')?.value).toBe('432000000')
    // kafkajs' AlterConfigs replaces the whole set: the configs not edited must survive it.
    expect(configValue(topic, 'segment.ms')).toMatchObject({value: '3600000', source: 'topic'})
    expect(configValue(topic, 'cleanup.policy')).toMatchObject({value: 'delete', source: 'topic'})
    expect((await runCli(['topics', 'plan', '--config', file])).code).toBe(0)
  })

  it('raises partitions, and refuses a decrease without changing anything', async () => {
    const name = uniqueName('e2e-partitions')
    const file = writeConfig(isolatedConfig(`  ${name}:\n    partitions: 2\n    retention: 1d\n`))
    expect((await runCli(['topics', 'apply', '--config', file])).code).toBe(0)

    writeFileSync(file, isolatedConfig(`  ${name}:\n    partitions: 4\n    retention: 1d\n`))
    const raised = await runCli(['topics', 'apply', '--config', file])
    expect(raised.code, raised.stderr).toBe(0)
    expect(raised.stdout).toContain(`~ partitions ${name}: 2 → 4`)

    writeFileSync(file, isolatedConfig(`  ${name}:\n    partitions: 3\n    retention: 3d\n`))
    const refused = await runCli(['topics', 'apply', '--config', file])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/Refusing to apply: .* has 4 partitions and the file asks for 3/)
    const topic = json<DescribeJson>(await runCli(['topics', 'describe', name, '--json']))
    expect(topic.partitions).toHaveLength(4)
    // The retention change in the same plan was not applied either: nothing is half-applied.
    expect(configValue(topic, 'retention.ms')?.value).toBe('86400000')
  })

  it('reports an unmanaged topic, and counts it as drift with --strict (exit 1)', async () => {
    const managed = uniqueName('e2e-managed')
    const unmanaged = uniqueName('e2e-unmanaged')
    const file = writeConfig(isolatedConfig(`  ${managed}:\n    partitions: 1\n    retention: 1d\n`))
    expect((await runCli(['topics', 'apply', '--config', file])).code).toBe(0)
    const made = await runCli(['topic', 'create', unmanaged, '--partitions', '1'])
    expect(made.code, made.stderr).toBe(0)

    const lenient = await runCli(['topics', 'plan', '--config', file, '--json'])
    expect(lenient.code, lenient.stderr).toBe(0)
    const plan = json<PlanJson>(lenient)
    expect(plan.inSyncWithFile).toBe(true)
    expect(plan.unmanaged).toContain(unmanaged)
    expect(plan.refusals).toEqual([])

    const strict = await runCli(['topics', 'plan', '--config', file, '--strict', '--json'])
    expect(strict.code).toBe(1)
    const strictPlan = json<PlanJson>(strict)
    expect(strictPlan.inSyncWithFile).toBe(false)
    expect(strictPlan.refusals).toContainEqual(expect.objectContaining({topic: unmanaged, kind: 'unmanaged-topic'}))
    expect(strictPlan.refusals.map((r) => r.topic)).not.toContain(managed)
    const human = await runCli(['topics', 'plan', '--config', file, '--strict'])
    expect(human.code).toBe(1)
    expect(human.stdout).toContain(`! refused ${unmanaged}:`)
  })

  it('rejects a config Kafka does not know before changing anything', async () => {
    const name = uniqueName('e2e-badconfig')
    const file = writeConfig(isolatedConfig(`  ${name}:\n    partitions: 1\n    config: {retention.msx: 5}\n`))
    const result = await runCli(['topics', 'apply', '--config', file])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/Kafka rejected the topic configuration/)
    const described = await runCli(['topics', 'describe', name])
    expect(described.code).toBe(2)
  })

  it('creates a topic imperatively and lists it', async () => {
    const name = uniqueName('e2e-create')
    const created = await runCli(['topic', 'create', name, '--partitions', '3', '--retention', '12h', '--config', 'cleanup.policy=compact', '--json'])
    expect(created.code, created.stderr).toBe(0)
    const topic = json<DescribeJson>(await runCli(['topics', 'describe', name, '--json']))
    expect(topic.partitions).toHaveLength(3)
    expect(configValue(topic, 'retention.ms')?.value).toBe('43200000')
    expect(configValue(topic, 'cleanup.policy')?.value).toBe('compact')

    const again = await runCli(['topic', 'create', name])
    expect(again.code).toBe(2)
    expect(again.stderr).toContain(`Topic "${name}" already exists.`)
    expect((await runCli(['topic', 'create', name, '--if-not-exists'])).code).toBe(0)

    const list = json<{topics: {name: string; partitions: number}[]}>(await runCli(['topics', 'list', '--json']))
    expect(list.topics).toContainEqual(expect.objectContaining({name, partitions: 3}))
  })

  it('stops quietly with exit 0 when its reader closes the pipe early (kpipe … | head)', async () => {
    const {stdout, stderr} = await execFileAsync('bash', ['-c', `set -o pipefail; '${process.execPath}' '${binRun}' topics plan --help | head -1`], {cwd: repoRoot})
    expect(stdout).toMatch(/^Show how the cluster differs/)
    expect(stderr).toBe('')
  })

  it('prints nothing on stderr under a developer\'s NODE_ENV (oclif looks for TypeScript sources in development and test)', async () => {
    for (const NODE_ENV of ['development', 'test']) {
      const result = await runCli(['topics', 'list'], {env: {NODE_ENV}})
      expect(result.code, result.stderr).toBe(0)
      expect(result.stderr).toBe('')
    }
  })
})

describe('kpipe answers bad input with one sentence and the documented exit code', () => {
  it('an unknown flag → 2', async () => {
    const result = await runCli(['topics', 'plan', '--bogus'])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('Error: Nonexistent flag: --bogus')
    expect(result.stderr).not.toMatch(/\n\s+at /)
  })

  it('an unknown command → 2 with a suggestion', async () => {
    const result = await runCli(['topics', 'pln'])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('did you mean "topics plan"')
  })

  it('--retention 7x → 2', async () => {
    const result = await runCli(['topic', 'create', 'whatever', '--retention', '7x'])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('Error: --retention: "7x" is not a duration')
    expect(result.stderr).not.toMatch(/\n\s+at /)
  })

  it('a misspelt key in kpipe.yaml → 2, naming the key and the file', async () => {
    const file = writeConfig('kafka:\n  brokerz: [localhost:9092]\n')
    const result = await runCli(['topics', 'plan', '--config', file, '--json'])
    expect(result.code).toBe(2)
    expect(json<{error: {message: string}}>(result).error.message).toBe(`${file}: unknown key "kafka.brokerz"; check its spelling against the configuration reference.`)
  })

  it('brokers that do not answer → 3, one sentence', async () => {
    const result = await runCli(['topics', 'list', '--brokers', 'localhost:1'])
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(/^Error: Kafka is unreachable \(.*ECONNREFUSED.*\)\.$/m)
    expect(result.stderr).not.toMatch(/\n\s+at /)
  })

  it('a topic that does not exist → 2', async () => {
    const result = await runCli(['topics', 'describe', uniqueName('no-such-topic')])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/^Error: Topic ".*" does not exist\.$/m)
  })

  it('config show redacts secrets and names sources', async () => {
    const result = await runCli(['config', 'show', '--json'], {
      env: {KPIPE_KAFKA_SASL_MECHANISM: 'plain', KPIPE_KAFKA_USERNAME: 'u', KPIPE_KAFKA_PASSWORD: 'hunter2', KPIPE_PG_URL: 'postgres://u:pw@db:5432/x'},
    })
    expect(result.code).toBe(0)
    expect(result.stdout).not.toContain('hunter2')
    const shown = json<{values: {key: string; value: unknown; source: string}[]}>(result)
    expect(shown.values).toContainEqual({key: 'postgres.url', value: 'postgres://u:***@db:5432/x', source: 'env KPIPE_PG_URL'})
  })
})
