import {describe, expect, it} from 'vitest'

import {DEFAULT_TOPICS} from '../../../src/lib/config.js'
import {
  type ActualTopic,
  configChanges,
  defaultMinInsyncReplicas,
  defaultReplicationFactor,
  desiredTopic,
  desiredTopics,
  displayConfigValue,
  fullConfigSet,
  planHasDrift,
  planTopics,
  renderPlan,
  summarizePlan,
} from '../../../src/lib/topics/topic-plan.js'

const DAY = 86_400_000

function actual(name: string, partitions: number, replicationFactor: number, overrides: Record<string, string> = {}, defaults: Record<string, string> = {}): ActualTopic {
  const configs: ActualTopic['configs'] = {}
  for (const [k, v] of Object.entries(defaults)) configs[k] = {value: v, isTopicOverride: false}
  for (const [k, v] of Object.entries(overrides)) configs[k] = {value: v, isTopicOverride: true}
  return {name, partitions, replicationFactor, configs}
}

describe('replication defaults', () => {
  it.each([
    [1, 1],
    [2, 2],
    [3, 3],
    [5, 3],
    [0, 1],
  ])('with %i brokers the replication factor is %i', (brokers, rf) => {
    expect(defaultReplicationFactor(brokers)).toBe(rf)
  })
  it.each([
    [1, 1],
    [2, 1],
    [3, 2],
    [5, 2],
  ])('RF %i gets min.insync.replicas %i', (rf, isr) => {
    expect(defaultMinInsyncReplicas(rf)).toBe(isr)
  })
})

describe('desiredTopics', () => {
  it('turns the pipeline defaults into DESIGN §1 on one broker', () => {
    const topics = desiredTopics(DEFAULT_TOPICS, 1)
    expect(topics.map((t) => t.name)).toEqual(['analytics', 'analytics.dlq', 'events', 'events.dlq', 'logs', 'logs.dlq'])
    const events = topics.find((t) => t.name === 'events')!
    expect(events).toEqual({
      name: 'events',
      partitions: 6,
      replicationFactor: 1,
      configs: {'min.insync.replicas': '1', 'retention.ms': String(7 * DAY)},
    })
    expect(topics.find((t) => t.name === 'logs')!.configs['retention.ms']).toBe(String(30 * DAY))
    expect(topics.find((t) => t.name === 'analytics')!.configs['retention.ms']).toBe(String(3 * DAY))
    expect(topics.find((t) => t.name === 'events.dlq')!.partitions).toBe(1)
  })

  it('uses RF 3 and min ISR 2 on three brokers', () => {
    const events = desiredTopics(DEFAULT_TOPICS, 3).find((t) => t.name === 'events')!
    expect(events.replicationFactor).toBe(3)
    expect(events.configs['min.insync.replicas']).toBe('2')
  })

  it('lets explicit config win over derived values', () => {
    const topic = desiredTopic('t', {partitions: 2, replicationFactor: 3, retentionMs: 1000, retentionBytes: 2048, config: {'min.insync.replicas': '3', 'retention.ms': '5'}}, 3)
    expect(topic.configs).toEqual({'min.insync.replicas': '3', 'retention.ms': '5', 'retention.bytes': '2048'})
  })

  it('defaults a topic without partitions to one partition', () => {
    expect(desiredTopic('t', {config: {}}, 1).partitions).toBe(1)
  })
})

describe('planTopics', () => {
  const want = desiredTopic('events', {partitions: 6, retentionMs: 7 * DAY, config: {}}, 1)

  it('creates a missing topic with its configs', () => {
    const plan = planTopics([want], new Map())
    expect(plan.actions).toEqual([
      {kind: 'create', topic: 'events', partitions: 6, replicationFactor: 1, configs: {'min.insync.replicas': '1', 'retention.ms': String(7 * DAY)}},
    ])
    expect(plan.refusals).toEqual([])
    expect(plan.inSync).toEqual([])
    expect(planHasDrift(plan)).toBe(true)
  })

  it('finds nothing to do when the cluster matches', () => {
    const cluster = new Map([['events', actual('events', 6, 1, {'retention.ms': String(7 * DAY)}, {'min.insync.replicas': '1'})]])
    const plan = planTopics([want], cluster)
    expect(plan.actions).toEqual([])
    expect(plan.inSync).toEqual(['events'])
    expect(planHasDrift(plan)).toBe(false)
    expect(summarizePlan(plan)).toBe('No changes: 1 topics match the file.')
  })

  it('treats a broker default equal to the wanted value as in sync', () => {
    const cluster = new Map([['events', actual('events', 6, 1, {}, {'retention.ms': String(7 * DAY), 'min.insync.replicas': '1'})]])
    expect(planTopics([want], cluster).actions).toEqual([])
  })

  it('raises partitions', () => {
    const cluster = new Map([['events', actual('events', 3, 1, {'retention.ms': String(7 * DAY), 'min.insync.replicas': '1'})]])
    expect(planTopics([want], cluster).actions).toEqual([{kind: 'add-partitions', topic: 'events', from: 3, to: 6}])
  })

  it('refuses a partition decrease and plans nothing for partitions', () => {
    const cluster = new Map([['events', actual('events', 12, 1, {'retention.ms': String(7 * DAY), 'min.insync.replicas': '1'})]])
    const plan = planTopics([want], cluster)
    expect(plan.actions).toEqual([])
    expect(plan.refusals).toHaveLength(1)
    expect(plan.refusals[0]!.kind).toBe('partition-decrease')
    expect(plan.refusals[0]!.reason).toContain('12 partitions')
    expect(planHasDrift(plan)).toBe(true)
    expect(plan.inSync).toEqual([])
  })

  it('refuses a replication factor change', () => {
    const cluster = new Map([['events', actual('events', 6, 3, {'retention.ms': String(7 * DAY), 'min.insync.replicas': '1'})]])
    const plan = planTopics([want], cluster)
    expect(plan.refusals.map((r) => r.kind)).toEqual(['replication-factor-change'])
  })

  it('changes exactly the config that differs and carries the other overrides along', () => {
    const cluster = new Map([
      ['events', actual('events', 6, 1, {'retention.ms': String(3 * DAY), 'min.insync.replicas': '1', 'cleanup.policy': 'delete', 'segment.ms': '3600000'})],
    ])
    const plan = planTopics([want], cluster)
    expect(plan.actions).toEqual([
      {
        kind: 'alter-configs',
        topic: 'events',
        changes: [{key: 'retention.ms', from: String(3 * DAY), to: String(7 * DAY)}],
        fullSet: {'retention.ms': String(7 * DAY), 'min.insync.replicas': '1', 'cleanup.policy': 'delete', 'segment.ms': '3600000'},
      },
    ])
  })

  it('combines a partition raise and config change for one topic', () => {
    const cluster = new Map([['events', actual('events', 2, 1, {'min.insync.replicas': '1'})]])
    const plan = planTopics([want], cluster)
    expect(plan.actions.map((a) => a.kind)).toEqual(['add-partitions', 'alter-configs'])
    expect(summarizePlan(plan)).toBe('Plan: 0 to create, 1 to change, 0 refused, 0 in sync.')
  })

  it('lists unmanaged topics, ignores internal ones, and refuses them only when strict', () => {
    const cluster = new Map([
      ['events', actual('events', 6, 1, {'retention.ms': String(7 * DAY), 'min.insync.replicas': '1'})],
      ['orders', actual('orders', 1, 1)],
      ['__consumer_offsets', actual('__consumer_offsets', 50, 1)],
    ])
    const relaxed = planTopics([want], cluster)
    expect(relaxed.unmanaged).toEqual(['orders'])
    expect(planHasDrift(relaxed)).toBe(false)
    const strict = planTopics([want], cluster, {strict: true})
    expect(strict.refusals.map((r) => [r.topic, r.kind])).toEqual([['orders', 'unmanaged-topic']])
    expect(planHasDrift(strict)).toBe(true)
  })
})

describe('config helpers', () => {
  it('configChanges reports unset keys with from = null', () => {
    expect(configChanges({'compression.type': 'zstd'}, {})).toEqual([{key: 'compression.type', from: null, to: 'zstd'}])
  })
  it('fullConfigSet keeps topic overrides, drops inherited values and null (sensitive) ones', () => {
    expect(
      fullConfigSet(
        {'retention.ms': '1'},
        {
          'segment.ms': {value: '5', isTopicOverride: true},
          'retention.ms': {value: '9', isTopicOverride: true},
          'max.message.bytes': {value: '100', isTopicOverride: false},
          secret: {value: null, isTopicOverride: true},
        },
      ),
    ).toEqual({'segment.ms': '5', 'retention.ms': '1'})
  })
  it('displays durations in days', () => {
    expect(displayConfigValue('retention.ms', '604800000')).toBe('604800000 (7d)')
    expect(displayConfigValue('retention.ms', '-1')).toBe('-1')
    expect(displayConfigValue('cleanup.policy', 'compact')).toBe('compact')
    expect(displayConfigValue('x', null)).toBe('(unset)')
  })
  it('renders every kind of plan line', () => {
    const lines = renderPlan({
      actions: [
        {kind: 'create', topic: 'a', partitions: 2, replicationFactor: 1, configs: {'retention.ms': '86400000'}},
        {kind: 'add-partitions', topic: 'b', from: 1, to: 4},
        {kind: 'alter-configs', topic: 'c', changes: [{key: 'retention.ms', from: '1000', to: '2000'}], fullSet: {}},
      ],
      refusals: [{topic: 'd', kind: 'partition-decrease', reason: 'no'}],
      unmanaged: ['e'],
      inSync: [],
    })
    expect(lines).toEqual([
      '+ create a: 2 partitions, replication factor 1, retention.ms=86400000 (1d)',
      '~ partitions b: 1 → 4',
      '~ config c: retention.ms 1000 (1s) → 2000 (2s)',
      '! refused d: no',
      '? unmanaged e (in the cluster, not in the file; left alone)',
    ])
  })
})
