/**
 * kafkajs 2.2.4's `producer/sendMessages.js`, with its acknowledgements kept per partition instead
 * of per broker — installed in its place by kafkajs-patches.ts.
 *
 * Why: kafkajs remembers, across the retries of one send(), which *brokers* answered, and on a
 * retry sends only to brokers that have not. When a partition's leader dies and its new leader
 * is a broker that already answered for other partitions, that partition's records are never
 * sent again, and send() resolves as if they had been written: acknowledged records are lost
 * (kafkajs issue #1303, open; `npm run chaos`'s broker-kill scenario lost 668 of 180,000). Here:
 * - the records are grouped per partition once, at the first attempt that has metadata, so a
 *   retry cannot move a record to another partition (the default partitioner's round-robin for
 *   records without a key would);
 * - each partition is marked done when a broker acknowledges it, and a retry sends every
 *   partition not yet done to its leader of now, whichever broker that is;
 * - a failed attempt waits for its other requests to settle before the retry, so a request still
 *   in flight cannot be sent twice;
 * - a partition with no leader in the metadata fails the attempt (retried after a metadata
 *   refresh) where kafkajs' findLeaderForPartitions would skip it silently;
 * - an idempotent producer's sends hold their partitions, through their retries, until they
 *   end. kafkajs takes a lock per broker only, so during a leader change a second send could take
 *   the next sequence numbers of a partition and reach its new leader while the first was still
 *   in flight to the old one: the new leader refused it (OUT_OF_ORDER_SEQUENCE_NUMBER), and the
 *   first's retry then reused numbers the second had taken. The number of a batch is now always
 *   the one after the batch acknowledged before it.
 * Everything else — the idempotent producer's sequence numbers, transactions, the broker locks,
 * the retry and metadata handling of failures — is kafkajs' own, in the same order.
 */
import {createRequire} from 'node:module'

import {groupMessagesPerPartition} from './kafkajs-grouping.js'

/* eslint-disable @typescript-eslint/no-explicit-any -- kafkajs' internal objects are untyped */
type Any = any

export function sendMessagesFactory(kafkajsIndex: string): (deps: Any) => (request: Any) => Promise<Any[]> {
  const kafkajs = createRequire(kafkajsIndex)
  const {KafkaJSMetadataNotLoaded} = kafkajs('./src/errors')
  const {staleMetadata} = kafkajs('./src/protocol/error')
  const createTopicData = kafkajs('./src/producer/createTopicData')
  const responseSerializer = kafkajs('./src/producer/responseSerializer')
  const partitionKey = (topic: string, partition: number | string) => `${topic}\u0000${Number(partition)}`

  return ({logger, cluster, partitioner, eosManager, retrier}: Any) => {
    const partitionLocks = new PartitionLocks()
    return async ({acks, timeout, compression, topicMessages}: Any): Promise<Any[]> => {
      // topic → partition → its records: fixed once made.
      const grouped = new Map<string, Record<number, unknown[]>>()
      // topic + partition → the answer for it (null under acks=0, which has none).
      const acknowledged = new Map<string, Any>()
      let unlock: (() => void) | undefined
      // One entry per topic: kafkajs kept only the last of two entries naming the same topic.
      const messagesPerTopic = new Map<string, unknown[]>()
      for (const {topic, messages} of topicMessages as {topic: string; messages: unknown[]}[]) {
        messagesPerTopic.set(topic, [...(messagesPerTopic.get(topic) ?? []), ...messages])
      }

      const attempt = async (): Promise<void> => {
        await cluster.refreshMetadataIfNecessary()
        for (const [topic, messages] of messagesPerTopic) {
          if (grouped.has(topic)) continue
          const partitionMetadata = cluster.findTopicPartitionMetadata(topic)
          if (partitionMetadata.length === 0) {
            logger.debug('Producing to topic without metadata', {topic, targetTopics: [...cluster.targetTopics]})
            throw new KafkaJSMetadataNotLoaded('Producing to topic without metadata')
          }
          grouped.set(topic, groupMessagesPerPartition({topic, partitionMetadata, messages, partitioner}))
        }
        if (unlock === undefined && eosManager.isInitialized()) {
          unlock = await partitionLocks.acquire([...grouped].flatMap(([topic, perPartition]) => Object.keys(perPartition).map((p) => partitionKey(topic, p))))
        }
        const perBroker = new Map<Any, {topic: string; partitions: number[]; messagesPerPartition: Record<number, unknown[]>}[]>()
        for (const [topic, messagesPerPartition] of grouped) {
          const pending = Object.keys(messagesPerPartition).filter((p) => !acknowledged.has(partitionKey(topic, p)))
          if (pending.length === 0) continue
          const partitionsPerLeader: Record<string, number[]> = cluster.findLeaderForPartitions(topic, pending)
          const led = Object.entries(partitionsPerLeader).filter(([nodeId]) => Number(nodeId) >= 0)
          if (led.reduce((n, [, partitions]) => n + partitions.length, 0) < pending.length) {
            throw new KafkaJSMetadataNotLoaded(`Partitions of ${topic} without a leader in the metadata`)
          }
          for (const [nodeId, partitions] of led) {
            const broker = await cluster.findBroker({nodeId})
            if (!perBroker.has(broker)) perBroker.set(broker, [])
            perBroker.get(broker)!.push({topic, partitions, messagesPerPartition})
          }
        }

        const requests = [...perBroker].map(async ([broker, topicDataForBroker]) => {
          const topicData = createTopicData(topicDataForBroker)
          await eosManager.acquireBrokerLock(broker)
          try {
            if (eosManager.isTransactional()) await eosManager.addPartitionsToTransaction(topicData)
            for (const {topic, partitions} of topicData) {
              for (const entry of partitions) {
                entry.firstSequence = eosManager.getSequence(topic, entry.partition)
                eosManager.updateSequence(topic, entry.partition, entry.messages.length)
              }
            }
            let response
            try {
              response = await broker.produce({
                transactionalId: eosManager.isTransactional() ? eosManager.getTransactionalId() : undefined,
                producerId: eosManager.getProducerId(),
                producerEpoch: eosManager.getProducerEpoch(),
                acks,
                timeout,
                compression,
                topicData,
              })
            } catch (error) {
              for (const {topic, partitions} of topicData) {
                for (const entry of partitions) eosManager.updateSequence(topic, entry.partition, -entry.messages.length)
              }
              throw error
            }
            if (acks !== 0) {
              for (const entry of responseSerializer(response)) acknowledged.set(partitionKey(entry.topicName, entry.partition), entry)
            } else {
              for (const {topic, partitions} of topicData) for (const entry of partitions) acknowledged.set(partitionKey(topic, entry.partition), null)
            }
          } finally {
            await eosManager.releaseBrokerLock(broker)
          }
        })
        const settled = await Promise.allSettled(requests)
        const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')
        if (failed) throw failed.reason
      }

      try {
        return await retrier(async (bail: (error: unknown) => void, retryCount: number, retryTime: number) => {
          await cluster.addMultipleTargetTopics([...messagesPerTopic.keys()])
          try {
            await attempt()
            return [...acknowledged.values()].filter((entry) => entry !== null)
          } catch (error: Any) {
            if (error.name === 'KafkaJSConnectionClosedError') cluster.removeBroker({host: error.host, port: error.port})
            if (!cluster.isConnected()) {
              logger.debug(`Cluster has disconnected, reconnecting: ${error.message}`, {retryCount, retryTime})
              await cluster.connect()
              await cluster.refreshMetadata()
              throw error
            }
            // Stale metadata (a leader moved, partitions were added): refresh, then retry.
            if (
              staleMetadata(error) ||
              error.name === 'KafkaJSMetadataNotLoaded' ||
              error.name === 'KafkaJSConnectionError' ||
              error.name === 'KafkaJSConnectionClosedError' ||
              (error.name === 'KafkaJSProtocolError' && error.retriable)
            ) {
              logger.error(`Failed to send messages: ${error.message}`, {retryCount, retryTime})
              await cluster.refreshMetadata()
              throw error
            }
            logger.error(`${error.message}`, {retryCount, retryTime})
            if (error.retriable) throw error
            bail(error)
            return []
          }
        })
      } finally {
        unlock?.()
      }
    }
  }
}

/** First come, first served locks on partitions; a holder of several took them in one order. */
class PartitionLocks {
  private readonly tails = new Map<string, Promise<void>>()

  async acquire(keys: string[]): Promise<() => void> {
    const releases: (() => void)[] = []
    for (const key of [...new Set(keys)].sort()) {
      const previous = this.tails.get(key) ?? Promise.resolve()
      let release!: () => void
      const held = new Promise<void>((resolve) => (release = resolve))
      const tail = previous.then(() => held)
      this.tails.set(key, tail)
      await previous
      releases.push(() => {
        release()
        if (this.tails.get(key) === tail) this.tails.delete(key)
      })
    }
    return () => {
      for (const release of releases) release()
    }
  }
}
