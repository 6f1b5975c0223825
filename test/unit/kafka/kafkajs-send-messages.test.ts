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
