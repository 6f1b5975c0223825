/**
 * Declarative topics, the pure core: from the desired topics (kpipe.yaml over DESIGN §1's
 * defaults) and the cluster's actual state, compute the plan of changes and the refusals.
 * No I/O here; src/lib/topics/topic-admin.ts reads the cluster and applies a plan.
 */
import type {TopicSettings} from '../config.js'
import {formatDuration} from '../durations.js'

export interface DesiredTopic {
  name: string
  partitions: number
  replicationFactor: number
  /** Every config kpipe manages for this topic, as the strings Kafka stores. */
  configs: Record<string, string>
}

export interface ActualConfig {
  value: string | null
  /** True when the value is set on the topic itself (dynamic topic config), not inherited. */
  isTopicOverride: boolean
}

export interface ActualTopic {
  name: string
  partitions: number
  replicationFactor: number
  configs: Record<string, ActualConfig>
}

export interface ConfigChange {
  key: string
  from: string | null
  to: string
}

export type TopicAction =
  | {kind: 'create'; topic: string; partitions: number; replicationFactor: number; configs: Record<string, string>}
  | {kind: 'add-partitions'; topic: string; from: number; to: number}
  | {
      kind: 'alter-configs'
      topic: string
      changes: ConfigChange[]
      /** The complete set to send: kafkajs' AlterConfigs resets every dynamic config left out. */
      fullSet: Record<string, string>
    }

export type RefusalKind = 'partition-decrease' | 'replication-factor-change' | 'unmanaged-topic'

export interface Refusal {
  topic: string
  kind: RefusalKind
  reason: string
}

export interface TopicPlan {
  actions: TopicAction[]
  refusals: Refusal[]
  /** Topics in the cluster that kpipe.yaml does not mention (internal topics excluded). */
  unmanaged: string[]
  /** Managed topics that already match. */
  inSync: string[]
}

export interface PlanOptions {
  /** Treat topics in the cluster but not in the file as drift that apply refuses to settle. */
  strict?: boolean
}

/** Replication factor DESIGN §1 asks for when kpipe.yaml gives none: min(3, brokers). */
export function defaultReplicationFactor(brokerCount: number): number {
  return Math.max(1, Math.min(3, brokerCount))
}

/** With RF 3 a write needs 2 in-sync replicas; below that, 1 (a higher value would block writes). */
export function defaultMinInsyncReplicas(replicationFactor: number): number {
  return replicationFactor >= 3 ? 2 : 1
}

/** Resolves kpipe.yaml's topic settings into the exact state wanted on this cluster. */
export function desiredTopics(topics: Record<string, TopicSettings>, brokerCount: number): DesiredTopic[] {
  return Object.entries(topics)
    .map(([name, settings]) => desiredTopic(name, settings, brokerCount))
    .sort((a, b) => a.name.localeCompare(b.name))
}

export function desiredTopic(name: string, settings: TopicSettings, brokerCount: number): DesiredTopic {
  const replicationFactor = settings.replicationFactor ?? defaultReplicationFactor(brokerCount)
  const configs: Record<string, string> = {'min.insync.replicas': String(defaultMinInsyncReplicas(replicationFactor))}
  if (settings.retentionMs !== undefined) configs['retention.ms'] = String(settings.retentionMs)
  if (settings.retentionBytes !== undefined) configs['retention.bytes'] = String(settings.retentionBytes)
  Object.assign(configs, settings.config)
  return {name, partitions: settings.partitions ?? 1, replicationFactor, configs}
}

export function isInternalTopic(name: string): boolean {
  return name.startsWith('__') || name.startsWith('_confluent') || name === '_schemas'
}

export function planTopics(desired: DesiredTopic[], actual: Map<string, ActualTopic>, options: PlanOptions = {}): TopicPlan {
  const plan: TopicPlan = {actions: [], refusals: [], unmanaged: [], inSync: []}
  for (const want of desired) {
    const have = actual.get(want.name)
    if (!have) {
      plan.actions.push({
        kind: 'create',
        topic: want.name,
        partitions: want.partitions,
        replicationFactor: want.replicationFactor,
        configs: {...want.configs},
      })
      continue
    }
    const before = plan.actions.length + plan.refusals.length
    if (want.partitions < have.partitions) {
      plan.refusals.push({
        topic: want.name,
        kind: 'partition-decrease',
        reason: `${want.name} has ${have.partitions} partitions and the file asks for ${want.partitions}: Kafka cannot remove partitions; recreate the topic by hand if you mean it`,
      })
    } else if (want.partitions > have.partitions) {
      plan.actions.push({kind: 'add-partitions', topic: want.name, from: have.partitions, to: want.partitions})
    }
    if (want.replicationFactor !== have.replicationFactor) {
      plan.refusals.push({
        topic: want.name,
        kind: 'replication-factor-change',
        reason: `${want.name} has replication factor ${have.replicationFactor} and the file asks for ${want.replicationFactor}: changing it needs a partition reassignment, which kpipe does not do`,
      })
    }
    const changes = configChanges(want.configs, have.configs)
    if (changes.length > 0) {
      plan.actions.push({kind: 'alter-configs', topic: want.name, changes, fullSet: fullConfigSet(want.configs, have.configs)})
    }
    if (plan.actions.length + plan.refusals.length === before) plan.inSync.push(want.name)
  }
  const wanted = new Set(desired.map((t) => t.name))
  plan.unmanaged = [...actual.keys()].filter((name) => !wanted.has(name) && !isInternalTopic(name)).sort()
  if (options.strict) {
    for (const topic of plan.unmanaged) {
      plan.refusals.push({
        topic,
        kind: 'unmanaged-topic',
        reason: `${topic} is in the cluster but not in the file: kpipe never deletes topics; add it to kpipe.yaml or delete it by hand`,
      })
    }
  }
  return plan
}

/** The configs whose current value differs from the wanted one, sorted by key. */
export function configChanges(want: Record<string, string>, have: Record<string, ActualConfig>): ConfigChange[] {
  return Object.keys(want)
    .sort()
    .filter((key) => have[key]?.value !== want[key])
    .map((key) => ({key, from: have[key]?.value ?? null, to: want[key]!}))
}

/** The topic's current overrides merged with the wanted configs: what AlterConfigs must carry. */
export function fullConfigSet(want: Record<string, string>, have: Record<string, ActualConfig>): Record<string, string> {
  const set: Record<string, string> = {}
  for (const [key, config] of Object.entries(have)) {
    if (config.isTopicOverride && config.value !== null) set[key] = config.value
  }
  return {...set, ...want}
}

export function planHasDrift(plan: TopicPlan): boolean {
  return plan.actions.length > 0 || plan.refusals.length > 0
}

// ---------------------------------------------------------------------------------------------
// Human rendering.

const DURATION_KEYS = new Set(['retention.ms', 'segment.ms', 'delete.retention.ms', 'min.compaction.lag.ms', 'max.compaction.lag.ms'])

/** A config value for people: durations also in days/hours. */
export function displayConfigValue(key: string, value: string | null): string {
  if (value === null) return '(unset)'
  if (DURATION_KEYS.has(key) && /^\d+$/.test(value)) return `${value} (${formatDuration(Number(value))})`
  return value
}

export function renderPlan(plan: TopicPlan): string[] {
  const lines: string[] = []
  for (const action of plan.actions) {
    switch (action.kind) {
      case 'create': {
        const configs = Object.entries(action.configs)
          .map(([k, v]) => `${k}=${displayConfigValue(k, v)}`)
          .join(', ')
        lines.push(`+ create ${action.topic}: ${action.partitions} partitions, replication factor ${action.replicationFactor}${configs ? `, ${configs}` : ''}`)
        break
      }
      case 'add-partitions':
        lines.push(`~ partitions ${action.topic}: ${action.from} → ${action.to}`)
        break
      case 'alter-configs':
        for (const change of action.changes) {
          lines.push(`~ config ${action.topic}: ${change.key} ${displayConfigValue(change.key, change.from)} → ${displayConfigValue(change.key, change.to)}`)
        }
        break
    }
  }
  for (const refusal of plan.refusals) lines.push(`! refused ${refusal.topic}: ${refusal.reason}`)
  for (const topic of plan.unmanaged) {
    if (!plan.refusals.some((r) => r.topic === topic)) lines.push(`? unmanaged ${topic} (in the cluster, not in the file; left alone)`)
  }
  return lines
}

export function summarizePlan(plan: TopicPlan): string {
  const creates = plan.actions.filter((a) => a.kind === 'create').length
  const changes = new Set(plan.actions.filter((a) => a.kind !== 'create').map((a) => a.topic)).size
  if (!planHasDrift(plan)) return `No changes: ${plan.inSync.length} topics match the file.`
  return `Plan: ${creates} to create, ${changes} to change, ${plan.refusals.length} refused, ${plan.inSync.length} in sync.`
}
