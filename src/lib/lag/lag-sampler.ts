/**
 * One sample of consumer lag from the cluster: which groups, their state and members, their
 * committed offsets, and the log start and end offsets of every partition they consume.
 *
 * Requests are batched the way Kafka allows: one ListGroups, one DescribeGroups for all the groups,
 * one OffsetFetch per group (kafkajs 2.2 speaks OffsetFetch up to v7, one group per request; they
 * run concurrently) and one pair of ListOffsets per topic, each sent to every leader at once. The
 * committed offsets are read before the end offsets, as kafka-consumer-groups.sh does, so a
 * group that keeps up never shows a negative lag from the order of reads.
 */
import kafkajs, {type Admin} from 'kafkajs'
import pLimit from 'p-limit'

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
}

/** Requests in flight at once: enough to hide round trips, few enough not to flood a broker. */
const CONCURRENCY = 16

/** The groups the selection names, in a stable order. */
export async function selectGroups(admin: Admin, selection: LagSelection): Promise<{named: string[]; listed: string[]}> {
  const named = [...new Set(selection.groups ?? [])]
  const wantsListing = selection.allGroups === true || selection.groupRegex !== undefined || named.length === 0
  if (!wantsListing) return {named, listed: []}
  const {groups} = await admin.listGroups()
  const regex = selection.groupRegex
  const listed = groups
    // Connect workers' groups hold no offsets; consumer groups and offset-only groups ('') do.
    .filter((g) => g.protocolType === 'consumer' || g.protocolType === '')
    .map((g) => g.groupId)
    .filter((id) => regex === undefined || regex.test(id))
    .filter((id) => !named.includes(id))
    .sort()
  return {named, listed}
}

export async function sampleLag(admin: Admin, selection: LagSelection): Promise<LagSample> {
  const {named, listed} = await selectGroups(admin, selection)
  const ids = [...named, ...listed]
  const limit = pLimit(CONCURRENCY)
  const described = ids.length === 0 ? [] : (await admin.describeGroups(ids)).groups
  const byId = new Map(described.map((g) => [g.groupId, g]))
  const topicFilter = selection.topics && selection.topics.length > 0 ? new Set(selection.topics) : undefined

  const groups = await Promise.all(
    ids.map((id) =>
      limit(async (): Promise<SampledGroup> => {
        const description = byId.get(id)
        const members = (description?.members ?? []).map((m) => memberReport(m.memberId, m.clientId, m.clientHost, m.memberAssignment, description?.protocolType ?? ''))
        const fetched = await admin.fetchOffsets({groupId: id})
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
        const state = description?.state ?? 'Dead'
        const exists = state !== 'Dead' || commits.size > 0
        const kept = [...commits.values()].filter((c) => topicFilter === undefined || topicFilter.has(c.topic))
        return {group: id, exists, state: exists ? state : 'Dead', protocolType: description?.protocolType ?? '', members, commits: kept}
      }),
    ),
  )
  // A listed group that consumes none of the chosen topics is not part of the answer.
  const shown = groups.filter((g) => named.includes(g.group) || topicFilter === undefined || g.commits.length > 0)

  const wanted = [...new Set(shown.flatMap((g) => g.commits.map((c) => c.topic)))].sort()
  // Offsets can outlive their topic. Asking kafkajs for a deleted topic's offsets makes it a
  // target of every later metadata refresh, which then fails: ask only for topics that exist.
  const existing = wanted.length === 0 ? new Set<string>() : new Set(await admin.listTopics())
  const topicNames = wanted.filter((t) => existing.has(t))
  const missingTopics = wanted.filter((t) => !existing.has(t))
  const topics = new Map<string, SampledPartition[]>()
  await Promise.all(
    topicNames.map((topic) =>
      limit(async () => {
        try {
          const offsets = await admin.fetchTopicOffsets(topic)
          topics.set(
            topic,
            offsets
              .map((o) => ({partition: o.partition, logStartOffset: parseOffset(o.low) ?? 0n, logEndOffset: parseOffset(o.high) ?? 0n}))
              .sort((a, b) => a.partition - b.partition),
          )
        } catch (error) {
          if (!isUnknownTopic(error)) throw error
          missingTopics.push(topic)
        }
      }),
    ),
  )
  return {sampledAtMs: Date.now(), groups: shown, topics, missingTopics: missingTopics.sort()}
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

/** True when Kafka answered "no such topic" anywhere in the error's cause chain. */
export function isUnknownTopic(error: unknown): boolean {
  for (let e = error as {type?: string; message?: string; cause?: unknown} | undefined, depth = 0; e && depth < 8; e = e.cause as typeof e, depth++) {
    if (e.type === 'UNKNOWN_TOPIC_OR_PARTITION' || /does not host this topic-partition/i.test(e.message ?? '')) return true
  }
  return false
}
