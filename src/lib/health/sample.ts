/**
 * `kpipe health`, the Kafka edge: one sample of the cluster for the pure core in
 * cluster-health.ts. Requests are batched: one Metadata request for every topic, one
 * DescribeConfigs request for every topic's min.insync.replicas (with the broker's own value as the
 * fallback), and per offset sample one ListOffsets request per leader broker.
 */
import {setTimeout as sleep} from 'node:timers/promises'

import type {KpipeConfig} from '../config.js'
import {kafkaDependencyError} from '../error-classify.js'
import type {KafkaClientOptions} from '../kafka/client.js'
import {BrokerLink, type MetadataAnswer, RESOURCE_BROKER, RESOURCE_TOPIC, UNKNOWN_TOPIC_OR_PARTITION} from '../kafka/tolerant-requests.js'
import {type ClusterSample, isInternalTopic, type OffsetSample, type TopicInput} from './cluster-health.js'

export interface SampleClusterOptions {
  kafka: KpipeConfig['kafka']
  /** Restrict the topic checks to these; every topic (internal ones too) when empty. */
  topics?: string[]
  /** Time between the two end-offset samples; 0 samples no rates. */
  sampleMs: number
  debug?: boolean
  /** Called once the metadata is in, just before the offset sampling starts. */
  onSampling?: (sampleMs: number) => void
}

const MIN_ISR = 'min.insync.replicas'
const IMBALANCE = 'leader.imbalance.per.broker.percentage'

export async function sampleCluster(options: SampleClusterOptions): Promise<ClusterSample> {
  const clientOptions: KafkaClientOptions = {
    debug: options.debug,
    onLog: options.debug ? (entry) => process.stderr.write(`[kafkajs ${entry.level}] ${entry.namespace}: ${entry.message}\n`) : undefined,
  }
  const links = new Map<number, Promise<BrokerLink>>()
  try {
    const bootstrap = await BrokerLink.connect(options.kafka, clientOptions)
    let metadata: MetadataAnswer
    try {
      metadata = await bootstrap.metadata([...new Set(options.topics ?? [])])
    } finally {
      await bootstrap.close()
    }
    const addresses = new Map(metadata.brokers.map((b) => [b.nodeId, `${b.host}:${b.port}`]))
    const linkTo = (nodeId: number): Promise<BrokerLink> => {
      let link = links.get(nodeId)
      if (!link) links.set(nodeId, (link = BrokerLink.connect(options.kafka, {...clientOptions, brokers: [addresses.get(nodeId)!]})))
      return link
    }

    const present = metadata.topicMetadata.filter((t) => t.topicErrorCode === 0)
    const configs = await describeConfigs(
      present.map((t) => t.topic),
      metadata,
      linkTo,
    )
    const topics: TopicInput[] = metadata.topicMetadata.map((t) => ({
      name: t.topic,
      internal: t.isInternal ?? false,
      missing: t.topicErrorCode === UNKNOWN_TOPIC_OR_PARTITION,
      minInsyncReplicas: configs.minInsyncReplicas.get(t.topic) ?? null,
      partitions: t.partitionMetadata.map((p) => ({
        partition: p.partitionId,
        leader: p.leader,
        replicas: p.replicas,
        isr: p.isr,
        offlineReplicas: p.offlineReplicas ?? [],
      })),
    }))

    const offsets: OffsetSample[] = []
    if (options.sampleMs > 0) {
      const rated = topics.filter((t) => !t.missing && !isInternalTopic(t))
      options.onSampling?.(options.sampleMs)
      offsets.push(await sampleEndOffsets(rated, addresses, linkTo))
      await sleep(options.sampleMs)
      offsets.push(await sampleEndOffsets(rated, addresses, linkTo))
    }
    const controllerId = metadata.controllerId ?? -1
    return {
      clusterId: metadata.clusterId ?? null,
      brokers: metadata.brokers.map((b) => ({id: b.nodeId, host: b.host, port: b.port, rack: b.rack ?? null})),
      controllerId: controllerId >= 0 ? controllerId : null,
      topics,
      offsets,
      leaderImbalancePercentage: configs.leaderImbalancePercentage,
    }
  } catch (error) {
    throw kafkaDependencyError(error) ?? error
  } finally {
    await Promise.all([...links.values()].map((link) => link.then((l) => l.close()).catch(() => undefined)))
  }
}

/**
 * Every topic's effective min.insync.replicas in one DescribeConfigs request, to one live broker,
 * with that broker's own values in the same request: a topic the answer lacks (deleted meanwhile,
 * or an error for that resource) gets the broker's min.insync.replicas, as Kafka itself would
 * apply, and the broker's leader.imbalance.per.broker.percentage sets the imbalance threshold.
 */
async function describeConfigs(
  topics: string[],
  metadata: MetadataAnswer,
  linkTo: (nodeId: number) => Promise<BrokerLink>,
): Promise<{minInsyncReplicas: Map<string, number>; leaderImbalancePercentage: number | null}> {
  const minInsyncReplicas = new Map<string, number>()
  const broker = [...metadata.brokers].sort((a, b) => a.nodeId - b.nodeId)[0]
  if (!broker) return {minInsyncReplicas, leaderImbalancePercentage: null}
  const answer = await (
    await linkTo(broker.nodeId)
  ).describeConfigs([
    ...topics.map((name) => ({type: RESOURCE_TOPIC, name, configNames: [MIN_ISR]})),
    {type: RESOURCE_BROKER, name: String(broker.nodeId), configNames: [MIN_ISR, IMBALANCE]},
  ])
  const valueOf = (resource: (typeof answer.resources)[number] | undefined, name: string, min: number) => {
    if (!resource || resource.errorCode !== 0) return undefined
    const value = Number(resource.configEntries.find((e) => e.configName === name)?.configValue ?? Number.NaN)
    return Number.isInteger(value) && value >= min ? value : undefined
  }
  const brokerResource = answer.resources.find((r) => r.resourceType === RESOURCE_BROKER)
  const brokerMinIsr = valueOf(brokerResource, MIN_ISR, 1)
  const byTopic = new Map(answer.resources.filter((r) => r.resourceType === RESOURCE_TOPIC).map((r) => [r.resourceName, r]))
  for (const topic of topics) {
    const value = valueOf(byTopic.get(topic), MIN_ISR, 1) ?? brokerMinIsr
    if (value !== undefined) minInsyncReplicas.set(topic, value)
  }
  return {minInsyncReplicas, leaderImbalancePercentage: valueOf(brokerResource, IMBALANCE, 0) ?? null}
}

/**
 * End offsets of every partition that has a leader, one ListOffsets request per leader, in
 * parallel. A leader that fails to answer (it is stopping) leaves its partitions out of this
 * sample rather than failing the whole check: the metadata already tells what is wrong.
 */
async function sampleEndOffsets(topics: TopicInput[], addresses: Map<number, string>, linkTo: (nodeId: number) => Promise<BrokerLink>): Promise<OffsetSample> {
  const byLeader = new Map<number, {topic: string; partition: number}[]>()
  for (const t of topics) {
    for (const p of t.partitions) {
      if (p.leader === null || p.leader < 0 || !addresses.has(p.leader)) continue
      byLeader.set(p.leader, [...(byLeader.get(p.leader) ?? []), {topic: t.name, partition: p.partition}])
    }
  }
  const atMs = Date.now()
  const answers = await Promise.all(
    [...byLeader].map(async ([leader, partitions]) => {
      try {
        return await (await linkTo(leader)).endOffsets(partitions)
      } catch {
        return []
      }
    }),
  )
  const endOffsets = answers.flat().flatMap((o) => (o.offset === null ? [] : [{topic: o.topic, partition: o.partition, offset: o.offset}]))
  return {atMs, endOffsets}
}
