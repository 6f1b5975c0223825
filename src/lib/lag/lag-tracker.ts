/**
 * What one or many samples say: the tracker keeps, per partition, the history the model needs
 * (the window of commits, the positions of the rate window, a lookup table of log-end points, a
 * short lag history for sparklines) and turns each new sample into a view. Pure: samples in,
 * views out, no clock and no Kafka, so `lag`, `lag --sample`, `--watch` and `--serve` share it and
 * the tests drive it with made-up samples.
 */
import type {LagSample, SampledGroup, SampledPartition} from './lag-sampler.js'
import {
  addPoint,
  type Breach,
  catchUpMs,
  type CatchUp,
  type CommitSample,
  emptyLookupTable,
  estimateTimeLagMs,
  evaluateThresholds,
  groupReport,
  type GroupReport,
  lagJson,
  type LagJson,
  logEndWentBackwards,
  type LookupTable,
  type MemberReport,
  offsetToJson,
  partitionLag,
  partitionRates,
  type PartitionReport,
  type PartitionStatus,
  polledPartitionStatus,
  recordCommit,
  type Thresholds,
} from './lag-model.js'

export interface TrackerOptions {
  /** The sliding window of the rates (ms). */
  rateWindowMs?: number
  /** Lag histories kept per partition and group (points of a sparkline). */
  historyLength?: number
  allowedLag?: bigint
  stallAfterMs?: number
}

export interface PartitionView extends PartitionReport {
  productionPerSec: number | null
  consumptionPerSec: number | null
  catchUp: CatchUp
  /** The member consuming it, or null when none does. */
  owner: {clientId: string; host: string} | null
  /** Recent lags, oldest first (null where unknown). */
  lagHistory: (number | null)[]
}

export interface GroupView extends Omit<GroupReport, 'partitions'> {
  exists: boolean
  partitions: PartitionView[]
  productionPerSec: number | null
  consumptionPerSec: number | null
  catchUp: CatchUp
  /** Partitions with committed offsets that no active member consumes. */
  unownedPartitions: number
  /** Records deleted by retention before the group read them, over all its partitions. */
  lostRecords: bigint
  lagHistory: number[]
  /** The group's partitions whose log offsets could not be read (no leader): their lag is unknown. */
  unavailablePartitions: {topic: string; partition: number; committedOffset: bigint | null}[]
  /** Why the group itself could not be read (its coordinator is unavailable). */
  unavailable?: string
}

export interface LagView {
  sampledAtMs: number
  groups: GroupView[]
  missingTopics: string[]
  unavailablePartitions: {topic: string; partition: number}[]
}

interface PartitionState {
  commits: CommitSample[]
  positions: {committedOffset: bigint | null; logEndOffset: bigint; sampledAtMs: number}[]
  firstSeenMs: number
  lagHistory: (number | null)[]
}

const DEFAULT_RATE_WINDOW_MS = 60_000
const DEFAULT_HISTORY = 40
/** States in which the coordinator is moving partitions: ownership is unknown, not absent. */
const REBALANCING = new Set(['PreparingRebalance', 'CompletingRebalance', 'Assigning', 'Reconciling'])

export class LagTracker {
  private readonly partitions = new Map<string, PartitionState>()
  private readonly tables = new Map<string, LookupTable>()
  private readonly groupHistory = new Map<string, number[]>()
  private readonly options: Required<TrackerOptions>

  constructor(options: TrackerOptions = {}) {
    this.options = {
      rateWindowMs: options.rateWindowMs ?? DEFAULT_RATE_WINDOW_MS,
      historyLength: options.historyLength ?? DEFAULT_HISTORY,
      allowedLag: options.allowedLag ?? 0n,
      stallAfterMs: options.stallAfterMs ?? 30_000,
    }
  }

  update(sample: LagSample): LagView {
    const now = sample.sampledAtMs
    const offsets = new Map<string, SampledPartition>()
    // One lookup table per topic-partition, shared by every group reading it.
    for (const [topic, partitions] of sample.topics) {
      for (const p of partitions) {
        const key = `${topic}\u0000${p.partition}`
        offsets.set(key, p)
        let table = this.tables.get(key) ?? emptyLookupTable()
        if (logEndWentBackwards(table, p.logEndOffset)) table = emptyLookupTable()
        this.tables.set(key, addPoint(table, {offset: p.logEndOffset, timeMs: now}))
      }
    }
    const unavailable = new Set(sample.unavailablePartitions.map((p) => `${p.topic}\u0000${p.partition}`))
    const groups = sample.groups.map((g) => this.groupView(g, now, offsets, unavailable))
    return {sampledAtMs: now, groups, missingTopics: sample.missingTopics, unavailablePartitions: sample.unavailablePartitions}
  }

  private groupView(group: SampledGroup, now: number, logOffsets: ReadonlyMap<string, SampledPartition>, unavailable: ReadonlySet<string>): GroupView {
    const unavailablePartitions: GroupView['unavailablePartitions'] = []
    const owners = new Map<string, MemberReport>()
    for (const m of group.members) for (const p of m.partitions) owners.set(`${p.topic}\u0000${p.partition}`, m)
    const rebalancing = REBALANCING.has(group.state)
    const extras = new Map<string, Omit<PartitionView, keyof PartitionReport>>()
    const inputs: Parameters<typeof groupReport>[0]['partitions'][number][] = []

    for (const commit of group.commits) {
      const tpKey = `${commit.topic}\u0000${commit.partition}`
      const offsets = logOffsets.get(tpKey)
      if (offsets === undefined) {
        // No leader: the lag is unknown. A deleted topic is listed in missingTopics instead.
        if (unavailable.has(tpKey)) unavailablePartitions.push({topic: commit.topic, partition: commit.partition, committedOffset: commit.committedOffset})
        continue
      }
      const key = `${group.group}\u0000${tpKey}`
      const position = {topic: commit.topic, partition: commit.partition, committedOffset: commit.committedOffset, logStartOffset: offsets.logStartOffset, logEndOffset: offsets.logEndOffset}
      const {lag} = partitionLag(position)
      const state = this.partitions.get(key) ?? {commits: [], positions: [], firstSeenMs: now, lagHistory: []}
      if (commit.committedOffset !== null) state.commits = recordCommit(state.commits, {offset: commit.committedOffset, lag, timeMs: now})
      state.positions = [...state.positions, {committedOffset: commit.committedOffset, logEndOffset: offsets.logEndOffset, sampledAtMs: now}].filter(
        (p) => p.sampledAtMs >= now - this.options.rateWindowMs,
      )
      state.lagHistory = [...state.lagHistory, lag === null ? null : Number(lag)].slice(-this.options.historyLength)
      this.partitions.set(key, state)

      const owner = owners.get(tpKey)
      const status: PartitionStatus = polledPartitionStatus({
        commits: state.commits,
        recentLogEndOffsets: state.positions.map((p) => p.logEndOffset),
        currentLag: lag,
        nowMs: now,
        allowedLag: this.options.allowedLag,
        owned: owner !== undefined || rebalancing,
        observedForMs: now - state.firstSeenMs,
        stallAfterMs: this.options.stallAfterMs,
      })
      const table = this.tables.get(tpKey) ?? emptyLookupTable()
      // Exact when the record at the committed offset was read (its age), else estimated.
      const exact = commit.committedRecordTimeMs
      const timeLagMs = lag === 0n ? 0 : exact !== undefined ? Math.max(0, now - exact) : estimateTimeLagMs(table, commit.committedOffset, now)
      const rates = partitionRates(state.positions, this.options.rateWindowMs)
      extras.set(tpKey, {
        productionPerSec: rates.productionPerSec,
        consumptionPerSec: rates.consumptionPerSec,
        catchUp: catchUpMs(lag, rates),
        owner: owner === undefined ? null : {clientId: owner.clientId, host: owner.host},
        lagHistory: state.lagHistory,
      })
      inputs.push({position, timeLagMs, status})
    }

    const report = groupReport({group: group.group, state: group.state, exists: group.exists, members: group.members, partitions: inputs})
    const partitions = report.partitions.map((p): PartitionView => ({...p, ...extras.get(`${p.topic}\u0000${p.partition}`)!}))
    const sum = (values: (number | null)[]): number | null => (values.some((v) => v === null) || values.length === 0 ? null : values.reduce<number>((a, v) => a + v!, 0))
    const productionPerSec = sum(partitions.map((p) => p.productionPerSec))
    const consumptionPerSec = sum(partitions.map((p) => p.consumptionPerSec))
    const history = [...(this.groupHistory.get(group.group) ?? []), Number(report.totalLag)].slice(-this.options.historyLength)
    this.groupHistory.set(group.group, history)
    // A group that cannot be read, or that has partitions nobody can consume from (no leader),
    // is not keeping up as far as anyone can tell: ERR, so --fail-on err fails in an outage.
    const status = group.unavailable !== undefined || (unavailablePartitions.length > 0 && report.status !== 'NOTFOUND') ? 'ERR' : report.status
    return {
      ...report,
      status,
      unavailablePartitions,
      ...(group.unavailable === undefined ? {} : {unavailable: group.unavailable}),
      exists: group.exists,
      partitions,
      productionPerSec,
      consumptionPerSec,
      catchUp: catchUpMs(report.totalLag, {productionPerSec, consumptionPerSec}),
      unownedPartitions: rebalancing ? 0 : partitions.filter((p) => p.owner === null).length,
      lostRecords: partitions.reduce((a, p) => a + p.lostRecords, 0n),
      lagHistory: history,
    }
  }
}

/** Groups with lag (or a status other than OK), for --only-lagging. */
export function onlyLagging(view: LagView): LagView {
  const groups = view.groups
    .map((g) => ({...g, partitions: g.partitions.filter((p) => (p.lag !== null && p.lag > 0n) || p.status !== 'OK')}))
    .filter((g) => g.partitions.length > 0 || g.status !== 'OK')
  return {...view, groups}
}

export function viewBreaches(view: LagView, thresholds: Thresholds, named: readonly string[]): Breach[] {
  const breaches = evaluateThresholds(thresholds, view.groups)
  // A group named on the command line that does not exist fails the run whatever --fail-on says.
  for (const g of view.groups) {
    if (g.status === 'NOTFOUND' && named.includes(g.group) && !breaches.some((b) => b.group === g.group && b.what === 'status')) {
      breaches.push({group: g.group, what: 'status', value: 'NOTFOUND', limit: 'exists'})
    }
  }
  return breaches
}

export interface LagViewJson extends LagJson {
  sampledAt: string
  missingTopics: string[]
  unavailablePartitions: {topic: string; partition: number}[]
}

const catchUpJson = (c: CatchUp): {catchUpMs: number | null; fallingBehind: boolean} => ({catchUpMs: typeof c === 'number' ? c : null, fallingBehind: c === 'falling-behind'})
const rate = (r: number | null): number | null => (r === null ? null : Math.round(r * 10) / 10)

/** `lag --json` (DESIGN §2) plus the fields the view adds: rates, catch-up, owners, data loss. */
export function lagViewJson(view: LagView, breaches: readonly Breach[]): LagViewJson {
  const base = lagJson(view.groups, breaches)
  return {
    sampledAt: new Date(view.sampledAtMs).toISOString(),
    groups: base.groups.map((g, i) => {
      const v = view.groups[i]!
      return {
        ...g,
        memberCount: v.members.length,
        productionPerSec: rate(v.productionPerSec),
        consumptionPerSec: rate(v.consumptionPerSec),
        ...catchUpJson(v.catchUp),
        unownedPartitions: v.unownedPartitions,
        lostRecords: offsetToJson(v.lostRecords),
        unavailablePartitions: v.unavailablePartitions.map((p) => ({topic: p.topic, partition: p.partition, committedOffset: offsetToJson(p.committedOffset)})),
        unavailable: v.unavailable ?? null,
        partitions: g.partitions.map((p, j) => {
          const pv = v.partitions[j]!
          return {...p, owner: pv.owner, productionPerSec: rate(pv.productionPerSec), consumptionPerSec: rate(pv.consumptionPerSec), ...catchUpJson(pv.catchUp)}
        }),
      }
    }),
    breaches: base.breaches,
    missingTopics: view.missingTopics,
    unavailablePartitions: view.unavailablePartitions,
  }
}
