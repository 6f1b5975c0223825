/**
 * One sample of consumer lag from the cluster: which groups, their state and members, their
 * committed offsets, and the log start and end offsets of every partition they consume.
 *
 * The requests go straight to the brokers that answer them (src/lib/kafka/tolerant-requests.ts),
 * not through kafkajs' admin: kafkajs 2.2 fails every admin call while any partition of the
 * cluster has no leader (tulios/kafkajs#639), which is when an operator most needs `kpipe lag`.
 * Here a leaderless partition is reported as unavailable and everything else is still answered.
 *
 * Batched as Kafka allows: one Metadata, one ListGroups per broker, one FindCoordinator and one
 * OffsetFetch per group (16 at a time), one DescribeGroups per coordinator, and per leader one
 * ListOffsets for the log starts and one for the ends. The committed offsets are read before the
 * end offsets, as kafka-consumer-groups.sh does, so a group that keeps up never shows a negative
 * lag from the order of reads.
 */
import kafkajs from 'kafkajs'
import pLimit from 'p-limit'

import type {KpipeConfig} from '../config.js'
import {BrokerLink, type MetadataAnswer, UNKNOWN_TOPIC_OR_PARTITION} from '../kafka/tolerant-requests.js'
import {type MemberReport, parseOffset} from './lag-model.js'

const {AssignerProtocol} = kafkajs

/** Which groups and topics to look at. Nothing chosen means every group. */
export interface LagSelection {
  /** Groups named on the command line: a missing one is reported as NOTFOUND. */
  groups?: readonly string[]
  groupRegex?: RegExp
  allGroups?: boolean
  /** Only these topics (a group consuming none of them is left out unless named). */
  topics?: readonly string[]
}

export interface SampledCommit {
  topic: string
  partition: number
  /** null: the group has the partition assigned but never committed on it. */
  committedOffset: bigint | null
  /** The timestamp of the record at the committed offset, when it was read (lagging partitions). */
  committedRecordTimeMs?: number
}

export interface SampledGroup {
  group: string
  /** False for a named group the cluster does not know (no members, no committed offsets). */
  exists: boolean
  state: string
  protocolType: string
  members: MemberReport[]
  commits: SampledCommit[]
  /** Why the group could not be read (its coordinator is unavailable), when it could not. */
  unavailable?: string
}

export interface SampledPartition {
  partition: number
  logStartOffset: bigint
  logEndOffset: bigint
}

export interface LagSample {
  /** When the end offsets were read (ms since the epoch). */
  sampledAtMs: number
  groups: SampledGroup[]
  topics: Map<string, SampledPartition[]>
  /** Topics a group has offsets for that the cluster no longer has (deleted). */
  missingTopics: string[]
  /** Partitions whose offsets could not be read: no leader, or the leader did not answer. */
  unavailablePartitions: {topic: string; partition: number}[]
}

/** Requests in flight at once: enough to hide round trips, few enough not to flood a broker. */
const CONCURRENCY = 16

/**
 * Connections to the brokers, kept across polls: one to whichever broker answers first, and one
 * per broker asked directly (coordinators, leaders). A broker that fails is dropped, so the next
 * poll connects again.
 */
export class BrokerLinks {
  private bootstrap?: Promise<BrokerLink>
  private readonly byNode = new Map<string, Promise<BrokerLink>>()
  private closed = false

  constructor(private readonly kafka: KpipeConfig['kafka']) {}

  any(): Promise<BrokerLink> {
    if (this.closed) return Promise.reject(new LinksClosedError())
    this.bootstrap ??= BrokerLink.connect(this.kafka)
    return this.bootstrap.catch((error: unknown) => {
      this.bootstrap = undefined
      throw error
    })
  }

  to(address: string): Promise<BrokerLink> {
    if (this.closed) return Promise.reject(new LinksClosedError())
    let link = this.byNode.get(address)
    if (!link) this.byNode.set(address, (link = BrokerLink.connect(this.kafka, {brokers: [address]})))
    return link.catch((error: unknown) => {
      this.byNode.delete(address)
      throw error
    })
  }

  /** Runs `request` on a broker's link; a failure closes that link so the next use reconnects. */
  async on<T>(address: string, request: (link: BrokerLink) => Promise<T>): Promise<T> {
    const link = await this.to(address)
    try {
      return await request(link)
    } catch (error) {
      this.byNode.delete(address)
      await link.close()
      throw error
    }
  }

  async onAny<T>(request: (link: BrokerLink) => Promise<T>): Promise<T> {
    const link = await this.any()
    try {
      return await request(link)
    } catch (error) {
      this.bootstrap = undefined
      await link.close()
      throw error
    }
  }

  /**
   * Closes every link, also those still connecting. A poll still in flight (the dashboard quit
   * mid-poll) gets an error for each link it asks for afterwards rather than a new connection:
   * one opened after the close stayed open until the broker dropped it as idle
   * (connections.max.idle.ms, 10 minutes), and kept the process from exiting that long.
   */
  async close(): Promise<void> {
    this.closed = true
    const links = [this.bootstrap, ...this.byNode.values()].filter((l): l is Promise<BrokerLink> => l !== undefined)
    this.bootstrap = undefined
    this.byNode.clear()
    await Promise.all(links.map((l) => l.then((link) => link.close()).catch(() => undefined)))
  }
}

class LinksClosedError extends Error {
  constructor() {
    super('The lag source is closed.')
  }
}

/** The groups the selection names, in a stable order; listing asks every live broker. */
async function selectGroups(links: BrokerLinks, metadata: MetadataAnswer, selection: LagSelection): Promise<{named: string[]; listed: string[]}> {
  const named = [...new Set(selection.groups ?? [])]
  const wantsListing = selection.allGroups === true || selection.groupRegex !== undefined || named.length === 0
  if (!wantsListing) return {named, listed: []}
  const answers = await Promise.all(metadata.brokers.map((b) => links.on(`${b.host}:${b.port}`, (link) => link.listGroups()).catch(() => [])))
  const regex = selection.groupRegex
  const listed = [...new Set(answers.flat()
    // Connect workers' groups hold no offsets; consumer groups and offset-only groups ('') do.
    .filter((g) => g.protocolType === 'consumer' || g.protocolType === '')
    .map((g) => g.groupId))]
    .filter((id) => regex === undefined || regex.test(id))
    .filter((id) => !named.includes(id))
    .sort()
  return {named, listed}
}

export async function sampleLag(links: BrokerLinks, selection: LagSelection): Promise<LagSample> {
  const limit = pLimit(CONCURRENCY)
  const cluster = await links.onAny((link) => link.metadata())
  const addressOf = new Map(cluster.brokers.map((b) => [b.nodeId, `${b.host}:${b.port}`]))
  const {named, listed} = await selectGroups(links, cluster, selection)
  const ids = [...named, ...listed]
  const topicFilter = selection.topics && selection.topics.length > 0 ? new Set(selection.topics) : undefined

  // Each group's coordinator, then one DescribeGroups per coordinator.
  const coordinators = new Map<string, string | Error>()
  await Promise.all(
    ids.map((id) =>
      limit(async () => {
        try {
          const c = await links.onAny((link) => link.findCoordinator(id))
          coordinators.set(id, `${c.host}:${c.port}`)
        } catch (error) {
          coordinators.set(id, error as Error)
        }
      }),
    ),
  )
  const byCoordinator = new Map<string, string[]>()
  for (const [id, c] of coordinators) if (typeof c === 'string') byCoordinator.set(c, [...(byCoordinator.get(c) ?? []), id])
  const descriptions = new Map<string, Awaited<ReturnType<BrokerLink['describeGroups']>>[number]>()
  await Promise.all(
    [...byCoordinator].map(([address, groupIds]) =>
      limit(async () => {
        for (const d of await links.on(address, (link) => link.describeGroups(groupIds))) descriptions.set(d.groupId, d)
      }),
    ),
  )

  const groups = await Promise.all(
    ids.map((id) =>
      limit(async (): Promise<SampledGroup> => {
        const coordinator = coordinators.get(id)
        if (typeof coordinator !== 'string') {
          const reason = `its coordinator is unavailable (${coordinator?.message ?? 'unknown'})`
          return {group: id, exists: true, state: 'Unknown', protocolType: '', members: [], commits: [], unavailable: reason}
        }
        const description = descriptions.get(id)
        const members = (description?.members ?? []).map((m) => memberReport(m.memberId, m.clientId, m.clientHost, m.memberAssignment, description?.protocolType ?? ''))
        const fetched = await links.on(coordinator, (link) => link.committedOffsets(id))
        const commits = new Map<string, SampledCommit>()
        for (const {topic, partitions} of fetched) {
          for (const p of partitions) {
            const committedOffset = parseOffset(p.offset)
            if (committedOffset !== null) commits.set(`${topic}\u0000${p.partition}`, {topic, partition: p.partition, committedOffset})
          }
        }
        // Assigned but never committed: shown with a null offset rather than left out.
        for (const m of members) {
          for (const {topic, partition} of m.partitions) {
            const key = `${topic}\u0000${partition}`
            if (!commits.has(key)) commits.set(key, {topic, partition, committedOffset: null})
          }
        }
        const state = description?.state || 'Dead'
        const exists = state !== 'Dead' || commits.size > 0
        const kept = [...commits.values()].filter((c) => topicFilter === undefined || topicFilter.has(c.topic))
        return {group: id, exists, state: exists ? state : 'Dead', protocolType: description?.protocolType ?? '', members, commits: kept}
      }),
    ),
  )
  // A listed group that consumes none of the chosen topics is not part of the answer.
  const shown = groups.filter((g) => named.includes(g.group) || topicFilter === undefined || g.commits.length > 0 || g.unavailable !== undefined)

  // Log offsets, asked of each partition's leader; the metadata is read again now, after the
  // commits, so a leader that moved meanwhile is found.
  const wanted = [...new Set(shown.flatMap((g) => g.commits.map((c) => c.topic)))].sort()
  const metadata = wanted.length === 0 ? {brokers: [], topicMetadata: []} : await links.onAny((link) => link.metadata(wanted))
  const missingTopics: string[] = []
  const unavailablePartitions: {topic: string; partition: number}[] = []
  const byLeader = new Map<string, {topic: string; partition: number}[]>()
  for (const t of metadata.topicMetadata) {
    if (t.topicErrorCode === UNKNOWN_TOPIC_OR_PARTITION) {
      missingTopics.push(t.topic)
      continue
    }
    for (const p of t.partitionMetadata) {
      const address = p.leader >= 0 ? addressOf.get(p.leader) ?? leaderAddress(metadata, p.leader) : undefined
      if (address === undefined) unavailablePartitions.push({topic: t.topic, partition: p.partitionId})
      else byLeader.set(address, [...(byLeader.get(address) ?? []), {topic: t.topic, partition: p.partitionId}])
    }
  }
  const topics = new Map<string, SampledPartition[]>()
  await Promise.all(
    [...byLeader].map(([address, partitions]) =>
      limit(async () => {
        let starts: Awaited<ReturnType<BrokerLink['logOffsets']>>
        let ends: typeof starts
        try {
          ;[starts, ends] = await links.on(address, async (link) => [await link.logOffsets(partitions, 'earliest'), await link.logOffsets(partitions, 'latest')])
        } catch {
          unavailablePartitions.push(...partitions) // the leader is going away: its partitions are unknown this time
          return
        }
        const startOf = new Map(starts.map((s) => [`${s.topic}\u0000${s.partition}`, parseOffset(s.offset)]))
        for (const e of ends) {
          const logEndOffset = parseOffset(e.offset)
          const logStartOffset = startOf.get(`${e.topic}\u0000${e.partition}`) ?? null
          if (logEndOffset === null || logStartOffset === null) {
            unavailablePartitions.push({topic: e.topic, partition: e.partition}) // e.g. NOT_LEADER after a move
            continue
          }
          topics.set(e.topic, [...(topics.get(e.topic) ?? []), {partition: e.partition, logStartOffset, logEndOffset}])
        }
      }),
    ),
  )
  for (const list of topics.values()) list.sort((a, b) => a.partition - b.partition)
  unavailablePartitions.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition))
  return {sampledAtMs: Date.now(), groups: shown, topics, missingTopics: missingTopics.sort(), unavailablePartitions}
}

function leaderAddress(metadata: MetadataAnswer, nodeId: number): string | undefined {
  const broker = metadata.brokers.find((b) => b.nodeId === nodeId)
  return broker === undefined ? undefined : `${broker.host}:${broker.port}`
}

function memberReport(memberId: string, clientId: string, host: string, assignment: Buffer, protocolType: string): MemberReport {
  const partitions: {topic: string; partition: number}[] = []
  if (protocolType === 'consumer' && assignment.length > 0) {
    try {
      const decoded = AssignerProtocol.MemberAssignment.decode(assignment)
      for (const [topic, list] of Object.entries(decoded?.assignment ?? {})) for (const partition of list) partitions.push({topic, partition})
    } catch {
      // An assignment in a format kafkajs cannot read (a newer consumer protocol): no partitions.
    }
  }
  partitions.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition))
  return {memberId, clientId, host: host.replace(/^\//, ''), partitions}
}
