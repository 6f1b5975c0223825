/**
 * `kpipe load-test` goes on producing when the broker leading most of its topic's partitions is
 * killed (SIGKILL) and started again, on a private three-node cluster (RF 3, min.insync.replicas
 * 2, acks=all): it exits 0 with every record it sent acknowledged. Before, the producer's client
 * had the two retries of a one-shot command and the run ended with exit 3 ("Kafka is
 * unreachable") while the partitions moved (found by `npm run chaos`, broker-kill). One request
 * in flight: kafkajs' idempotent producer with several fails with OUT_OF_ORDER_SEQUENCE_NUMBER
 * when a leader dies (a known limit, reported in chaos/results).
 */
import {spawn} from 'node:child_process'
import {setTimeout as sleep} from 'node:timers/promises'

import {Kafka, logLevel} from 'kafkajs'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {binRun} from '../helpers/cli.js'
import {startPrivateKafkaCluster, type PrivateKafkaCluster} from '../helpers/kafka-cluster.js'

const topic = 'load-broker-kill'

describe('kpipe load-test across a broker kill', () => {
  let cluster: PrivateKafkaCluster | undefined
  let kafka: Kafka

  beforeAll(async () => {
    cluster = await startPrivateKafkaCluster({nodes: 3})
    kafka = new Kafka({clientId: 'kpipe-e2e-load-kill', brokers: cluster.brokers.split(','), logLevel: logLevel.NOTHING})
    const admin = kafka.admin()
    await admin.connect()
    try {
      // A fresh cluster may not know the topic on every broker yet (kafkajs then fails the create
      // with UNKNOWN_TOPIC_OR_PARTITION though the topic is made): asked until each partition has a leader.
      const create = () => admin.createTopics({topics: [{topic, numPartitions: 6, replicationFactor: 3, configEntries: [{name: 'min.insync.replicas', value: '2'}]}]}).catch(() => false)
      await create()
      for (let i = 0; i < 240; i++) {
        if (i % 20 === 19) await create()
        const led = await admin
          .fetchTopicMetadata({topics: [topic]})
          .then(({topics}) => topics[0]!.partitions.length === 6 && topics[0]!.partitions.every((p) => p.leader >= 0))
          .catch(() => false)
        if (led) break
        await sleep(500)
      }
    } finally {
      await admin.disconnect()
    }
  }, 300_000)

  afterAll(async () => {
    await cluster?.dispose()
  }, 120_000)

  it('exits 0 with every record acknowledged', async () => {
    const admin = kafka.admin()
    await admin.connect()
    const {topics} = await admin.fetchTopicMetadata({topics: [topic]})
    await admin.disconnect()
    const counts = new Map<number, number>()
    for (const p of topics[0]!.partitions) counts.set(p.leader, (counts.get(p.leader) ?? 0) + 1)
    const [leader] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]!

    const child = spawn(process.execPath, [binRun, 'load-test', '--topic', topic, '--rate', '500', '--duration', '30s', '--max-in-flight', '1', '--json'], {
      env: {...process.env, KPIPE_BROKERS: cluster!.brokers},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve))
    try {
      await sleep(6000)
      await cluster!.kill(leader)
      await sleep(8000)
      await cluster!.start(leader)
      const code = await exited
      expect(code, stderr.slice(-2000)).toBe(0)
      const result = JSON.parse(stdout) as {sent: number; acknowledged: number}
      expect(result.sent).toBe(15_000)
      expect(result.acknowledged).toBe(result.sent)
    } finally {
      child.kill('SIGKILL')
    }
  }, 300_000)
})
