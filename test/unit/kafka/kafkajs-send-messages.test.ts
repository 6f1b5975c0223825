/**
 * The retry of one send() when a partition's leader dies mid-send, on a scripted cluster of two
 * brokers (the objects kafkajs' producer talks to, answering as Kafka would): broker 2 leads
 * partition 1 and its connection closes; the metadata then names broker 1, which has already
 * answered for partition 0, as partition 1's leader. kafkajs' own sendMessages resolves without
 * ever writing partition 1's records (kafkajs #1303) — this test shows it — and the replacement
 * in src/lib/kafka/kafkajs-send-messages.ts writes them to the new leader. The real thing, with
 * brokers killed under load, is npm run chaos's broker-kill scenario.
 */
import {createRequire} from 'node:module'

import {describe, expect, it} from 'vitest'

import {sendMessagesFactory} from '../../../src/lib/kafka/kafkajs-send-messages.js'

const require = createRequire(import.meta.url)
const {KafkaJSConnectionClosedError} = require('kafkajs/src/errors') as {KafkaJSConnectionClosedError: new (message: string, where: {host: string; port: number}) => Error}
const createRetry = require('kafkajs/src/retry') as (options: object) => unknown
const kafkajsSendMessages = require('kafkajs/src/producer/sendMessages') as Parameters<typeof run>[0]
const ours = sendMessagesFactory(require.resolve('kafkajs'))

interface Written {
  broker: number
  partition: number
  values: string[]
}

/** Sends [a0, a1] to partition 0 and [b0, b1] to partition 1; returns what each broker wrote. */
async function run(createSendMessages: (deps: never) => (request: never) => Promise<unknown[]>) {
  const leaders: Record<number, number> = {0: 1, 1: 2}
  const written: Written[] = []
  let broker2Fails = true
  const broker = (nodeId: number) => ({
    nodeId,
    async produce({topicData}: {topicData: {topic: string; partitions: {partition: number; messages: {value: string}[]}[]}[]}) {
      if (nodeId === 2 && broker2Fails) {
        broker2Fails = false
        leaders[1] = 1 // the controller moves partition 1 to broker 1
        throw new KafkaJSConnectionClosedError('Connection closed', {host: 'broker2', port: 9092})
      }
      const topics = topicData.map(({topic, partitions}) => ({
        topicName: topic,
        partitions: partitions.map(({partition, messages}) => {
          written.push({broker: nodeId, partition, values: messages.map((m) => m.value)})
          return {partition, errorCode: 0, baseOffset: '0', logAppendTime: '-1', logStartOffset: '0'}
        }),
      }))
      return {topics}
    },
  })
  const brokers = {1: broker(1), 2: broker(2)}
  let metadata = {...leaders}
  const cluster = {
    targetTopics: new Set(['t']),
    async refreshMetadataIfNecessary() {},
    async refreshMetadata() {
      metadata = {...leaders}
    },
    async addMultipleTargetTopics() {},
    findTopicPartitionMetadata: () => [0, 1].map((partitionId) => ({partitionId, leader: metadata[partitionId]})),
    findLeaderForPartitions(_topic: string, partitions: string[]) {
      const result: Record<number, number[]> = {}
      for (const p of partitions.map(Number)) (result[metadata[p]!] ??= []).push(p)
      return result
    },
    async findBroker({nodeId}: {nodeId: string | number}) {
      return brokers[Number(nodeId) as 1 | 2]
    },
    removeBroker() {},
    isConnected: () => true,
    async connect() {},
  }
  const eosManager = {
    acquireBrokerLock: async () => undefined,
    releaseBrokerLock: async () => undefined,
    isInitialized: () => false,
    isTransactional: () => false,
    getSequence: () => 0,
    updateSequence: () => undefined,
    getProducerId: () => -1,
    getProducerEpoch: () => 0,
    getTransactionalId: () => undefined,
  }
  const logger = {debug: () => undefined, error: () => undefined, info: () => undefined, warn: () => undefined}
  const partitioner = ({message}: {message: {partition: number}}) => message.partition
  const retrier = createRetry({retries: 3, initialRetryTime: 1, maxRetryTime: 5})
  const send = createSendMessages({logger, cluster, partitioner, eosManager, retrier} as never)
  const answer = await send({
    acks: -1,
    timeout: 30_000,
    topicMessages: [{topic: 't', messages: [{value: 'a0', partition: 0}, {value: 'b0', partition: 1}, {value: 'a1', partition: 0}, {value: 'b1', partition: 1}]}],
  } as never)
  return {answer: answer as {partition: number}[], written}
}

describe("a send() whose partition's leader dies mid-send", () => {
  it("kafkajs' own sendMessages resolves without writing partition 1 (the bug this module replaces)", async () => {
    const {answer, written} = await run(kafkajsSendMessages)
    expect(written.filter((w) => w.partition === 1)).toEqual([])
    expect(answer.map((a) => a.partition)).toEqual([0])
  })

  it('the replacement writes partition 1 to its new leader, once, and answers for both partitions', async () => {
    const {answer, written} = await run(ours)
    expect(written).toEqual([
      {broker: 1, partition: 0, values: ['a0', 'a1']},
      {broker: 1, partition: 1, values: ['b0', 'b1']},
    ])
    expect(answer.map((a) => a.partition).sort()).toEqual([0, 1])
  })
})

/**
 * An idempotent producer, two sends for partition 0 at once: the first is in flight to broker 2
 * when the controller moves the partition to broker 1, and fails later; the second starts
 * meanwhile. Returns the batches broker 1 received, in order, with their first sequence numbers.
 */
async function concurrentSends(createSendMessages: (deps: never) => (request: never) => Promise<unknown[]>) {
  let leader = 2
  let failFirst!: () => void
  const firstFailed = new Promise<void>((resolve) => (failFirst = resolve))
  const received: {partition: number; firstSequence: number; values: string[]}[] = []
  let reachedBroker2!: () => void
  const atBroker2 = new Promise<void>((resolve) => (reachedBroker2 = resolve))
  const broker = (nodeId: number) => ({
    nodeId,
    async produce({topicData}: {topicData: {topic: string; partitions: {partition: number; firstSequence: number; messages: {value: string}[]}[]}[]}) {
      if (nodeId === 2) {
        leader = 1
        reachedBroker2()
        await firstFailed
        throw new KafkaJSConnectionClosedError('Connection closed', {host: 'broker2', port: 9092})
      }
      for (const {partitions} of topicData) for (const {partition, firstSequence, messages} of partitions) received.push({partition, firstSequence, values: messages.map((m) => m.value)})
      return {topics: topicData.map(({topic, partitions}) => ({topicName: topic, partitions: partitions.map(({partition}) => ({partition, errorCode: 0, baseOffset: '0', logAppendTime: '-1', logStartOffset: '0'}))}))}
    },
  })
  const brokers = {1: broker(1), 2: broker(2)}
  const cluster = {
    targetTopics: new Set(['t']),
    async refreshMetadataIfNecessary() {},
    async refreshMetadata() {},
    async addMultipleTargetTopics() {},
    findTopicPartitionMetadata: () => [{partitionId: 0, leader}],
    findLeaderForPartitions: (_topic: string, partitions: string[]) => ({[leader]: partitions.map(Number)}),
    async findBroker({nodeId}: {nodeId: string | number}) {
      return brokers[Number(nodeId) as 1 | 2]
    },
    removeBroker() {},
    isConnected: () => true,
    async connect() {},
  }
  let sequence = 0
  const locks = new Map<number, Promise<void>>()
  const eosManager = {
    // kafkajs' own: a lock per broker.
    async acquireBrokerLock(b: {nodeId: number}) {
      while (locks.has(b.nodeId)) await locks.get(b.nodeId)
      let release!: () => void
      locks.set(b.nodeId, new Promise<void>((resolve) => (release = resolve)))
      ;(b as {release?: () => void}).release = () => {
        locks.delete(b.nodeId)
        release()
      }
    },
    async releaseBrokerLock(b: {release?: () => void}) {
      b.release?.()
    },
    isInitialized: () => true,
    isTransactional: () => false,
    getSequence: () => sequence,
    updateSequence: (_t: string, _p: number, increment: number) => {
      sequence += increment
    },
    getProducerId: () => 1,
    getProducerEpoch: () => 0,
    getTransactionalId: () => undefined,
  }
  const logger = {debug: () => undefined, error: () => undefined, info: () => undefined, warn: () => undefined}
  const retrier = createRetry({retries: 3, initialRetryTime: 1, maxRetryTime: 5})
  const send = createSendMessages({logger, cluster, partitioner: () => 0, eosManager, retrier} as never)
  const batch = (values: string[]) => send({acks: -1, timeout: 30_000, topicMessages: [{topic: 't', messages: values.map((value) => ({value}))}]} as never)
  const first = batch(['a0', 'a1'])
  await atBroker2
  const second = batch(['b0', 'b1'])
  await new Promise((resolve) => setTimeout(resolve, 20)) // let the second go as far as it can
  failFirst()
  await Promise.all([first, second])
  return received
}

describe("an idempotent producer's concurrent sends across a leader change", () => {
  it("kafkajs' own gives the second send the next sequence numbers and sends it to the new leader first (OUT_OF_ORDER_SEQUENCE_NUMBER there)", async () => {
    const received = await concurrentSends(kafkajsSendMessages)
    expect(received[0]).toMatchObject({values: ['b0', 'b1'], firstSequence: 2})
  })

  it('the replacement holds the partition: the first send is retried with its numbers, then the second follows them', async () => {
    expect(await concurrentSends(ours)).toEqual([
      {partition: 0, firstSequence: 0, values: ['a0', 'a1']},
      {partition: 0, firstSequence: 2, values: ['b0', 'b1']},
    ])
  })
})
