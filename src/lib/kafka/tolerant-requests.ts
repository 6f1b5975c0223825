/**
 * Metadata, ListOffsets and DescribeConfigs sent straight to a broker, keeping per-partition and
 * per-resource errors in the answer instead of throwing them.
 *
 * Why not kafkajs' admin: kafkajs 2.2.4 throws on the first partition error of a Metadata
 * response (`protocol/requests/metadata/v0/response.js` parse), so a single partition without a
 * leader (LEADER_NOT_AVAILABLE) makes `fetchTopicMetadata`, `describeCluster`, `describeConfigs`
 * and `fetchTopicOffsets` fail after their retries (tulios/kafkajs#639) — exactly when
 * `kpipe health` must describe the cluster. It also asks for every topic when given none (its
 * encoder writes an empty topic list as null). Here the requests are kafkajs' own encoders and
 * decoders, sent on a connection kafkajs made (TLS, SASL, API version negotiation included), only
 * without the parse step that throws. This reaches into kafkajs internals: the version is pinned
 * (package.json), and test/e2e/health.test.ts exercises every request against a real cluster with
 * an offline partition.
 */
import {createRequire} from 'node:module'

import type {Kafka} from 'kafkajs'

import type {KpipeConfig} from '../config.js'
import {InternalError} from '../errors.js'
import {createKafka, type KafkaClientOptions} from './client.js'

const require = createRequire(import.meta.url)

interface ProtocolDefinition {
  versions: string[]
  protocol: (options: {version: number}) => (args: unknown) => {request: unknown; response: {decode(payload: Buffer): Promise<unknown>}}
}
/** The group requests of kafkajs' Broker: sent to this broker alone, never a metadata refresh. */
interface RawGroupRequests {
  listGroups(): Promise<{groups: {groupId: string; protocolType: string}[]}>
  findGroupCoordinator(args: {groupId: string; coordinatorType: number}): Promise<{coordinator: {nodeId: number; host: string; port: number}}>
  describeGroups(args: {groupIds: string[]}): Promise<{groups: RawGroupDescription[]}>
  offsetFetch(args: {groupId: string; topics: []}): Promise<{responses: {topic: string; partitions: {partition: number; offset: string}[]}[]}>
}

export interface RawGroupDescription {
  errorCode: number
  groupId: string
  state: string
  protocolType: string
  members: {memberId: string; clientId: string; clientHost: string; memberAssignment: Buffer}[]
}

interface RawBroker extends RawGroupRequests {
  lookupRequest(apiKey: number, definition: ProtocolDefinition): (args: unknown) => {request: unknown; response: {decode(payload: Buffer): Promise<unknown>}}
  connectionPool: {send(request: {request: unknown; response: {decode(payload: Buffer): Promise<unknown>; parse(data: unknown): Promise<unknown>}}): Promise<unknown>}
}
interface RawCluster {
  connect(): Promise<void>
  disconnect(): Promise<void>
  brokerPool: {seedBroker?: RawBroker}
}

type ApiName = 'Metadata' | 'ListOffsets' | 'DescribeConfigs' | 'Fetch'
const apiKeys = require('kafkajs/src/protocol/requests/apiKeys') as Record<ApiName, number>
const {requests} = require('kafkajs/src/protocol/requests') as {requests: Record<ApiName, ProtocolDefinition>}

// ---------------------------------------------------------------------------------------------
// Decoded answers (the fields kpipe reads)

export interface MetadataAnswer {
  brokers: {nodeId: number; host: string; port: number; rack?: string | null}[]
  clusterId?: string | null
  controllerId?: number
  topicMetadata: {
    topicErrorCode: number
    topic: string
    isInternal?: boolean
    partitionMetadata: {partitionErrorCode: number; partitionId: number; leader: number; replicas: number[]; isr: number[]; offlineReplicas?: number[]}[]
  }[]
}

export interface ListOffsetsAnswer {
  responses: {topic: string; partitions: {partition: number; errorCode: number; offset?: string; offsets?: string[]}[]}[]
}

export interface FetchAnswer {
  responses: {topicName: string; partitions: {partition: number; errorCode: number; messages: {offset: string; timestamp: string}[]}[]}[]
}

export interface DescribeConfigsAnswer {
  resources: {
    errorCode: number
    errorMessage: string | null
    resourceType: number
    resourceName: string
    configEntries: {configName: string; configValue: string | null; isDefault?: boolean; configSource?: number}[]
  }[]
}

/** Kafka's error code for a topic the cluster does not have. */
export const UNKNOWN_TOPIC_OR_PARTITION = 3
/** kafkajs' ConfigResourceTypes. */
export const RESOURCE_TOPIC = 2
export const RESOURCE_BROKER = 4
/** ListOffsets' "latest" and "earliest" timestamps. */
const LATEST = -1
const EARLIEST = -2
const READ_UNCOMMITTED = 0

// ---------------------------------------------------------------------------------------------
// Connections

/** One connected broker (the first of `brokers` that answers, with kafkajs' rotation and retries). */
export class BrokerLink {
  private constructor(
    private readonly cluster: RawCluster,
    private readonly broker: RawBroker,
  ) {}

  static async connect(kafka: KpipeConfig['kafka'], options: KafkaClientOptions & {brokers?: string[]} = {}): Promise<BrokerLink> {
    const client = createKafka(options.brokers ? {...kafka, brokers: options.brokers} : kafka, options)
    const cluster = rawCluster(client)
    await cluster.connect()
    const broker = cluster.brokerPool.seedBroker
    if (!broker) throw new InternalError('kafkajs connected without a seed broker.')
    return new BrokerLink(cluster, broker)
  }

  /** All topics when `topics` is empty. Topic and partition errors stay in the answer. */
  metadata(topics: string[] = []): Promise<MetadataAnswer> {
    return this.send<MetadataAnswer>(apiKeys.Metadata, requests.Metadata, {topics, allowAutoTopicCreation: false})
  }

  /** The latest offset (high watermark) of each partition; a partition error stays in the answer. */
  endOffsets(partitions: {topic: string; partition: number}[]): Promise<{topic: string; partition: number; offset: string | null}[]> {
    return this.logOffsets(partitions, 'latest')
  }

  /** The log start (earliest) or end (latest) offset of each partition this broker leads. */
  async logOffsets(partitions: {topic: string; partition: number}[], which: 'earliest' | 'latest'): Promise<{topic: string; partition: number; offset: string | null}[]> {
    const byTopic = new Map<string, number[]>()
    for (const p of partitions) byTopic.set(p.topic, [...(byTopic.get(p.topic) ?? []), p.partition])
    const timestamp = which === 'latest' ? LATEST : EARLIEST
    const answer = await this.send<ListOffsetsAnswer>(apiKeys.ListOffsets, requests.ListOffsets, {
      replicaId: -1,
      isolationLevel: READ_UNCOMMITTED,
      topics: [...byTopic].map(([topic, ids]) => ({topic, partitions: ids.map((partition) => ({partition, timestamp}))})),
    })
    return answer.responses.flatMap((r) =>
      r.partitions.map((p) => ({
        topic: r.topic,
        partition: p.partition,
        // ListOffsets v0 answers a list of offsets, v1 and later one.
        offset: p.errorCode === 0 ? (p.offset ?? p.offsets?.at(-1) ?? null) : null,
      })),
    )
  }

  /**
   * The timestamp of the first record at or after each position, from one Fetch request (read
   * committed, no waiting): null for a partition with an error or nothing there. This broker must
   * lead the partitions asked for; kafkajs has no group-less read (no assign()) to do it with.
   */
  async recordTimestamps(positions: {topic: string; partition: number; offset: bigint}[]): Promise<Map<string, number | null>> {
    const byTopic = new Map<string, {partition: number; fetchOffset: string; maxBytes: number}[]>()
    for (const p of positions) byTopic.set(p.topic, [...(byTopic.get(p.topic) ?? []), {partition: p.partition, fetchOffset: p.offset.toString(), maxBytes: 16_384}])
    const answer = await this.send<FetchAnswer>(apiKeys.Fetch, requests.Fetch, {
      replicaId: -1,
      isolationLevel: 1,
      maxWaitTime: 0,
      minBytes: 0,
      maxBytes: 4 * 1024 * 1024,
      topics: [...byTopic].map(([topic, partitions]) => ({topic, partitions})),
    })
    const wanted = new Map(positions.map((p) => [`${p.topic}\u0000${p.partition}`, p.offset]))
    const found = new Map<string, number | null>()
    for (const r of answer.responses) {
      for (const p of r.partitions) {
        const key = `${r.topicName}\u0000${p.partition}`
        const from = wanted.get(key)
        // A fetch returns whole batches: the first record may sit before the position asked for.
        const record = p.errorCode === 0 && from !== undefined ? p.messages.find((m) => BigInt(m.offset) >= from) : undefined
        const time = record === undefined ? Number.NaN : Number(record.timestamp)
        found.set(key, Number.isFinite(time) && time > 0 ? time : null)
      }
    }
    return found
  }

  /** The groups this broker coordinates (ListGroups answers only for its own). */
  async listGroups(): Promise<{groupId: string; protocolType: string}[]> {
    return (await this.broker.listGroups()).groups
  }

  /** Where a group's coordinator is (FindCoordinator, asked of this broker). */
  async findCoordinator(groupId: string): Promise<{nodeId: number; host: string; port: number}> {
    return (await this.broker.findGroupCoordinator({groupId, coordinatorType: 0})).coordinator
  }

  /** DescribeGroups; this broker must coordinate the groups. */
  async describeGroups(groupIds: string[]): Promise<RawGroupDescription[]> {
    return (await this.broker.describeGroups({groupIds})).groups
  }

  /** Every committed offset of a group (OffsetFetch without topics); this broker must coordinate it. */
  async committedOffsets(groupId: string): Promise<{topic: string; partitions: {partition: number; offset: string}[]}[]> {
    return (await this.broker.offsetFetch({groupId, topics: []})).responses
  }

  /** One DescribeConfigs request; a resource's error stays in the answer. */
  describeConfigs(resources: {type: number; name: string; configNames?: string[]}[]): Promise<DescribeConfigsAnswer> {
    return this.send<DescribeConfigsAnswer>(apiKeys.DescribeConfigs, requests.DescribeConfigs, {resources, includeSynonyms: false})
  }

  async close(): Promise<void> {
    await this.cluster.disconnect().catch(() => undefined)
  }

  private async send<T>(apiKey: number, definition: ProtocolDefinition, args: unknown): Promise<T> {
    const {request, response} = this.broker.lookupRequest(apiKey, definition)(args)
    return (await this.broker.connectionPool.send({request, response: {decode: (payload) => response.decode(payload), parse: async (data) => data}})) as T
  }
}

/** kafkajs' Cluster for this client: the same factory its admin, producer and consumer use. */
function rawCluster(client: Kafka): RawCluster {
  const factory = Object.getOwnPropertySymbols(client).find((s) => s.description === 'private:Kafka:createCluster')
  const create = factory === undefined ? undefined : (client as unknown as Record<symbol, unknown>)[factory]
  if (typeof create !== 'function') {
    throw new InternalError('This kafkajs version does not build clusters the way kpipe expects (kafkajs 2.2.4 is required).')
  }
  return (create as (options: object) => RawCluster)({allowAutoTopicCreation: false})
}
