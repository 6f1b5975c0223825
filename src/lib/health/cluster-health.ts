/**
 * Cluster health, the pure core: from one sample of cluster metadata (brokers, controller, every
 * partition's leader, replicas and ISR, each topic's effective min.insync.replicas) and two samples
 * of end offsets, the report `kpipe health --json` prints (DESIGN §2) and the short summary the
 * `kpipe lag --watch` header shows. No Kafka here: src/lib/health/sample.ts samples the cluster.
 *
 * The rules are Kafka's own, so kpipe agrees with the broker metrics an operator already graphs:
 * - offline: no leader (Kafka's OfflinePartitionsCount); such a partition is listed only as
 *   offline, not again as under-replicated or under min ISR;
 * - under-replicated: ISR smaller than the replica set (UnderReplicatedPartitions);
 * - under min ISR: ISR smaller than the topic's min.insync.replicas, so acks=all produces fail
 *   (UnderMinIsrPartitionCount); at min ISR after losing a replica is a warning: one more loss
 *   and they fail (AtMinIsrPartitionCount, without the partitions whose RF is the min ISR by
 *   design, which would flag every RF 1 topic of a development cluster);
 * - leader imbalance: the controller's auto.leader.rebalance check — per broker, the share of the
 *   partitions whose preferred (first) replica it is but which another broker leads; above
 *   leader.imbalance.per.broker.percentage (default 10) the broker is imbalanced.
 */
import {parseOffset} from '../lag/lag-model.js'

// ---------------------------------------------------------------------------------------------
// Input

export interface BrokerInput {
  id: number
  host: string
  port: number
  rack: string | null
}

export interface PartitionInput {
  partition: number
  /** The leader's broker id; null or negative when the partition has none. */
  leader: number | null
  /** The assigned replicas, preferred leader first. */
  replicas: number[]
  isr: number[]
  /** Replicas the broker reports offline (a stopped broker, a failed log directory). */
  offlineReplicas?: number[]
}

export interface TopicInput {
  name: string
  /** Kafka's isInternal flag; names starting `__` count as internal either way. */
  internal?: boolean
  /** The effective min.insync.replicas (the topic's, else the broker default); null when unknown. */
  minInsyncReplicas: number | null
  partitions: PartitionInput[]
  /** The topic was asked for (--topic) and Kafka does not have it. */
  missing?: boolean
}

/** End offsets of every partition at one moment; a partition without one (offline) is left out. */
export interface OffsetSample {
  atMs: number
  endOffsets: {topic: string; partition: number; offset: string | number | bigint}[]
}

export interface ClusterSample {
  clusterId?: string | null
  brokers: BrokerInput[]
  /** null when the cluster has no active controller. */
  controllerId: number | null
  topics: TopicInput[]
  /** Two samples of end offsets give the produce rates; fewer means no rates. */
  offsets?: OffsetSample[]
  /** The brokers' leader.imbalance.per.broker.percentage, when it was read. */
  leaderImbalancePercentage?: number | null
}

export interface HealthOptions {
  /** Overrides the sample's leader.imbalance.per.broker.percentage (Kafka's default: 10). */
  leaderImbalancePercentage?: number
}

export const DEFAULT_LEADER_IMBALANCE_PERCENTAGE = 10

// ---------------------------------------------------------------------------------------------
// Output (health --json; fields may be added, never renamed)

export interface BrokerState {
  id: number
  host: string
  port: number
  rack: string | null
  isController: boolean
}

export interface PartitionState {
  topic: string
  partition: number
  leader: number | null
  replicas: number[]
  isr: number[]
  offlineReplicas: number[]
  minInsyncReplicas: number | null
}

export interface BrokerLeadership {
  brokerId: number
  /** Whether the broker is in the cluster now (false: named by replicas, but stopped or fenced). */
  alive: boolean
  /** Partitions it leads now. */
  leaders: number
  /** Partitions whose preferred (first) replica it is. */
  preferredLeaders: number
  /** Of those, how many another broker (or nobody) leads. */
  notLeadingPreferred: number
  /** notLeadingPreferred / preferredLeaders as a percentage, 0 when it is preferred for none. */
  imbalancePercent: number
  /** Over leader.imbalance.per.broker.percentage while the broker is alive. */
  imbalanced: boolean
}

export type ProblemKind =
  | 'no-controller'
  | 'broker-missing'
  | 'topic-missing'
  | 'offline-partitions'
  | 'under-min-isr'
  | 'under-replicated'
  | 'at-min-isr'
  | 'leader-imbalance'

export type Severity = 'error' | 'warning'

export interface ProblemItem {
  topic?: string
  partition?: number
  brokerId?: number
}

export interface HealthProblem {
  kind: ProblemKind
  severity: Severity
  /** One sentence naming the topic, partitions or broker. */
  message: string
  /** The affected topic-partitions or brokers. */
  items: ProblemItem[]
}

export interface TopicHealth {
  name: string
  internal: boolean
  partitions: number
  replicationFactor: number
  minInsyncReplicas: number | null
  /** Records per second over the sample; null for internal topics, without a sample, or offline. */
  produceRatePerSec: number | null
  offlinePartitions: number
  underReplicatedPartitions: number
  underMinIsrPartitions: number
  /** How many problems name this topic. */
  problems: number
}

export interface HealthReport {
  /** No problem of severity error. */
  ok: boolean
  clusterId: string | null
  controllerId: number | null
  brokers: BrokerState[]
  /** Broker ids named by replicas but absent from the cluster (stopped, fenced, unreachable). */
  missingBrokers: number[]
  offlinePartitions: PartitionState[]
  underReplicatedPartitions: PartitionState[]
  underMinIsrPartitions: PartitionState[]
  atMinIsrPartitions: PartitionState[]
  /** Partitions led by a replica other than the preferred (first) one, offline ones excluded. */
  nonPreferredLeaderPartitions: PartitionState[]
  leaderImbalance: BrokerLeadership[]
  leaderImbalancePercentage: number
  topics: TopicHealth[]
  /** Errors first, then warnings. */
  problems: HealthProblem[]
  /** Time between the two offset samples; null when rates were not sampled. */
  sampledMs: number | null
}

/** The few numbers a dashboard header shows (`kpipe lag --watch`). */
export interface HealthSummary {
  ok: boolean
  brokers: number
  missingBrokers: number[]
  controllerId: number | null
  offline: number
  underReplicated: number
  underMinIsr: number
  errors: number
  warnings: number
}

// ---------------------------------------------------------------------------------------------
// Evaluation

export function isInternalTopic(topic: Pick<TopicInput, 'name' | 'internal'>): boolean {
  return topic.internal === true || topic.name.startsWith('__')
}

function hasLeader(p: PartitionInput): boolean {
  return p.leader !== null && p.leader >= 0
}

const byTopicPartition = (a: PartitionState, b: PartitionState) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition)

export function evaluateHealth(sample: ClusterSample, options: HealthOptions = {}): HealthReport {
  const threshold = options.leaderImbalancePercentage ?? sample.leaderImbalancePercentage ?? DEFAULT_LEADER_IMBALANCE_PERCENTAGE
  const controllerId = sample.controllerId !== null && sample.controllerId >= 0 ? sample.controllerId : null
  const brokers = [...sample.brokers]
    .sort((a, b) => a.id - b.id)
    .map((b) => ({id: b.id, host: b.host, port: b.port, rack: b.rack, isController: b.id === controllerId}))
  const alive = new Set(brokers.map((b) => b.id))

  const offline: PartitionState[] = []
  const underReplicated: PartitionState[] = []
  const underMinIsr: PartitionState[] = []
  const atMinIsr: PartitionState[] = []
  const nonPreferred: PartitionState[] = []
  const missingReplicas = new Map<number, ProblemItem[]>()
  const leadership = new Map<number, {leaders: number; preferred: number; notLeading: ProblemItem[]}>()
  const lead = (id: number) => {
    let entry = leadership.get(id)
    if (!entry) leadership.set(id, (entry = {leaders: 0, preferred: 0, notLeading: []}))
    return entry
  }
  for (const id of alive) lead(id)

  const presentTopics = sample.topics.filter((t) => !t.missing)
  for (const topic of presentTopics) {
    for (const p of topic.partitions) {
      const state: PartitionState = {
        topic: topic.name,
        partition: p.partition,
        leader: hasLeader(p) ? p.leader : null,
        replicas: [...p.replicas],
        isr: [...p.isr],
        offlineReplicas: [...(p.offlineReplicas ?? [])],
        minInsyncReplicas: topic.minInsyncReplicas,
      }
      for (const id of new Set([...p.replicas, ...(p.offlineReplicas ?? [])])) {
        if (!alive.has(id)) {
          const items = missingReplicas.get(id) ?? []
          items.push({topic: topic.name, partition: p.partition})
          missingReplicas.set(id, items)
        }
      }
      const preferred = p.replicas[0]
      if (preferred !== undefined) {
        const entry = lead(preferred)
        entry.preferred++
        if (state.leader !== preferred) entry.notLeading.push({topic: topic.name, partition: p.partition})
      }
      if (state.leader === null) {
        offline.push(state)
        continue
      }
      lead(state.leader).leaders++
      if (preferred !== undefined && state.leader !== preferred) nonPreferred.push(state)
      const inSync = new Set(p.isr).size
      if (inSync < new Set(p.replicas).size) underReplicated.push(state)
      const min = topic.minInsyncReplicas
      if (min !== null) {
        if (inSync < min) underMinIsr.push(state)
        else if (inSync === min && inSync < p.replicas.length) atMinIsr.push(state)
      }
    }
  }
  for (const list of [offline, underReplicated, underMinIsr, atMinIsr, nonPreferred]) list.sort(byTopicPartition)

  const leaderImbalance: BrokerLeadership[] = [...leadership.entries()]
    .sort(([a], [b]) => a - b)
    .map(([brokerId, entry]) => {
      const percent = entry.preferred === 0 ? 0 : (entry.notLeading.length / entry.preferred) * 100
      return {
        brokerId,
        alive: alive.has(brokerId),
        leaders: entry.leaders,
        preferredLeaders: entry.preferred,
        notLeadingPreferred: entry.notLeading.length,
        imbalancePercent: round(percent, 1),
        // Kafka's rule: imbalanceRatio > percentage / 100, checked for live brokers only.
        imbalanced: alive.has(brokerId) && percent > threshold,
      }
    })

  const problems: HealthProblem[] = []
  if (controllerId === null) {
    problems.push({kind: 'no-controller', severity: 'error', message: 'The cluster reports no active controller: no leader elections or topic changes can happen.', items: []})
  }
  for (const [brokerId, items] of [...missingReplicas.entries()].sort(([a], [b]) => a - b)) {
    problems.push({
      kind: 'broker-missing',
      severity: 'error',
      message: `Broker ${brokerId} holds replicas of ${plural(items.length, 'partition')} but is not in the cluster (stopped, fenced or unreachable).`,
      items: [{brokerId}, ...items],
    })
  }
  for (const topic of sample.topics.filter((t) => t.missing)) {
    problems.push({kind: 'topic-missing', severity: 'error', message: `Topic ${topic.name} does not exist.`, items: [{topic: topic.name}]})
  }
  problems.push(
    ...perTopic(offline, 'offline-partitions', 'error', (topic, ps) => `Topic ${topic} has ${plural(ps.length, 'offline partition')} (${partitionList(ps)}): no leader, so nothing can be produced to or consumed from ${ps.length === 1 ? 'it' : 'them'}${replicaNote(ps, alive)}.`),
    ...perTopic(underMinIsr, 'under-min-isr', 'error', (topic, ps) => `Topic ${topic} has ${plural(ps.length, 'partition')} (${partitionList(ps)}) with fewer in-sync replicas than min.insync.replicas=${ps[0]!.minInsyncReplicas}: producers with acks=all fail.`),
    ...perTopic(underReplicated, 'under-replicated', 'error', (topic, ps) => `Topic ${topic} has ${plural(ps.length, 'under-replicated partition')} (${partitionList(ps)}): in sync on fewer brokers than assigned${outOfSyncNote(ps)}.`),
    ...perTopic(atMinIsr, 'at-min-isr', 'warning', (topic, ps) => `Topic ${topic} has ${plural(ps.length, 'partition')} (${partitionList(ps)}) at min.insync.replicas=${ps[0]!.minInsyncReplicas}: one more replica lost and producers with acks=all fail.`),
  )
  for (const broker of leaderImbalance.filter((b) => b.imbalanced)) {
    const items = leadership.get(broker.brokerId)!.notLeading
    problems.push({
      kind: 'leader-imbalance',
      severity: 'warning',
      message: `Broker ${broker.brokerId} leads ${broker.preferredLeaders - broker.notLeadingPreferred} of the ${plural(broker.preferredLeaders, 'partition')} it is preferred leader for (${broker.imbalancePercent}% elsewhere, over leader.imbalance.per.broker.percentage=${threshold}): run a preferred leader election.`,
      items: [{brokerId: broker.brokerId}, ...items],
    })
  }
  problems.sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1))

  const rates = produceRates(sample.offsets ?? [])
  const count = (list: PartitionState[], name: string) => list.filter((p) => p.topic === name).length
  const topics: TopicHealth[] = presentTopics
    .map((t) => {
      const internal = isInternalTopic(t)
      return {
        name: t.name,
        internal,
        partitions: t.partitions.length,
        replicationFactor: Math.max(0, ...t.partitions.map((p) => p.replicas.length)),
        minInsyncReplicas: t.minInsyncReplicas,
        produceRatePerSec: internal ? null : (rates.byTopic.get(t.name) ?? null),
        offlinePartitions: count(offline, t.name),
        underReplicatedPartitions: count(underReplicated, t.name),
        underMinIsrPartitions: count(underMinIsr, t.name),
        problems: problems.filter((pr) => pr.items.some((i) => i.topic === t.name)).length,
      }
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))

  return {
    ok: !problems.some((p) => p.severity === 'error'),
    clusterId: sample.clusterId ?? null,
    controllerId,
    brokers,
    missingBrokers: [...missingReplicas.keys()].sort((a, b) => a - b),
    offlinePartitions: offline,
    underReplicatedPartitions: underReplicated,
    underMinIsrPartitions: underMinIsr,
    atMinIsrPartitions: atMinIsr,
    nonPreferredLeaderPartitions: nonPreferred,
    leaderImbalance,
    leaderImbalancePercentage: threshold,
    topics,
    problems,
    sampledMs: rates.sampledMs,
  }
}

export function summarizeHealth(report: HealthReport): HealthSummary {
  return {
    ok: report.ok,
    brokers: report.brokers.length,
    missingBrokers: report.missingBrokers,
    controllerId: report.controllerId,
    offline: report.offlinePartitions.length,
    underReplicated: report.underReplicatedPartitions.length,
    underMinIsr: report.underMinIsrPartitions.length,
    errors: report.problems.filter((p) => p.severity === 'error').length,
    warnings: report.problems.filter((p) => p.severity === 'warning').length,
  }
}

/** One line for a header or the end of the table: "cluster healthy: 3 brokers, controller 1". */
export function healthHeadline(summary: HealthSummary): string {
  const brokers =
    summary.missingBrokers.length > 0
      ? `${summary.brokers} of ${summary.brokers + summary.missingBrokers.length} brokers (missing ${summary.missingBrokers.join(', ')})`
      : plural(summary.brokers, 'broker')
  const controller = summary.controllerId === null ? 'no controller' : `controller ${summary.controllerId}`
  const counts = [
    summary.offline > 0 ? `${summary.offline} offline` : '',
    summary.underReplicated > 0 ? `${summary.underReplicated} under-replicated` : '',
    summary.underMinIsr > 0 ? `${summary.underMinIsr} under min ISR` : '',
    summary.warnings > 0 ? plural(summary.warnings, 'warning') : '',
  ].filter(Boolean)
  return `cluster ${summary.ok ? 'healthy' : 'UNHEALTHY'}: ${[brokers, controller, ...counts].join(', ')}`
}

// ---------------------------------------------------------------------------------------------
// Produce rates

/**
 * Records per second per topic between the first and the last sample: the sum over partitions
 * present in both of (end₂ − end₁), never below 0 per partition (an unclean election can move an
 * end offset back), over the time between them.
 */
export function produceRates(samples: OffsetSample[]): {byTopic: Map<string, number>; sampledMs: number | null} {
  const byTopic = new Map<string, number>()
  if (samples.length < 2) return {byTopic, sampledMs: null}
  const first = samples[0]!
  const last = samples.at(-1)!
  const elapsedMs = last.atMs - first.atMs
  if (!(elapsedMs > 0)) return {byTopic, sampledMs: null}
  const before = new Map<string, bigint>()
  for (const o of first.endOffsets) {
    const offset = parseOffset(o.offset)
    if (offset !== null) before.set(`${o.partition}\u0000${o.topic}`, offset)
  }
  const produced = new Map<string, bigint>()
  for (const o of last.endOffsets) {
    const start = before.get(`${o.partition}\u0000${o.topic}`)
    const end = parseOffset(o.offset)
    if (start === undefined || end === null) continue
    produced.set(o.topic, (produced.get(o.topic) ?? 0n) + (end > start ? end - start : 0n))
  }
  for (const [topic, records] of produced) byTopic.set(topic, round((Number(records) * 1000) / elapsedMs, 2))
  return {byTopic, sampledMs: elapsedMs}
}

// ---------------------------------------------------------------------------------------------
// Wording

function perTopic(list: PartitionState[], kind: ProblemKind, severity: Severity, message: (topic: string, partitions: PartitionState[]) => string): HealthProblem[] {
  const groups = new Map<string, PartitionState[]>()
  for (const p of list) groups.set(p.topic, [...(groups.get(p.topic) ?? []), p])
  return [...groups.entries()].map(([topic, ps]) => ({kind, severity, message: message(topic, ps), items: ps.map((p) => ({topic, partition: p.partition}))}))
}

const LISTED = 8

export function partitionList(partitions: {partition: number}[]): string {
  const ids = partitions.map((p) => p.partition)
  const shown = ids.slice(0, LISTED).join(', ')
  return ids.length > LISTED ? `${shown} and ${ids.length - LISTED} more` : shown
}

function replicaNote(partitions: PartitionState[], alive: Set<number>): string {
  const down = [...new Set(partitions.flatMap((p) => p.replicas.filter((r) => !alive.has(r))))].sort((a, b) => a - b)
  return down.length > 0 ? `; ${down.length === 1 ? 'its replica broker' : 'replica brokers'} ${down.join(', ')} ${down.length === 1 ? 'is' : 'are'} missing` : ''
}

function outOfSyncNote(partitions: PartitionState[]): string {
  const out = [...new Set(partitions.flatMap((p) => p.replicas.filter((r) => !p.isr.includes(r))))].sort((a, b) => a - b)
  return out.length > 0 ? `, out of sync: broker${out.length === 1 ? '' : 's'} ${out.join(', ')}` : ''
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`
}

function round(value: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(value * f) / f
}
