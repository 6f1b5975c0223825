/**
 * Declarative topics, the Kafka edge: read the cluster's state into the plan's plain types,
 * and carry out a plan (validated in full first, so a plan Kafka refuses changes nothing).
 */
import kafkajs, {type Admin, type ITopicMetadata} from 'kafkajs'

import {kafkaDependencyError} from '../error-classify.js'
import {CheckFailedError, ConfigError, KpipeError, UsageError} from '../errors.js'
import type {ActualConfig, ActualTopic, TopicAction, TopicPlan} from './topic-plan.js'

// kafkajs is CommonJS: its enums come from the default export under ESM.
const {ConfigResourceTypes} = kafkajs

/** kafkajs' ConfigSource code for a config set on the topic itself. */
const TOPIC_CONFIG_SOURCE = 1
const CONFIG_SOURCE_NAMES: Record<number, string> = {
  0: 'unknown',
  1: 'topic',
  2: 'dynamic-broker',
  3: 'dynamic-default-broker',
  4: 'static-broker',
  5: 'default',
  6: 'broker-logger',
}

export interface ClusterState {
  brokerCount: number
  topics: Map<string, ActualTopic>
}

export async function readCluster(admin: Admin): Promise<ClusterState> {
  const [cluster, names] = await Promise.all([admin.describeCluster(), admin.listTopics()])
  const topics = new Map<string, ActualTopic>()
  if (names.length > 0) {
    const [metadata, configs] = await Promise.all([admin.fetchTopicMetadata({topics: names}), describeTopicConfigs(admin, names)])
    for (const topic of metadata.topics) {
      topics.set(topic.name, {
        name: topic.name,
        partitions: topic.partitions.length,
        replicationFactor: replicationFactorOf(topic),
        configs: configs.get(topic.name) ?? {},
      })
    }
  }
  return {brokerCount: cluster.brokers.length, topics}
}

function replicationFactorOf(topic: ITopicMetadata): number {
  return Math.max(0, ...topic.partitions.map((p) => p.replicas.length))
}

export interface DescribedConfig extends ActualConfig {
  source: string
  readOnly: boolean
  sensitive: boolean
}

async function describeTopicConfigs(admin: Admin, names: string[]): Promise<Map<string, Record<string, DescribedConfig>>> {
  const result = await admin.describeConfigs({
    includeSynonyms: false,
    resources: names.map((name) => ({type: ConfigResourceTypes.TOPIC, name})),
  })
  const byTopic = new Map<string, Record<string, DescribedConfig>>()
  for (const resource of result.resources) {
    const configs: Record<string, DescribedConfig> = {}
    for (const entry of resource.configEntries) {
      const source = (entry as {configSource?: number}).configSource ?? (entry.isDefault ? 5 : TOPIC_CONFIG_SOURCE)
      configs[entry.configName] = {
        value: entry.configValue ?? null,
        isTopicOverride: source === TOPIC_CONFIG_SOURCE,
        source: CONFIG_SOURCE_NAMES[source] ?? String(source),
        readOnly: entry.readOnly,
        sensitive: entry.isSensitive,
      }
    }
    byTopic.set(resource.resourceName, configs)
  }
  return byTopic
}

/**
 * Carries out a plan. Every step is first sent with validateOnly, so a config Kafka rejects
 * (a misspelt key, a bad value) fails the whole apply before anything changes.
 */
export async function applyPlan(admin: Admin, plan: TopicPlan, options: {timeoutMs?: number} = {}): Promise<TopicAction[]> {
  if (plan.refusals.length > 0) {
    const first = plan.refusals[0]!
    throw new CheckFailedError(`Refusing to apply: ${first.reason}.`, {
      hint: plan.refusals.length > 1 ? `${plan.refusals.length} changes were refused; run kpipe topics plan to see them all.` : 'Nothing was changed.',
    })
  }
  const timeout = options.timeoutMs ?? 30_000
  const creates = plan.actions.filter((a) => a.kind === 'create')
  const partitions = plan.actions.filter((a) => a.kind === 'add-partitions')
  const alters = plan.actions.filter((a) => a.kind === 'alter-configs')

  const createRequest = creates.map((a) => ({
    topic: a.topic,
    numPartitions: a.partitions,
    replicationFactor: a.replicationFactor,
    configEntries: Object.entries(a.configs).map(([name, value]) => ({name, value})),
  }))
  const partitionRequest = partitions.map((a) => ({topic: a.topic, count: a.to}))
  const alterRequest = alters.map((a) => ({
    type: ConfigResourceTypes.TOPIC,
    name: a.topic,
    configEntries: Object.entries(a.fullSet).map(([name, value]) => ({name, value})),
  }))

  await kafkaStep('validate', async () => {
    if (createRequest.length > 0) await admin.createTopics({topics: createRequest, validateOnly: true, waitForLeaders: false, timeout})
    if (partitionRequest.length > 0) await admin.createPartitions({topicPartitions: partitionRequest, validateOnly: true, timeout})
    if (alterRequest.length > 0) await admin.alterConfigs({resources: alterRequest, validateOnly: true})
  })
  // Kafka has no transaction across these three calls. A failure after validation (a broker
  // lost midway) leaves what the earlier calls did in place: the error says what was done, and
  // the next apply plans from the cluster as it is, so running it again finishes the job.
  const done: string[] = []
  const step = async (what: string, count: number, fn: () => Promise<unknown>) => {
    if (count === 0) return
    try {
      await kafkaStep('apply', async () => {
        await fn()
      })
    } catch (error) {
      throw partlyApplied(error, what, done)
    }
    done.push(`${what} (${count})`)
  }
  await step('created topics', createRequest.length, () => admin.createTopics({topics: createRequest, waitForLeaders: true, timeout}))
  await step('raised partitions', partitionRequest.length, () => admin.createPartitions({topicPartitions: partitionRequest, timeout}))
  await step('altered configs', alterRequest.length, () => admin.alterConfigs({resources: alterRequest, validateOnly: false}))
  if (alters.length > 0) await waitForConfigs(admin, alters)
  return plan.actions
}

/**
 * A describe right after AlterConfigs can still return the old values for a few milliseconds
 * (seen on the stack's KRaft broker); wait until the change is visible, so that a `plan` run
 * straight after `apply` agrees with it.
 */
async function waitForConfigs(admin: Admin, alters: Extract<TopicAction, {kind: 'alter-configs'}>[], timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
    const current = await describeTopicConfigs(
      admin,
      alters.map((a) => a.topic),
    )
    const visible = alters.every((a) => a.changes.every((c) => current.get(a.topic)?.[c.key]?.value === c.to))
    if (visible || Date.now() > deadline) return
    await new Promise((resolve) => setTimeout(resolve, delay))
  }
}

/** Turns Kafka's refusal of a request into a sentence naming the topic and the reason. */
/** A failure after some steps succeeded: says which were done, so the operator knows the state. */
function partlyApplied(error: unknown, failed: string, done: string[]): unknown {
  if (done.length === 0) return error
  const known = error instanceof KpipeError ? error : kafkaDependencyError(error)
  const note = ` Already done before it failed: ${done.join(', ')}; run kpipe topics apply again to finish.`
  if (!known) return new Error(`Kafka failed the step "${failed}" (${(error as Error).message}).${note}`, {cause: error})
  return new KpipeError(known.kind, `${known.message}${note}`, {hint: known.hint, cause: error})
}

async function kafkaStep(step: 'validate' | 'apply', fn: () => Promise<void>): Promise<void> {
  try {
    await fn()
  } catch (error) {
    const errors = ((error as {errors?: unknown[]}).errors ?? [error]) as {type?: string; message?: string; topic?: string}[]
    const first = errors[0] ?? {}
    const type = first.type ?? (error as {type?: string}).type
    const detail = first.message ?? (error as Error).message
    const where = first.topic ? ` for ${first.topic}` : ''
    if (type === 'INVALID_CONFIG' || type === 'INVALID_REQUEST' || type === 'POLICY_VIOLATION') {
      throw new ConfigError(`Kafka rejected the topic configuration${where}: ${detail}.`, {
        hint: step === 'validate' ? 'Nothing was changed; fix the topics section of kpipe.yaml.' : undefined,
        cause: error,
      })
    }
    if (type === 'INVALID_REPLICATION_FACTOR' || type === 'INVALID_PARTITIONS') {
      throw new ConfigError(`Kafka rejected the topic layout${where}: ${detail}.`, {
        hint: 'The replication factor cannot exceed the number of brokers; nothing was changed.',
        cause: error,
      })
    }
    throw error
  }
}

export interface TopicSummary {
  name: string
  partitions: number
  replicationFactor: number
  retentionMs: number | null
  cleanupPolicy: string | null
  underReplicatedPartitions: number
  offlinePartitions: number
}

export async function listTopics(admin: Admin, options: {includeInternal?: boolean} = {}): Promise<TopicSummary[]> {
  const names = (await admin.listTopics()).filter((n) => options.includeInternal || !n.startsWith('__')).sort()
  if (names.length === 0) return []
  const [metadata, configs] = await Promise.all([admin.fetchTopicMetadata({topics: names}), describeTopicConfigs(admin, names)])
  return metadata.topics
    .map((topic) => {
      const config = configs.get(topic.name) ?? {}
      const retention = config['retention.ms']?.value
      return {
        name: topic.name,
        partitions: topic.partitions.length,
        replicationFactor: replicationFactorOf(topic),
        retentionMs: retention === undefined || retention === null ? null : Number(retention),
        cleanupPolicy: config['cleanup.policy']?.value ?? null,
        underReplicatedPartitions: topic.partitions.filter((p) => p.isr.length < p.replicas.length).length,
        offlinePartitions: topic.partitions.filter((p) => p.leader < 0).length,
      }
    })
    .sort((a, b) => a.name.localeCompare(b.name))
}

export interface TopicDescription {
  name: string
  partitions: {
    partition: number
    leader: number
    replicas: number[]
    isr: number[]
    offlineReplicas: number[]
    earliestOffset: string
    latestOffset: string
    messages: string
  }[]
  replicationFactor: number
  configs: {name: string; value: string | null; source: string; readOnly: boolean; sensitive: boolean}[]
}

export async function describeTopic(admin: Admin, name: string): Promise<TopicDescription> {
  const names = await admin.listTopics()
  if (!names.includes(name)) {
    throw new UsageError(`Topic "${name}" does not exist.`, {hint: 'List topics with kpipe topics list, or create it with kpipe topics apply.'})
  }
  const [metadata, configs, offsets] = await Promise.all([
    admin.fetchTopicMetadata({topics: [name]}),
    describeTopicConfigs(admin, [name]),
    admin.fetchTopicOffsets(name),
  ])
  const topic = metadata.topics[0]!
  const offsetsByPartition = new Map(offsets.map((o) => [o.partition, o]))
  return {
    name,
    replicationFactor: replicationFactorOf(topic),
    partitions: topic.partitions
      .map((p) => {
        const o = offsetsByPartition.get(p.partitionId)
        const low = o?.low ?? '0'
        const high = o?.high ?? o?.offset ?? '0'
        return {
          partition: p.partitionId,
          leader: p.leader,
          replicas: p.replicas,
          isr: p.isr,
          offlineReplicas: p.offlineReplicas ?? [],
          earliestOffset: low,
          latestOffset: high,
          messages: (BigInt(high) - BigInt(low)).toString(),
        }
      })
      .sort((a, b) => a.partition - b.partition),
    configs: Object.entries(configs.get(name) ?? {})
      .map(([configName, c]) => ({name: configName, value: c.sensitive ? '***' : c.value, source: c.source, readOnly: c.readOnly, sensitive: c.sensitive}))
      .sort((a, b) => a.name.localeCompare(b.name)),
  }
}
