/**
 * `kpipe health` end to end: the built CLI against a private three-node KRaft cluster (one node
 * is stopped and started again; the shared stack's broker is never touched), against the shared
 * stack while a topic is being produced to, and against a closed port.
 */
import {Kafka, logLevel, type ITopicMetadata} from 'kafkajs'
import {setTimeout as sleep} from 'node:timers/promises'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import type {HealthReport} from '../../src/lib/health/cluster-health.js'
import {json, runCli, uniqueName} from '../helpers/cli.js'
import {startPrivateKafkaCluster, type PrivateKafkaCluster} from '../helpers/kafka-cluster.js'
import {privatePort} from '../helpers/services.js'

const quiet = {logLevel: logLevel.NOTHING}
const key = (p: {topic: string; partition: number}) => `${p.topic}-${p.partition}`

/** Polls `check` until it returns true (errors count as "not yet"); fails after `timeoutMs`. */
async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (let delay = 100; Date.now() < deadline; delay = Math.min(delay * 2, 1000)) {
    try {
      if (await check()) return
    } catch (error) {
      last = error
    }
    await sleep(delay)
  }
  throw new Error(`timed out waiting until ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`)
}

/**
 * The metadata as one broker answers it, read with plain kafkajs (not kpipe's code under test).
 * kafkajs throws while any asked-for partition has no leader, which `eventually` treats as "not yet".
 */
async function metadataFrom(broker: string, topics: string[]): Promise<ITopicMetadata[]> {
  const admin = new Kafka({clientId: 'kpipe-e2e-health-observer', brokers: [broker], ...quiet, retry: {retries: 0}}).admin()
  await admin.connect()
  try {
    return (await admin.fetchTopicMetadata({topics})).topics
  } finally {
    await admin.disconnect()
  }
}

describe('kpipe health on a private three-node cluster', () => {
  let cluster: PrivateKafkaCluster | undefined
  const replicated = 'health-replicated' // RF 3, min.insync.replicas 2 (the cluster default)
  const strict = 'health-strict' // RF 3, min.insync.replicas 3: one broker down and acks=all fails
  const single = 'health-single' // RF 1 on broker 3: offline while it is down
  const lagGroup = 'health-lag-group'

  beforeAll(async () => {
    cluster = await startPrivateKafkaCluster({properties: {'replica.lag.time.max.ms': '2000'}})
    const admin = new Kafka({clientId: 'kpipe-e2e-health', brokers: cluster.brokers.split(','), ...quiet}).admin()
    await admin.connect()
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: [
          {topic: replicated, numPartitions: 6, replicationFactor: 3},
          {topic: strict, numPartitions: 3, replicationFactor: 3, configEntries: [{name: 'min.insync.replicas', value: '3'}]},
          // min.insync.replicas 1: the cluster default (2) is more than RF 1 allows, which health reports.
          {topic: single, replicaAssignment: [{partition: 0, replicas: [3]}], configEntries: [{name: 'min.insync.replicas', value: '1'}]},
        ],
      })
      // A consumer group on the replicated and the single-replica topic, for kpipe lag below.
      await admin.setOffsets({groupId: lagGroup, topic: replicated, partitions: [0, 1, 2, 3, 4, 5].map((partition) => ({partition, offset: '0'}))})
      await admin.setOffsets({groupId: lagGroup, topic: single, partitions: [{partition: 0, offset: '0'}]})
    } finally {
      await admin.disconnect()
    }
  }, 300_000)

  afterAll(async () => {
    await cluster?.dispose()
  }, 120_000)

  /** Every broker still up agrees that every partition of `topics` satisfies `check`. */
  const allBrokersSee = (ids: number[], topics: string[], check: (t: ITopicMetadata) => boolean) => () =>
    Promise.all(ids.map((id) => metadataFrom(`localhost:${cluster!.nodes[id - 1]!.port}`, topics))).then((answers) => answers.every((seen) => (topics.length === 0 || seen.length === topics.length) && seen.every(check)))
  const inSync = (t: ITopicMetadata) => t.partitions.every((p) => p.leader >= 0 && p.isr.length === p.replicas.length)

  it('exits 0 with all brokers up, 1 naming the stopped broker and its partitions, and 0 again once it is back in sync', async () => {
    const c = cluster!
    await eventually('all partitions are in sync', allBrokersSee([1, 2, 3], [], inSync))
    const healthy = await runCli(['health', '--brokers', c.brokers, '--sample', '0', '--json'])
    expect(healthy.code, healthy.stderr).toBe(0)
    const before = json<HealthReport>(healthy)
    expect(before.ok).toBe(true)
    expect(before.brokers.map((b) => b.id)).toEqual([1, 2, 3])
    expect(before.brokers.filter((b) => b.isController)).toHaveLength(1)
    expect(before.topics.find((t) => t.name === strict)).toMatchObject({partitions: 3, replicationFactor: 3, minInsyncReplicas: 3})
    expect(before.topics.find((t) => t.name === replicated)).toMatchObject({partitions: 6, replicationFactor: 3, minInsyncReplicas: 2})

    await c.stop(3)
    await eventually(
      'brokers 1 and 2 see broker 3 out of every ISR',
      allBrokersSee([1, 2], [replicated, strict], (t) => t.partitions.every((p) => !p.isr.includes(3))),
    )

    const down = await runCli(['health', '--brokers', c.brokers, '--sample', '0', '--json'])
    expect(down.code, down.stderr).toBe(1)
    expect(down.stderr).toMatch(/^Error: The cluster is unhealthy \(\d+ problems\): Broker 3 holds replicas of \d+ partitions but is not in the cluster/m)
    const report = json<HealthReport>(down)
    expect(report.ok).toBe(false)
    expect(report.brokers.map((b) => b.id)).toEqual([1, 2])
    expect(report.missingBrokers).toEqual([3])
    expect(report.problems.find((p) => p.kind === 'broker-missing')?.message).toMatch(/^Broker 3 holds replicas of \d+ partitions but is not in the cluster/)

    const under = report.underReplicatedPartitions.filter((p) => p.topic === replicated || p.topic === strict)
    expect(under.map(key).sort()).toEqual([...[0, 1, 2, 3, 4, 5].map((i) => `${replicated}-${i}`), ...[0, 1, 2].map((i) => `${strict}-${i}`)].sort())
    for (const p of under) {
      expect(p.replicas).toContain(3)
      expect(p.isr).not.toContain(3)
      expect(p.leader === 1 || p.leader === 2).toBe(true)
    }
    expect(report.underMinIsrPartitions.filter((p) => p.topic !== '__consumer_offsets').map(key)).toEqual([0, 1, 2].map((i) => `${strict}-${i}`))
    expect(report.atMinIsrPartitions.filter((p) => p.topic === replicated)).toHaveLength(6)
    expect(report.offlinePartitions).toEqual([{topic: single, partition: 0, leader: null, replicas: [3], isr: expect.any(Array), offlineReplicas: expect.any(Array), minInsyncReplicas: 1}])
    expect(report.problems.filter((p) => p.kind === 'offline-partitions').map((p) => p.message)).toEqual([
      `Topic ${single} has 1 offline partition (0): no leader, so nothing can be produced to or consumed from it; its replica broker 3 is missing.`,
    ])

    // The human table says the same, on stdout, with the same exit code.
    const table = await runCli(['health', '--brokers', c.brokers, '--sample', '0'])
    expect(table.code, table.stderr).toBe(1)
    expect(table.stdout).toMatch(/^3\s+-\s+-\s+-\s+MISSING/m)
    expect(table.stdout).toMatch(/error\s+under-replicated\s+Topic health-replicated has 6 under-replicated partitions/)
    expect(table.stdout).toMatch(/cluster UNHEALTHY: 2 of 3 brokers \(missing 3\)/)

    // kpipe lag still answers while a partition has no leader (kafkajs' admin cannot): the other
    // partitions' lag, the leaderless one named, the group ERR so --fail-on err fails.
    const lag = await runCli(['lag', '--brokers', c.brokers, '--group', lagGroup, '--json'])
    expect(lag.code, lag.stderr).toBe(0)
    const lagDoc = json<{groups: {group: string; status: string; partitions: {topic: string; partition: number; lag: number}[]; unavailablePartitions: {topic: string; partition: number}[]}[]}>(lag)
    expect(lagDoc.groups[0]).toMatchObject({group: lagGroup, status: 'ERR', unavailablePartitions: [{topic: single, partition: 0, committedOffset: 0}]})
    expect(lagDoc.groups[0]!.partitions.map((p) => `${p.topic}-${p.partition}`)).toEqual([0, 1, 2, 3, 4, 5].map((i) => `${replicated}-${i}`))
    const lagFails = await runCli(['lag', '--brokers', c.brokers, '--group', lagGroup, '--fail-on', 'err'])
    expect(lagFails.code, lagFails.stderr).toBe(1)
    expect(lagFails.stdout).toMatch(/1 partition\(s\) without a leader, lag unknown: health-single\/0/)

    await c.start(3)
    await eventually('every partition is in sync again on all three brokers', allBrokersSee([1, 2, 3], [], inSync))
    const back = await runCli(['health', '--brokers', c.brokers, '--sample', '0', '--json'])
    expect(back.code, back.stderr).toBe(0)
    const after = json<HealthReport>(back)
    expect(after.ok).toBe(true)
    expect(after.missingBrokers).toEqual([])
    expect(after.underReplicatedPartitions).toEqual([])
    expect(after.offlinePartitions).toEqual([])
    expect(after.problems.filter((p) => p.severity === 'error')).toEqual([])
  }, 300_000)
})

describe('kpipe health on the shared stack', () => {
  const brokers = process.env.KPIPE_BROKERS ?? 'localhost:9092'
  const topic = uniqueName('e2e-health')
  const kafka = new Kafka({clientId: 'kpipe-e2e-health', brokers: brokers.split(','), ...quiet})

  beforeAll(async () => {
    const admin = kafka.admin()
    await admin.connect()
    try {
      await admin.createTopics({waitForLeaders: true, topics: [{topic, numPartitions: 2, replicationFactor: 1}]})
    } finally {
      await admin.disconnect()
    }
  })
  afterAll(async () => {
    const admin = kafka.admin()
    await admin.connect()
    try {
      await admin.deleteTopics({topics: [topic]})
    } finally {
      await admin.disconnect()
    }
  })

  it('exits 0 and shows a produce rate above 0 for a topic produced to during the sample', async () => {
    const producer = kafka.producer()
    await producer.connect()
    let producing = true
    let sent = 0
    // Records keep arriving for the whole run, so both samples see a moving end offset.
    const loop = (async () => {
      while (producing) {
        await producer.send({topic, messages: Array.from({length: 20}, (_, i) => ({key: String(i), value: `record ${sent + i}`}))})
        sent += 20
        await sleep(20)
      }
    })()
    try {
      const result = await runCli(['health', '--topic', topic, '--sample', '2s', '--json'])
      expect(result.code, result.stderr).toBe(0)
      const report = json<HealthReport>(result)
      expect(report.ok).toBe(true)
      expect(report.sampledMs).toBeGreaterThanOrEqual(2000)
      expect(report.topics.map((t) => t.name)).toEqual([topic])
      expect(report.topics[0]!.produceRatePerSec).toBeGreaterThan(0)
      expect(report.brokers.length).toBeGreaterThanOrEqual(1)
    } finally {
      producing = false
      await loop
      await producer.disconnect()
    }
    expect(sent).toBeGreaterThan(0)
  })
})

describe('kpipe health failures', () => {
  it('exits 3 with one sentence when Kafka is unreachable', async () => {
    const result = await runCli(['health', '--brokers', `127.0.0.1:${privatePort()}`, '--sample', '0'])
    expect(result.code, result.stderr).toBe(3)
    expect(result.stderr).toMatch(/^Error: Kafka is unreachable \([^\n]*ECONNREFUSED[^\n]*\)\.\nHint: /m)
    expect(result.stdout).toBe('')
  })

  it('exits 3 with a JSON error under --json', async () => {
    const result = await runCli(['health', '--brokers', `127.0.0.1:${privatePort()}`, '--json'])
    expect(result.code).toBe(3)
    expect(json<{error: {kind: string; exitCode: number}}>(result).error).toMatchObject({kind: 'unreachable', exitCode: 3})
  })

  it.each([['2x'], ['-1s'], ['soon']])('exits 2 on --sample %s', async (value) => {
    const result = await runCli(['health', '--sample', value])
    expect(result.code, result.stderr).toBe(2)
    expect(result.stderr).toMatch(/--sample/)
  })
})
