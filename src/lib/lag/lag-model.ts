/**
 * Consumer lag, the pure core: offset lag, time lag, rates, catch-up time, Burrow-style status and
 * threshold breaches over plain sampled data. No Kafka here; the command layer samples the cluster
 * (committed offsets, log start and end offsets, with the time of each sample) and feeds them in.
 *
 * Offsets are `bigint` everywhere inside: Kafka offsets are signed 64-bit and may pass 2^53, where
 * a JS number silently rounds. Only `offsetToJson` turns them into JSON values, a number when it is
 * a safe integer and a decimal string otherwise, so `lag --json` never prints a rounded offset.
 * Times are milliseconds since the epoch as numbers (safe until the year 287396).
 *
 * The rules come from two public tools, re-implemented here from their descriptions, not copied:
 * - linkedin/Burrow `core/internal/evaluator/caching.go` (status rules 1–5, recent-lag-zero, the
 *   group status as the worst partition with STOP/STALL/REWIND reported as ERR, NOTFOUND) and its
 *   `caching_test.go` vectors, ported as scenarios in test/unit/lag/lag-model.test.ts.
 * - seglo/kafka-lag-exporter `src/main/scala/com/lightbend/kafkalagexporter/LookupTable.scala`
 *   (the bounded table of (log end offset, time) points and the interpolation of time lag).
 */

// ---------------------------------------------------------------------------------------------
// Offsets and positions

/** One sample of a group's position on one partition, taken at `sampledAtMs`. */
export interface PartitionPosition {
  group: string
  topic: string
  partition: number
  /** The group's committed offset (the next record it will read); null when it never committed. */
  committedOffset: bigint | null
  logStartOffset: bigint
  logEndOffset: bigint
  sampledAtMs: number
}

export interface PartitionLag {
  /** logEnd − committed, never below 0; null without a commit (we do not invent a number). */
  lag: bigint | null
  /** The commit points below the log start: retention deleted records the group never read. */
  dataLost: boolean
  /** How many records were deleted unread (logStart − committed), 0 unless `dataLost`. */
  lostRecords: bigint
  /**
   * The commit points past the log end: the topic was truncated or recreated under the group.
   * The lag is then 0 (clamped) but the group will reset by its `auto.offset.reset` policy.
   */
  committedBeyondEnd: boolean
}

const ZERO = 0n

export function partitionLag(position: Pick<PartitionPosition, 'committedOffset' | 'logStartOffset' | 'logEndOffset'>): PartitionLag {
  const {committedOffset, logStartOffset, logEndOffset} = position
  if (committedOffset === null) return {lag: null, dataLost: false, lostRecords: ZERO, committedBeyondEnd: false}
  const raw = logEndOffset - committedOffset
  const lost = logStartOffset - committedOffset
  return {
    lag: raw > ZERO ? raw : ZERO,
    dataLost: lost > ZERO,
    lostRecords: lost > ZERO ? lost : ZERO,
    committedBeyondEnd: raw < ZERO,
  }
}

/** A JSON value for an offset or a count: a number when exactly representable, else a decimal string. */
export function offsetToJson(value: bigint): number | string
export function offsetToJson(value: bigint | null): number | string | null
export function offsetToJson(value: bigint | null): number | string | null {
  if (value === null) return null
  const asNumber = Number(value)
  return Number.isSafeInteger(asNumber) ? asNumber : value.toString()
}

/**
 * Reads an offset Kafka clients hand over as a string (kafkajs returns `'-1'` for "no commit").
 * Returns null for a negative or unparsable value, so a sentinel never becomes a real offset.
 */
export function parseOffset(text: string | number | bigint | null | undefined): bigint | null {
  if (text === null || text === undefined) return null
  if (typeof text === 'bigint') return text >= ZERO ? text : null
  if (typeof text === 'number') return Number.isSafeInteger(text) && text >= 0 ? BigInt(text) : null
  if (!/^\d+$/.test(text.trim())) return null
  return BigInt(text.trim())
}

// ---------------------------------------------------------------------------------------------
// Time lag: a lookup table of (log end offset, time) points, as kafka-lag-exporter keeps

export interface OffsetPoint {
  offset: bigint
  timeMs: number
}

/** A bounded, time-ordered list of log-end points for one partition. Immutable: add returns a new one. */
export interface LookupTable {
  readonly limit: number
  readonly points: readonly OffsetPoint[]
}

export const DEFAULT_LOOKUP_LIMIT = 60

export function emptyLookupTable(limit = DEFAULT_LOOKUP_LIMIT): LookupTable {
  if (!Number.isInteger(limit) || limit < 2) throw new RangeError(`a lookup table needs room for at least 2 points, not ${limit}`)
  return {limit, points: []}
}

/**
 * Adds a point the way LookupTable.addPoint does: a point not newer than the last one (out of
 * order) or with a smaller offset (not monotonic: a truncated or recreated topic) is ignored; a
 * third point on a flat line replaces the second, so an idle producer keeps one segment whose right
 * end moves forward instead of filling the table; otherwise the point is appended and the oldest
 * dropped at the limit. A table that rejects a truncated topic never recovers by itself: the caller
 * starts a new table when it sees the log end go backwards (`logEndWentBackwards`).
 */
export function addPoint(table: LookupTable, point: OffsetPoint): LookupTable {
  if (!Number.isFinite(point.timeMs)) return table
  const points = table.points
  const last = points.at(-1)
  if (last !== undefined) {
    if (last.timeMs >= point.timeMs) return table
    if (last.offset > point.offset) return table
    const beforeLast = points.at(-2)
    if (last.offset === point.offset && beforeLast !== undefined && beforeLast.offset === point.offset) {
      return {limit: table.limit, points: [...points.slice(0, -1), point]}
    }
  }
  const kept = points.length >= table.limit ? points.slice(points.length - table.limit + 1) : points
  return {limit: table.limit, points: [...kept, point]}
}

/** True when a new log end is below the table's last one: the topic was truncated or recreated. */
export function logEndWentBackwards(table: LookupTable, logEndOffset: bigint): boolean {
  const last = table.points.at(-1)
  return last !== undefined && logEndOffset < last.offset
}

export type TimeLookup =
  | {kind: 'lag-is-zero'}
  | {kind: 'too-few-points'}
  | {kind: 'prediction'; timeMs: number; extrapolated: boolean}

/**
 * Predicts when the log end was at `offset`: interpolated between the newest two points that
 * bracket it, else extrapolated along the line through the oldest and newest points (the longest
 * trend available), as LookupTable.lookup does. Where kafka-lag-exporter divides by a zero slope
 * (flat points: an idle producer) this returns the latest time the log end is known to have been
 * at or past the offset instead, so the result is always finite.
 */
export function lookupTime(table: LookupTable, offset: bigint): TimeLookup {
  const points = table.points
  const last = points.at(-1)
  if (last !== undefined && offset >= last.offset) return {kind: 'lag-is-zero'}
  if (points.length < 2 || last === undefined) return {kind: 'too-few-points'}
  for (let i = points.length - 1; i > 0; i--) {
    const left = points[i - 1]!
    const right = points[i]!
    if (offset >= left.offset && offset <= right.offset) return {kind: 'prediction', timeMs: solve(left, right, offset), extrapolated: false}
  }
  return {kind: 'prediction', timeMs: solve(points[0]!, last, offset), extrapolated: true}
}

function solve(left: OffsetPoint, right: OffsetPoint, offset: bigint): number {
  // Differences of bigints first, then to numbers: exact for any realistic gap, finite for any int64.
  const dy = Number(right.offset - left.offset)
  const dx = right.timeMs - left.timeMs
  if (dy === 0) return offset === right.offset ? right.timeMs : left.timeMs
  return right.timeMs - (Number(right.offset - offset) * dx) / dy
}

/**
 * Time lag in ms: how long ago the log end stood where the group has committed. Null when it cannot
 * be known (no commit, fewer than two points); 0 when caught up; never negative, NaN or infinite.
 * With an idle producer and a group behind it, the flat table gives `now − oldest point`: a lower
 * bound, the records having been written before the table began.
 */
export function estimateTimeLagMs(table: LookupTable, committedOffset: bigint | null, nowMs: number): number | null {
  if (committedOffset === null || !Number.isFinite(nowMs)) return null
  const found = lookupTime(table, committedOffset)
  if (found.kind === 'lag-is-zero') return 0
  if (found.kind === 'too-few-points') return null
  const lagMs = Math.round(nowMs - found.timeMs)
  if (!Number.isFinite(lagMs)) return null
  return lagMs > 0 ? lagMs : 0
}

// ---------------------------------------------------------------------------------------------
// Rates and catch-up time

export interface RateSample {
  offset: bigint
  timeMs: number
}

/**
 * Records per second over the samples inside the window ending at the newest sample: (newest −
 * oldest offset) / elapsed. Null with fewer than two samples at distinct times, or when the offset
 * went backwards (a reset or truncation is not a negative rate).
 */
export function ratePerSecond(samples: readonly RateSample[], windowMs: number): number | null {
  const newest = samples.at(-1)
  if (newest === undefined) return null
  const inWindow = samples.filter((s) => s.timeMs >= newest.timeMs - windowMs && s.timeMs <= newest.timeMs)
  const oldest = inWindow[0]
  if (oldest === undefined) return null
  const elapsedMs = newest.timeMs - oldest.timeMs
  if (!(elapsedMs > 0)) return null
  const delta = newest.offset - oldest.offset
  if (delta < ZERO) return null
  const rate = (Number(delta) * 1000) / elapsedMs
  return Number.isFinite(rate) ? rate : null
}

export interface PartitionRates {
  /** Records appended per second (log end offsets). */
  productionPerSec: number | null
  /** Records committed per second (committed offsets). */
  consumptionPerSec: number | null
}

/** Both rates from one window of positions (samples without a commit are left out of consumption). */
export function partitionRates(positions: readonly Pick<PartitionPosition, 'committedOffset' | 'logEndOffset' | 'sampledAtMs'>[], windowMs: number): PartitionRates {
  const produced = positions.map((p) => ({offset: p.logEndOffset, timeMs: p.sampledAtMs}))
  const consumed: RateSample[] = []
  for (const p of positions) if (p.committedOffset !== null) consumed.push({offset: p.committedOffset, timeMs: p.sampledAtMs})
  return {productionPerSec: ratePerSecond(produced, windowMs), consumptionPerSec: ratePerSecond(consumed, windowMs)}
}

export type CatchUp = number | 'falling-behind' | null

/**
 * Milliseconds until the lag reaches 0 at the current rates: 0 when caught up, `'falling-behind'`
 * when the group consumes no faster than the topic grows, null when the lag or a rate is unknown.
 */
export function catchUpMs(lag: bigint | null, rates: PartitionRates): CatchUp {
  if (lag === null) return null
  if (lag <= ZERO) return 0
  const {productionPerSec: produced, consumptionPerSec: consumed} = rates
  if (produced === null || consumed === null) return null
  const net = consumed - produced
  if (!(net > 0)) return 'falling-behind'
  const ms = Math.ceil((Number(lag) / net) * 1000)
  return Number.isFinite(ms) ? ms : null
}

// ---------------------------------------------------------------------------------------------
// Status, by Burrow's rules

/** A partition's status; the strings are part of `lag --json` and stay as they are. */
export const PARTITION_STATUSES = ['OK', 'WARN', 'STOP', 'STALL', 'REWIND'] as const
export type PartitionStatus = (typeof PARTITION_STATUSES)[number]

/** A group's status; the strings are part of `lag --json` and stay as they are. */
export const GROUP_STATUSES = ['OK', 'WARN', 'ERR', 'NOTFOUND'] as const
export type GroupStatus = (typeof GROUP_STATUSES)[number]

/** One commit the group made (or, when polling, the first time a new committed offset was seen). */
export interface CommitSample {
  offset: bigint
  /** The partition's lag at that moment; null when the log end was not known then. */
  lag: bigint | null
  timeMs: number
}

export interface StatusInput {
  /** The window of commits, oldest first (Burrow keeps `intervals`, default 10). */
  commits: readonly CommitSample[]
  /** Recent log end offsets of the partition, any order (Burrow's broker offsets). */
  recentLogEndOffsets: readonly bigint[]
  currentLag: bigint | null
  nowMs: number
  /**
   * A lag at or below this counts as caught up, for the current lag and for rule 1. kpipe's own
   * knob, not Burrow's: 0 (the default) is Burrow's rule exactly; a busy topic polled between a
   * produce and the next commit is never at 0, and this lets it still read OK.
   */
  allowedLag?: bigint
  /**
   * Fewer commits than this and the partition is OK (Burrow's `minimum-complete`, as a count):
   * with one commit, "stopped" would fire as soon as any time passed. Default 2.
   */
  minimumCommits?: number
}

/**
 * Burrow's calculatePartitionStatus, in its order:
 * - a current lag within `allowedLag` is OK whatever the history;
 * - STOP: the time since the last commit is greater than the span of the window (rule 3), unless
 *   the recent log ends show the last commit had caught up (checkIfRecentLagZero, Burrow #303);
 * - if the lag was ever within `allowedLag` in the window, OK (rule 1); otherwise
 * - REWIND: a committed offset went backwards (rule 2);
 * - STALL: the committed offset never moved while there was lag (rule 4);
 * - WARN: the offsets move but the lag never decreased between commits (rule 5);
 * - else OK.
 */
export function partitionStatus(input: StatusInput): PartitionStatus {
  const allowed = input.allowedLag ?? ZERO
  const minimum = Math.max(1, input.minimumCommits ?? 2)
  const commits = input.commits
  if (input.currentLag === null || input.currentLag <= allowed) return 'OK'
  if (commits.length < minimum) return 'OK'
  if (offsetsStopped(commits, input.nowMs) && !recentLagZero(commits, input.recentLogEndOffsets)) return 'STOP'
  if (!lagAlwaysAbove(commits, allowed)) return 'OK'
  if (offsetsRewind(commits)) return 'REWIND'
  if (offsetsStalled(commits)) return 'STALL'
  if (lagNotDecreasing(commits)) return 'WARN'
  return 'OK'
}

/** How long an owned partition with lag may keep one committed offset before a poller calls it STALL. */
export const DEFAULT_STALL_AFTER_MS = 30_000

export interface PolledStatusInput extends StatusInput {
  /**
   * Whether a member of the group consumes the partition: false when the group has no active
   * member (Empty) or when a settled group assigns the partition to no one. A rebalancing group
   * counts as owning everything, so a rebalance never reads as STOP.
   */
  owned: boolean
  /** How long this partition has been watched: now − the first sample of it. */
  observedForMs: number
  stallAfterMs?: number
}

/**
 * The status a poller can give. Burrow reads every commit with its time from __consumer_offsets;
 * a poller only sees committed offsets change, so with fewer than two changes seen it decides
 * from what else it knows:
 * - a lag within `allowedLag` (or unknown) is OK;
 * - no member owns the partition and its offset has not moved for `stallAfterMs` (or never
 *   moved while watched): STOP — nobody will consume that lag. This is what one `kpipe lag`
 *   run can say about a stopped consumer;
 * - with two or more changes seen, Burrow's rules over them (`partitionStatus`);
 * - otherwise an owned partition whose offset stood still for `stallAfterMs` is STALL (its
 *   consumer is there but does not progress), and OK before that.
 */
export function polledPartitionStatus(input: PolledStatusInput): PartitionStatus {
  const allowed = input.allowedLag ?? ZERO
  const stallAfter = input.stallAfterMs ?? DEFAULT_STALL_AFTER_MS
  if (input.currentLag === null || input.currentLag <= allowed) return 'OK'
  const commits = input.commits
  const minimum = Math.max(2, input.minimumCommits ?? 2)
  const last = commits.at(-1)
  const movedRecently = commits.length >= 2 && last !== undefined && input.nowMs - last.timeMs < stallAfter
  if (!input.owned && !movedRecently) return 'STOP'
  if (commits.length >= minimum) return partitionStatus(input)
  if (input.observedForMs >= stallAfter) return 'STALL'
  return 'OK'
}

/** Rule 1, negated: every known lag in the window is above the allowance (unknown lags are skipped). */
export function lagAlwaysAbove(commits: readonly CommitSample[], allowedLag: bigint = ZERO): boolean {
  return commits.every((c) => c.lag === null || c.lag > allowedLag)
}

/** Rule 2: a committed offset lower than the one before it. */
export function offsetsRewind(commits: readonly CommitSample[]): boolean {
  for (let i = 1; i < commits.length; i++) if (commits[i]!.offset < commits[i - 1]!.offset) return true
  return false
}

/** Rule 3: now − last commit > last commit − first commit (strictly: equal is not stopped). */
export function offsetsStopped(commits: readonly CommitSample[], nowMs: number): boolean {
  const first = commits[0]
  const last = commits.at(-1)
  if (first === undefined || last === undefined) return false
  return nowMs - last.timeMs > last.timeMs - first.timeMs
}

/** Rule 4: the committed offset is the same in every commit of the window. */
export function offsetsStalled(commits: readonly CommitSample[]): boolean {
  return commits.every((c) => c.offset === commits[0]!.offset)
}

/** Rule 5: no known lag is lower than the known lag before it (unknown lags are skipped). */
export function lagNotDecreasing(commits: readonly CommitSample[]): boolean {
  let previous: bigint | null = null
  for (const c of commits) {
    if (c.lag === null) continue
    if (previous !== null && c.lag < previous) return false
    previous = c.lag
  }
  return true
}

/** Burrow's checkIfRecentLagZero: a recent log end at or below the last commit means it had caught up. */
export function recentLagZero(commits: readonly CommitSample[], recentLogEndOffsets: readonly bigint[]): boolean {
  const last = commits.at(-1)
  if (last === undefined) return false
  return recentLogEndOffsets.some((end) => end <= last.offset)
}

export const DEFAULT_COMMIT_WINDOW = 10

/**
 * Appends a commit to a bounded window, oldest dropped first. A poller sees only the committed
 * offset, not each commit, so by default an unchanged offset is not a new commit: the window then
 * keeps the time the offset was first seen and a consumer that stops committing shows as STOP.
 * (Re-commits of one offset — Burrow's STALL — are then indistinguishable from a stop; pass
 * `keepRepeats` when the samples are real commits with their own times.)
 */
export function recordCommit(window: readonly CommitSample[], commit: CommitSample, options: {limit?: number; keepRepeats?: boolean} = {}): CommitSample[] {
  const limit = Math.max(1, options.limit ?? DEFAULT_COMMIT_WINDOW)
  const last = window.at(-1)
  if (last !== undefined && commit.timeMs <= last.timeMs) return [...window]
  if (last !== undefined && !options.keepRepeats && last.offset === commit.offset) return [...window]
  const next = [...window, commit]
  return next.length > limit ? next.slice(next.length - limit) : next
}

const GROUP_RANK: Record<GroupStatus, number> = {OK: 0, WARN: 1, ERR: 2, NOTFOUND: 3}

/** A partition status as a group sees it: Burrow reports anything worse than WARN as ERR. */
export function groupStatusOf(status: PartitionStatus): GroupStatus {
  return status === 'OK' ? 'OK' : status === 'WARN' ? 'WARN' : 'ERR'
}

/** The worst partition's status; NOTFOUND when the group does not exist; OK with no partitions. */
export function groupStatus(exists: boolean, statuses: readonly PartitionStatus[]): GroupStatus {
  if (!exists) return 'NOTFOUND'
  let worst: GroupStatus = 'OK'
  for (const s of statuses) {
    const g = groupStatusOf(s)
    if (GROUP_RANK[g] > GROUP_RANK[worst]) worst = g
  }
  return worst
}

// ---------------------------------------------------------------------------------------------
// Reports (what `lag --json` prints) and thresholds

export interface PartitionReport {
  topic: string
  partition: number
  committedOffset: bigint | null
  logStartOffset: bigint
  logEndOffset: bigint
  lag: bigint | null
  timeLagMs: number | null
  status: PartitionStatus
  dataLost: boolean
  lostRecords: bigint
}

/** One active member of a group, as the coordinator describes it. */
export interface MemberReport {
  memberId: string
  clientId: string
  host: string
  /** Its assigned partitions, sorted; empty for a member of a non-consumer protocol (Connect). */
  partitions: {topic: string; partition: number}[]
}

export interface GroupReport {
  group: string
  /** The coordinator's state as Kafka names it (Stable, Empty, PreparingRebalance, Dead, ...). */
  state: string
  status: GroupStatus
  totalLag: bigint
  maxTimeLagMs: number | null
  members: readonly MemberReport[]
  partitions: PartitionReport[]
}

export interface GroupInput {
  group: string
  state: string
  exists: boolean
  members: readonly MemberReport[]
  partitions: readonly {
    position: Pick<PartitionPosition, 'topic' | 'partition' | 'committedOffset' | 'logStartOffset' | 'logEndOffset'>
    timeLagMs: number | null
    status: PartitionStatus
  }[]
}

/** A group's report: partitions sorted by topic then partition; totals over the known lags. */
export function groupReport(input: GroupInput): GroupReport {
  const partitions = input.partitions
    .map(({position, timeLagMs, status}): PartitionReport => {
      const lag = partitionLag(position)
      return {
        topic: position.topic,
        partition: position.partition,
        committedOffset: position.committedOffset,
        logStartOffset: position.logStartOffset,
        logEndOffset: position.logEndOffset,
        lag: lag.lag,
        timeLagMs,
        status,
        dataLost: lag.dataLost,
        lostRecords: lag.lostRecords,
      }
    })
    .sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition))
  let totalLag = ZERO
  let maxTimeLagMs: number | null = null
  for (const p of partitions) {
    if (p.lag !== null) totalLag += p.lag
    if (p.timeLagMs !== null && (maxTimeLagMs === null || p.timeLagMs > maxTimeLagMs)) maxTimeLagMs = p.timeLagMs
  }
  return {
    group: input.group,
    state: input.state,
    status: groupStatus(input.exists, partitions.map((p) => p.status)),
    totalLag,
    maxTimeLagMs,
    members: input.members,
    partitions,
  }
}

export interface Thresholds {
  /** `--max-lag`: a breach when one partition's lag is above this. */
  maxLag?: bigint
  /** `--max-time-lag`: a breach when one partition's time lag is above this. */
  maxTimeLagMs?: number
  /** `--fail-on`: a breach when a group's status is this bad or worse (NOTFOUND is worse than ERR). */
  failOn?: 'warn' | 'err'
}

export interface Breach {
  group: string
  topic?: string
  partition?: number
  what: 'lag' | 'timeLag' | 'status'
  value: number | string
  limit: number | string
}

/**
 * The breaches, in group order then partition order. Limits are exclusive (a lag equal to
 * `--max-lag` passes). Unknown values (no commit, unknown time lag) never breach a number limit:
 * `--fail-on` is the check for a group that is missing or in error.
 */
export function evaluateThresholds(thresholds: Thresholds, groups: readonly GroupReport[]): Breach[] {
  const breaches: Breach[] = []
  const failRank = thresholds.failOn === 'warn' ? GROUP_RANK.WARN : thresholds.failOn === 'err' ? GROUP_RANK.ERR : null
  for (const g of groups) {
    if (failRank !== null && GROUP_RANK[g.status] >= failRank) {
      breaches.push({group: g.group, what: 'status', value: g.status, limit: thresholds.failOn!})
    }
    for (const p of g.partitions) {
      if (thresholds.maxLag !== undefined && p.lag !== null && p.lag > thresholds.maxLag) {
        breaches.push({group: g.group, topic: p.topic, partition: p.partition, what: 'lag', value: offsetToJson(p.lag), limit: offsetToJson(thresholds.maxLag)})
      }
      if (thresholds.maxTimeLagMs !== undefined && p.timeLagMs !== null && p.timeLagMs > thresholds.maxTimeLagMs) {
        breaches.push({group: g.group, topic: p.topic, partition: p.partition, what: 'timeLag', value: p.timeLagMs, limit: thresholds.maxTimeLagMs})
      }
    }
  }
  return breaches
}

export interface PartitionJson {
  topic: string
  partition: number
  committedOffset: number | string | null
  logStartOffset: number | string
  logEndOffset: number | string
  lag: number | string | null
  timeLagMs: number | null
  status: PartitionStatus
  dataLost: boolean
  lostRecords: number | string
}

export interface GroupJson {
  group: string
  state: string
  status: GroupStatus
  totalLag: number | string
  maxTimeLagMs: number | null
  members: MemberReport[]
  partitions: PartitionJson[]
}

export interface LagJson {
  groups: GroupJson[]
  breaches: Breach[]
}

/** The `lag --json` document (DESIGN §2), bigints made JSON-safe by `offsetToJson`. */
export function lagJson(groups: readonly GroupReport[], breaches: readonly Breach[]): LagJson {
  return {
    groups: groups.map((g) => ({
      group: g.group,
      state: g.state,
      status: g.status,
      totalLag: offsetToJson(g.totalLag),
      maxTimeLagMs: g.maxTimeLagMs,
      members: g.members.map((m) => ({...m, partitions: [...m.partitions]})),
      partitions: g.partitions.map((p) => ({
        topic: p.topic,
        partition: p.partition,
        committedOffset: offsetToJson(p.committedOffset),
        logStartOffset: offsetToJson(p.logStartOffset),
        logEndOffset: offsetToJson(p.logEndOffset),
        lag: offsetToJson(p.lag),
        timeLagMs: p.timeLagMs,
        status: p.status,
        dataLost: p.dataLost,
        lostRecords: offsetToJson(p.lostRecords),
      })),
    })),
    breaches: [...breaches],
  }
}
