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
 *   refresh) where kafkajs' findLeaderForPartitions would skip it silently.
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
  const done = (topic: string, partition: number | string) => `${topic}\u0000${Number(partition)}`

  return ({logger, cluster, partitioner, eosManager, retrier}: Any) =>
    async ({acks, timeout, compression, topicMessages}: Any): Promise<Any[]> => {
      // topic → partition → its records: fixed once made.
      const grouped = new Map<string, Record<number, unknown[]>>()
      // topic + partition → the answer for it (null under acks=0, which has none).
      const acknowledged = new Map<string, Any>()

      const attempt = async (): Promise<void> => {
        await cluster.refreshMetadataIfNecessary()
        const perBroker = new Map<Any, {topic: string; partitions: number[]; messagesPerPartition: Record<number, unknown[]>}[]>()
        for (const {topic, messages} of topicMessages as {topic: string; messages: unknown[]}[]) {
          let messagesPerPartition = grouped.get(topic)
          if (messagesPerPartition === undefined) {
            const partitionMetadata = cluster.findTopicPartitionMetadata(topic)
            if (partitionMetadata.length === 0) {
              logger.debug('Producing to topic without metadata', {topic, targetTopics: [...cluster.targetTopics]})
              throw new KafkaJSMetadataNotLoaded('Producing to topic without metadata')
            }
            messagesPerPartition = groupMessagesPerPartition({topic, partitionMetadata, messages, partitioner})
            grouped.set(topic, messagesPerPartition)
          }
          const pending = Object.keys(messagesPerPartition).filter((p) => !acknowledged.has(done(topic, p)))
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
              for (const entry of responseSerializer(response)) acknowledged.set(done(entry.topicName, entry.partition), entry)
            } else {
              for (const {topic, partitions} of topicData) for (const entry of partitions) acknowledged.set(done(topic, entry.partition), null)
            }
          } finally {
            await eosManager.releaseBrokerLock(broker)
          }
        })
        const settled = await Promise.allSettled(requests)
        const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')
        if (failed) throw failed.reason
      }

      return retrier(async (bail: (error: unknown) => void, retryCount: number, retryTime: number) => {
        await cluster.addMultipleTargetTopics((topicMessages as {topic: string}[]).map(({topic}) => topic))
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
    }
}
