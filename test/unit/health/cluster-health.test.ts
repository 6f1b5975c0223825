import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {
  type ClusterSample,
  evaluateHealth,
  healthHeadline,
  isInternalTopic,
  type PartitionInput,
  partitionList,
  produceRates,
  summarizeHealth,
  type TopicInput,
} from '../../../src/lib/health/cluster-health.js'

const BROKERS = [
  {id: 1, host: 'kafka-1', port: 9092, rack: 'a'},
  {id: 2, host: 'kafka-2', port: 9092, rack: 'b'},
  {id: 3, host: 'kafka-3', port: 9092, rack: null},
]

function p(partition: number, leader: number | null, replicas: number[], isr: number[] = replicas, offlineReplicas: number[] = []): PartitionInput {
  return {partition, leader, replicas, isr, offlineReplicas}
}

function topic(name: string, partitions: PartitionInput[], minInsyncReplicas: number | null = 2, extra: Partial<TopicInput> = {}): TopicInput {
  return {name, minInsyncReplicas, partitions, ...extra}
}

function cluster(topics: TopicInput[], extra: Partial<ClusterSample> = {}): ClusterSample {
  return {clusterId: 'c1', brokers: BROKERS, controllerId: 1, topics, ...extra}
}

/** Three partitions, one led by each broker, preferred leaders leading, fully in sync. */
const balanced = () => topic('orders', [p(0, 1, [1, 2, 3]), p(1, 2, [2, 3, 1]), p(2, 3, [3, 1, 2])])

describe('evaluateHealth: scenarios', () => {
  it('a healthy three-broker cluster is ok, with no problem and the controller marked', () => {
    const report = evaluateHealth(cluster([balanced()]))
    expect(report.ok).toBe(true)
    expect(report.problems).toEqual([])
    expect(report.brokers).toEqual([
      {id: 1, host: 'kafka-1', port: 9092, rack: 'a', isController: true},
      {id: 2, host: 'kafka-2', port: 9092, rack: 'b', isController: false},
      {id: 3, host: 'kafka-3', port: 9092, rack: null, isController: false},
    ])
    expect(report.missingBrokers).toEqual([])
    expect(report.topics).toEqual([
      {
        name: 'orders',
        internal: false,
        partitions: 3,
        replicationFactor: 3,
        minInsyncReplicas: 2,
        produceRatePerSec: null,
        offlinePartitions: 0,
        underReplicatedPartitions: 0,
        underMinIsrPartitions: 0,
        problems: 0,
      },
    ])
  })

  it('a stopped broker: named as missing, its partitions under-replicated, leaders moved, RF 1 on it offline', () => {
    const brokers = BROKERS.filter((b) => b.id !== 3)
    const report = evaluateHealth(
      cluster(
        [
          topic('orders', [p(0, 1, [1, 2, 3], [1, 2], [3]), p(1, 2, [2, 3, 1], [2, 1], [3]), p(2, 1, [3, 1, 2], [1, 2], [3])]),
          topic('strict', [p(0, 1, [1, 3, 2], [1, 2], [3])], 3),
          topic('single', [p(0, -1, [3], [3], [3]), p(1, 1, [1])], 1),
        ],
        {brokers},
      ),
    )
    expect(report.ok).toBe(false)
    expect(report.missingBrokers).toEqual([3])
    expect(report.offlinePartitions.map((x) => `${x.topic}-${x.partition}`)).toEqual(['single-0'])
    expect(report.offlinePartitions[0]!.leader).toBeNull()
    expect(report.underReplicatedPartitions.map((x) => `${x.topic}-${x.partition}`)).toEqual(['orders-0', 'orders-1', 'orders-2', 'strict-0'])
    expect(report.underMinIsrPartitions.map((x) => `${x.topic}-${x.partition}`)).toEqual(['strict-0'])
    expect(report.atMinIsrPartitions.map((x) => `${x.topic}-${x.partition}`)).toEqual(['orders-0', 'orders-1', 'orders-2'])
    expect(report.nonPreferredLeaderPartitions.map((x) => `${x.topic}-${x.partition}`)).toEqual(['orders-2'])

    const kinds = report.problems.map((x) => [x.kind, x.severity])
    expect(kinds).toEqual([
      ['broker-missing', 'error'],
      ['offline-partitions', 'error'],
      ['under-min-isr', 'error'],
      ['under-replicated', 'error'],
      ['under-replicated', 'error'],
      ['at-min-isr', 'warning'],
    ])
    const missing = report.problems[0]!
    expect(missing.message).toBe('Broker 3 holds replicas of 5 partitions but is not in the cluster (stopped, fenced or unreachable).')
    expect(missing.items[0]).toEqual({brokerId: 3})
    expect(report.problems[1]!.message).toBe(
      'Topic single has 1 offline partition (0): no leader, so nothing can be produced to or consumed from it; its replica broker 3 is missing.',
    )
    expect(report.problems[2]!.message).toBe(
      'Topic strict has 1 partition (0) with fewer in-sync replicas than min.insync.replicas=3: producers with acks=all fail.',
    )
    expect(report.problems[3]!.message).toBe('Topic orders has 3 under-replicated partitions (0, 1, 2): in sync on fewer brokers than assigned, out of sync: broker 3.')
    // The stopped broker is 100% imbalanced, but only live brokers count (Kafka's rule too).
    const three = report.leaderImbalance.find((b) => b.brokerId === 3)!
    expect(three).toMatchObject({alive: false, leaders: 0, preferredLeaders: 2, notLeadingPreferred: 2, imbalancePercent: 100, imbalanced: false})
    expect(report.topics.find((t) => t.name === 'single')).toMatchObject({offlinePartitions: 1, problems: 2})
  })

  it.each([
    // [replicas, isr, minIsr, underReplicated, underMinIsr, atMinIsr]
    [[1, 2, 3], [1, 2, 3], 2, false, false, false],
    [[1, 2, 3], [1, 2], 2, true, false, true],
    [[1, 2, 3], [1], 2, true, true, false],
    [[1, 2, 3], [1, 2, 3], 3, false, false, false], // RF = min ISR by design: no warning while in sync
    [[1, 2, 3], [1, 2], 3, true, true, false],
    [[1], [1], 1, false, false, false],
    [[1, 2], [1, 2], 3, false, true, false], // min ISR above RF: acks=all can never succeed
    [[1, 2, 3], [1, 2], null, true, false, false], // unknown min ISR: no ISR verdict
  ] as const)('replicas %j, isr %j, min ISR %s', (replicas, isr, min, under, belowMin, atMin) => {
    const report = evaluateHealth(cluster([topic('t', [p(0, 1, [...replicas], [...isr])], min)]))
    expect(report.underReplicatedPartitions.length === 1).toBe(under)
    expect(report.underMinIsrPartitions.length === 1).toBe(belowMin)
    expect(report.atMinIsrPartitions.length === 1).toBe(atMin)
    expect(report.ok).toBe(!under && !belowMin)
  })

  it.each([null, -1])('leader %s is offline and listed only as offline', (leader) => {
    const report = evaluateHealth(cluster([topic('t', [p(0, leader, [1, 2], [1])], 2)]))
    expect(report.offlinePartitions).toHaveLength(1)
    expect(report.underReplicatedPartitions).toHaveLength(0)
    expect(report.underMinIsrPartitions).toHaveLength(0)
    expect(report.ok).toBe(false)
  })

  it('no controller is an error', () => {
    for (const controllerId of [null, -1]) {
      const report = evaluateHealth(cluster([balanced()], {controllerId}))
      expect(report.ok).toBe(false)
      expect(report.controllerId).toBeNull()
      expect(report.problems.map((x) => x.kind)).toEqual(['no-controller'])
      expect(report.brokers.some((b) => b.isController)).toBe(false)
    }
  })

  it('a topic asked for but missing is an error naming it', () => {
    const report = evaluateHealth(cluster([balanced(), topic('nope', [], null, {missing: true})]))
    expect(report.ok).toBe(false)
    expect(report.problems).toEqual([{kind: 'topic-missing', severity: 'error', message: 'Topic nope does not exist.', items: [{topic: 'nope'}]}])
    expect(report.topics.map((t) => t.name)).toEqual(['orders'])
  })

  it('internal topics are checked for replication but get no produce rate', () => {
    const offsets = [
      {atMs: 0, endOffsets: [{topic: '__consumer_offsets', partition: 0, offset: '10'}, {topic: 'orders', partition: 0, offset: '10'}]},
      {atMs: 2000, endOffsets: [{topic: '__consumer_offsets', partition: 0, offset: '30'}, {topic: 'orders', partition: 0, offset: '30'}]},
    ]
    const report = evaluateHealth(
      cluster([topic('__consumer_offsets', [p(0, 1, [1, 2, 3], [1])], 2, {internal: true}), topic('orders', [p(0, 1, [1, 2, 3])])], {offsets}),
    )
    expect(report.topics.map((t) => [t.name, t.internal, t.produceRatePerSec])).toEqual([
      ['__consumer_offsets', true, null],
      ['orders', false, 10],
    ])
    expect(report.underMinIsrPartitions.map((x) => x.topic)).toEqual(['__consumer_offsets'])
    expect(report.sampledMs).toBe(2000)
  })
})

describe('leader imbalance (leader.imbalance.per.broker.percentage)', () => {
  /** Ten partitions preferring broker 1, `moved` of them led by broker 2. */
  function skewed(moved: number): ClusterSample {
    const partitions = Array.from({length: 10}, (_, i) => p(i, i < moved ? 2 : 1, [1, 2, 3]))
    return cluster([topic('t', partitions)])
  }

  it.each([
    [0, 10, false],
    [1, 10, false], // exactly 10%: Kafka triggers only above the percentage
    [2, 10, true],
    [5, 50, false],
    [6, 50, true],
    [1, 0, true],
  ])('%i of 10 moved, threshold %i percent: imbalanced %s', (moved, threshold, imbalanced) => {
    const report = evaluateHealth(skewed(moved), {leaderImbalancePercentage: threshold})
    const one = report.leaderImbalance.find((b) => b.brokerId === 1)!
    expect(one).toMatchObject({leaders: 10 - moved, preferredLeaders: 10, notLeadingPreferred: moved, imbalancePercent: moved * 10, imbalanced})
    expect(report.leaderImbalance.find((b) => b.brokerId === 2)).toMatchObject({leaders: moved, preferredLeaders: 0, imbalancePercent: 0, imbalanced: false})
    expect(report.problems.some((x) => x.kind === 'leader-imbalance')).toBe(imbalanced)
    // A warning: the cluster works, it is only uneven.
    expect(report.ok).toBe(true)
    expect(report.nonPreferredLeaderPartitions).toHaveLength(moved)
  })

  it('names the broker and the partitions it should lead', () => {
    const report = evaluateHealth(skewed(3))
    const problem = report.problems.find((x) => x.kind === 'leader-imbalance')!
    expect(problem.message).toBe(
      'Broker 1 leads 7 of the 10 partitions it is preferred leader for (30% elsewhere, over leader.imbalance.per.broker.percentage=10): run a preferred leader election.',
    )
    expect(problem.items).toEqual([{brokerId: 1}, {topic: 't', partition: 0}, {topic: 't', partition: 1}, {topic: 't', partition: 2}])
    expect(report.leaderImbalancePercentage).toBe(10)
  })

  it("takes the brokers' own leader.imbalance.per.broker.percentage from the sample; an option overrides it", () => {
    expect(evaluateHealth({...skewed(3), leaderImbalancePercentage: 30}).leaderImbalance[0]!.imbalanced).toBe(false)
    expect(evaluateHealth({...skewed(3), leaderImbalancePercentage: 25}).leaderImbalancePercentage).toBe(25)
    expect(evaluateHealth({...skewed(3), leaderImbalancePercentage: 30}, {leaderImbalancePercentage: 20}).leaderImbalance[0]!.imbalanced).toBe(true)
    expect(evaluateHealth({...skewed(3), leaderImbalancePercentage: null}).leaderImbalancePercentage).toBe(10)
  })

  it('a broker preferred for nothing is listed with 0%', () => {
    const report = evaluateHealth(cluster([topic('t', [p(0, 1, [1])])]))
    expect(report.leaderImbalance.map((b) => [b.brokerId, b.preferredLeaders, b.imbalancePercent])).toEqual([
      [1, 1, 0],
      [2, 0, 0],
      [3, 0, 0],
    ])
  })
})

describe('produceRates', () => {
  it('sums the partitions of a topic over the time between samples', () => {
    const {byTopic, sampledMs} = produceRates([
      {atMs: 1000, endOffsets: [{topic: 'a', partition: 0, offset: '100'}, {topic: 'a', partition: 1, offset: 5}, {topic: 'b', partition: 0, offset: '7'}]},
      {atMs: 3000, endOffsets: [{topic: 'a', partition: 0, offset: '150'}, {topic: 'a', partition: 1, offset: 15}, {topic: 'b', partition: 0, offset: '7'}]},
    ])
    expect(sampledMs).toBe(2000)
    expect(Object.fromEntries(byTopic)).toEqual({a: 30, b: 0})
  })

  it('is exact beyond 2^53 and never negative when an end offset moves back', () => {
    const big = 2n ** 60n
    const {byTopic} = produceRates([
      {atMs: 0, endOffsets: [{topic: 'a', partition: 0, offset: big.toString()}, {topic: 'b', partition: 0, offset: '100'}]},
      {atMs: 1000, endOffsets: [{topic: 'a', partition: 0, offset: (big + 3n).toString()}, {topic: 'b', partition: 0, offset: '40'}]},
    ])
    expect(Object.fromEntries(byTopic)).toEqual({a: 3, b: 0})
  })

  it('leaves out a partition missing from either sample, and a topic with none', () => {
    const {byTopic} = produceRates([
      {atMs: 0, endOffsets: [{topic: 'a', partition: 0, offset: '0'}, {topic: 'a', partition: 1, offset: '0'}, {topic: 'gone', partition: 0, offset: '0'}]},
      {atMs: 1000, endOffsets: [{topic: 'a', partition: 0, offset: '4'}, {topic: 'new', partition: 0, offset: '9'}]},
    ])
    expect(Object.fromEntries(byTopic)).toEqual({a: 4})
  })

  it.each([[[]], [[{atMs: 5, endOffsets: []}]], [[{atMs: 5, endOffsets: []}, {atMs: 5, endOffsets: []}]]])('no rates without two samples apart in time (%j)', (samples) => {
    expect(produceRates(samples)).toEqual({byTopic: new Map(), sampledMs: null})
  })
})

describe('summary, headline and wording', () => {
  it('summarises for a dashboard header', () => {
    const report = evaluateHealth(cluster([topic('t', [p(0, -1, [3]), p(1, 1, [1, 3], [1])], 1)], {brokers: BROKERS.slice(0, 2)}))
    const summary = summarizeHealth(report)
    expect(summary).toEqual({ok: false, brokers: 2, missingBrokers: [3], controllerId: 1, offline: 1, underReplicated: 1, underMinIsr: 0, errors: 3, warnings: 1})
    expect(healthHeadline(summary)).toBe('cluster UNHEALTHY: 2 of 3 brokers (missing 3), controller 1, 1 offline, 1 under-replicated, 1 warning')
    expect(healthHeadline(summarizeHealth(evaluateHealth(cluster([balanced()]))))).toBe('cluster healthy: 3 brokers, controller 1')
  })

  it('abbreviates long partition lists', () => {
    expect(partitionList([0, 1, 2].map((partition) => ({partition})))).toBe('0, 1, 2')
    expect(partitionList(Array.from({length: 11}, (_, partition) => ({partition})))).toBe('0, 1, 2, 3, 4, 5, 6, 7 and 3 more')
  })

  it.each([
    ['__consumer_offsets', undefined, true],
    ['__transaction_state', false, true],
    ['__anything', undefined, true],
    ['_schemas', undefined, false],
    ['orders', true, true],
    ['orders', undefined, false],
  ])('%s (isInternal %s) is internal: %s', (name, internal, expected) => {
    expect(isInternalTopic({name, internal})).toBe(expected)
  })
})

// ---------------------------------------------------------------------------------------------
// Properties over arbitrary clusters

const brokerIds = fc.uniqueArray(fc.integer({min: 0, max: 6}), {minLength: 1, maxLength: 5})
const partitionArb = fc
  .tuple(fc.uniqueArray(fc.integer({min: 0, max: 7}), {minLength: 1, maxLength: 4}), fc.option(fc.integer({min: -1, max: 7})), fc.integer({min: 0, max: 15}))
  .map(([replicas, leader, isrMask]) => ({leader, replicas, isr: replicas.filter((_, i) => (isrMask >> i) & 1)}))
const topicArb = fc.record({
  name: fc.constantFrom('a', 'b', '__consumer_offsets', 'c.dlq'),
  minInsyncReplicas: fc.option(fc.integer({min: 1, max: 4})),
  partitions: fc.array(partitionArb, {maxLength: 6}).map((ps) => ps.map((x, partition) => ({...x, partition}))),
})
const sampleArb = fc
  .tuple(brokerIds, fc.option(fc.integer({min: -1, max: 6})), fc.uniqueArray(topicArb, {selector: (t) => t.name, maxLength: 4}))
  .map(([ids, controllerId, topics]): ClusterSample => ({brokers: ids.map((id) => ({id, host: `h${id}`, port: 9092, rack: null})), controllerId, topics}))

describe('evaluateHealth: properties', () => {
  it('ok is exactly "no error problem", and every listed partition breaks the rule it is listed under', () => {
    fc.assert(
      fc.property(sampleArb, fc.integer({min: 0, max: 100}), (sample, threshold) => {
        const report = evaluateHealth(sample, {leaderImbalancePercentage: threshold})
        expect(report.ok).toBe(report.problems.every((x) => x.severity !== 'error'))
        for (const x of report.offlinePartitions) expect(x.leader).toBeNull()
        for (const x of report.underReplicatedPartitions) expect(x.isr.length).toBeLessThan(x.replicas.length)
        for (const x of report.underMinIsrPartitions) expect(x.isr.length).toBeLessThan(x.minInsyncReplicas!)
        const offline = new Set(report.offlinePartitions.map((x) => `${x.topic}/${x.partition}`))
        for (const x of [...report.underReplicatedPartitions, ...report.underMinIsrPartitions, ...report.atMinIsrPartitions]) {
          expect(offline.has(`${x.topic}/${x.partition}`)).toBe(false)
        }
        // Every partition that breaks a rule is listed (none is lost).
        const all = sample.topics.flatMap((t) => t.partitions.map((q) => ({...q, topic: t.name, min: t.minInsyncReplicas})))
        const led = all.filter((q) => q.leader !== null && q.leader >= 0)
        expect(report.offlinePartitions).toHaveLength(all.length - led.length)
        expect(report.underReplicatedPartitions).toHaveLength(led.filter((q) => q.isr.length < q.replicas.length).length)
        expect(report.underMinIsrPartitions).toHaveLength(led.filter((q) => q.min !== null && q.isr.length < q.min).length)
        // Leadership adds up: each led partition has one leader, each partition one preferred replica.
        expect(report.leaderImbalance.reduce((n, b) => n + b.leaders, 0)).toBe(led.length)
        expect(report.leaderImbalance.reduce((n, b) => n + b.preferredLeaders, 0)).toBe(all.length)
        for (const b of report.leaderImbalance) expect(b.imbalanced).toBe(b.alive && b.preferredLeaders > 0 && (b.notLeadingPreferred / b.preferredLeaders) * 100 > threshold)
        // A missing broker is never a live one, and each is named by a problem.
        const live = new Set(report.brokers.map((b) => b.id))
        for (const id of report.missingBrokers) {
          expect(live.has(id)).toBe(false)
          expect(report.problems.some((x) => x.kind === 'broker-missing' && x.message.startsWith(`Broker ${id} `))).toBe(true)
        }
        expect(report.brokers.filter((b) => b.isController).length).toBe(sample.controllerId !== null && live.has(sample.controllerId) ? 1 : 0)
        // Errors come before warnings; the JSON holds no NaN or Infinity.
        const severities = report.problems.map((x) => x.severity)
        expect(severities).toEqual([...severities].sort())
        expect(JSON.parse(JSON.stringify(report))).toEqual(report)
      }),
    )
  })

  it('rates are finite, never negative, and null for internal topics', () => {
    const offsets = fc.array(fc.record({topic: fc.constantFrom('a', 'b', '__consumer_offsets'), partition: fc.integer({min: 0, max: 3}), offset: fc.bigInt({min: 0n, max: 2n ** 63n - 1n})}), {
      maxLength: 12,
    })
    fc.assert(
      fc.property(sampleArb, offsets, offsets, fc.integer({min: 0, max: 10_000}), (sample, first, second, elapsed) => {
        const report = evaluateHealth({...sample, offsets: [{atMs: 0, endOffsets: first}, {atMs: elapsed, endOffsets: second}]})
        for (const t of report.topics) {
          if (t.internal) expect(t.produceRatePerSec).toBeNull()
          if (t.produceRatePerSec !== null) {
            expect(Number.isFinite(t.produceRatePerSec)).toBe(true)
            expect(t.produceRatePerSec).toBeGreaterThanOrEqual(0)
          }
        }
        expect(report.sampledMs).toBe(elapsed > 0 ? elapsed : null)
      }),
    )
  })
})
