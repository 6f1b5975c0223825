/**
 * Integrity reconciliation, the pure core of `kpipe integrity`: Kafka offsets against sink rows
 * and dead letters, per partition, over ranges. No Kafka, PostgreSQL or BigQuery here; the
 * service (integrity-service.ts) gathers the facts and feeds them in.
 *
 * What is counted follows Jepsen's Kafka checker and Kafka Connect's verifiable sink: over the
 * checked range [log start (or the first offset at/after --since), the group's committed offset)
 * every offset must be claimed by exactly one sink row or one dead letter. An offset claimed by
 * none is missing, by two rows or a row and a dead letter a duplicate; a row at an offset that cannot exist (beyond the
 * log end, negative, in a partition the topic does not have) is an orphan. What cannot be checked
 * (records deleted by retention, transaction markers and aborted records, compacted topics, a
 * partition the group never committed) is reported as unchecked, never as good or bad.
 *
 * Rows come in as islands (runs of consecutive offsets, what gaps-and-islands SQL returns), dead
 * letters as offsets, so the work is proportional to the number of gaps, not of rows. Offsets that
 * no row and no dead letter claims are first returned by `unaccountedRanges`, for the service to
 * read from Kafka (normally few); what that read finds comes back as a `Resolution`: records whose
 * event id is stored at another offset (superseded: the events table keeps one row per event id,
 * so a producer retry or a replay leaves a second offset with no row of its own), and offsets
 * Kafka holds no data record at (transaction markers, aborted records).
 *
 * Offsets are bigint everywhere; ranges are inclusive at both ends.
 */
import {offsetToJson} from '../lag/lag-model.js'

export interface OffsetRange {
  from: bigint
  /** Inclusive. */
  to: bigint
}

/** A run of consecutive offsets that each have at least one row; `rows` counts them all. */
export interface RowIsland extends OffsetRange {
  rows: bigint
}

export interface DuplicateRows {
  offset: bigint
  /** Two or more rows claim this offset. */
  rows: bigint
}

export interface PartitionFacts {
  partition: number
  /** False when rows (or dead letters) name a partition the topic does not have. */
  exists: boolean
  logStart: bigint
  logEnd: bigint
  /** The group's committed offset (the next it will read); null when it never committed. */
  committed: bigint | null
  /** First offset at or after --since; undefined without --since. */
  since?: bigint
  /** Disjoint, any order. Rows below the checked range may be left out (the SQL does). */
  islands: readonly RowIsland[]
  /** Every offset with two or more rows (empty when every island has rows = its span). */
  duplicateRows?: readonly DuplicateRows[]
  /** Original offsets of this partition's dead letters; an offset dead-lettered twice appears twice. */
  deadLetters: readonly bigint[]
}

/** What reading the unaccounted offsets from Kafka found. */
export interface Resolution {
  /** Records whose event id is stored at another offset: accounted for, not missing. */
  superseded: readonly OffsetRange[]
  /** Offsets Kafka has no data record at: transaction markers, aborted records. */
  notRecords: readonly OffsetRange[]
}

export type UncheckedReason = 'retention' | 'no-commit' | 'compacted' | 'not-a-record'
export type OrphanReason = 'beyond-end' | 'negative-offset' | 'no-such-partition'

export interface Unchecked extends OffsetRange {
  count: bigint
  reason: UncheckedReason
}

export interface Orphan extends OffsetRange {
  /** A sink row or a dead letter claiming an impossible offset. */
  kind: 'row' | 'dead-letter'
  count: bigint
  reason: OrphanReason
}

/** An offset claimed more than once: two rows, or a row and a dead letter. */
export interface OffsetDuplicate {
  offset: bigint
  rows: bigint
  deadLetters: bigint
}

export interface PartitionReport {
  partition: number
  exists: boolean
  logStart: bigint
  logEnd: bigint
  committed: bigint | null
  /** null when nothing could be checked (no commit, empty range, compacted). */
  checked: OffsetRange | null
  checkedOffsets: bigint
  /** Rows at offsets of the checked range (a duplicated offset counts each row). */
  rows: bigint
  /** Offsets of the checked range that a dead letter accounts for. */
  deadLetters: bigint
  /** Extra dead letters of a record already dead-lettered (at least once; not a mismatch). */
  repeatedDeadLetters: bigint
  superseded: bigint
  missing: OffsetRange[]
  missingOffsets: bigint
  duplicates: OffsetDuplicate[]
  orphans: Orphan[]
  unchecked: Unchecked[]
  ok: boolean
}

const MIN_OFFSET = 0n

// ---------------------------------------------------------------------------------------------
// Range arithmetic

export function rangeSize(range: OffsetRange): bigint {
  return range.to >= range.from ? range.to - range.from + 1n : 0n
}

export function totalSize(ranges: readonly OffsetRange[]): bigint {
  let total = 0n
  for (const range of ranges) total += rangeSize(range)
  return total
}

/** Sorted, with overlapping and adjacent ranges merged and empty ones dropped. */
export function normalizeRanges(ranges: readonly OffsetRange[]): OffsetRange[] {
  const sorted = ranges.filter((r) => r.to >= r.from).sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0))
  const out: OffsetRange[] = []
  for (const range of sorted) {
    const last = out.at(-1)
    if (last && range.from <= last.to + 1n) {
      if (range.to > last.to) last.to = range.to
    } else {
      out.push({from: range.from, to: range.to})
    }
  }
  return out
}

/** `base` minus `remove`; both are normalised first. */
export function subtractRanges(base: readonly OffsetRange[], remove: readonly OffsetRange[]): OffsetRange[] {
  const holes = normalizeRanges(remove)
  const out: OffsetRange[] = []
  let h = 0
  for (const range of normalizeRanges(base)) {
    let from = range.from
    while (h < holes.length && holes[h]!.to < from) h++
    let i = h
    while (i < holes.length && holes[i]!.from <= range.to) {
      const hole = holes[i]!
      if (hole.from > from) out.push({from, to: hole.from - 1n})
      if (hole.to + 1n > from) from = hole.to + 1n
      i++
    }
    if (from <= range.to) out.push({from, to: range.to})
  }
  return out
}

export function intersectRanges(a: readonly OffsetRange[], b: readonly OffsetRange[]): OffsetRange[] {
  const left = normalizeRanges(a)
  const right = normalizeRanges(b)
  const out: OffsetRange[] = []
  let i = 0
  let j = 0
  while (i < left.length && j < right.length) {
    const from = left[i]!.from > right[j]!.from ? left[i]!.from : right[j]!.from
    const to = left[i]!.to < right[j]!.to ? left[i]!.to : right[j]!.to
    if (from <= to) out.push({from, to})
    if (left[i]!.to < right[j]!.to) i++
    else j++
  }
  return out
}

/** Runs of consecutive offsets (duplicates collapse). */
export function rangesOfOffsets(offsets: readonly bigint[]): OffsetRange[] {
  return normalizeRanges(offsets.map((offset) => ({from: offset, to: offset})))
}

/** Whether `offset` lies in one of `ranges` (normalised), by binary search. */
export function inRanges(ranges: readonly OffsetRange[], offset: bigint): boolean {
  let lo = 0
  let hi = ranges.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const range = ranges[mid]!
    if (offset < range.from) hi = mid - 1
    else if (offset > range.to) lo = mid + 1
    else return true
  }
  return false
}

// ---------------------------------------------------------------------------------------------
// One partition

/**
 * The offsets to check: [max(log start, --since offset), min(committed, log end)), or null when
 * there is none (no commit, a commit at or below the start, a partition the topic does not have).
 */
export function checkedRange(facts: PartitionFacts): OffsetRange | null {
  if (!facts.exists || facts.committed === null) return null
  const from = facts.since !== undefined && facts.since > facts.logStart ? facts.since : facts.logStart
  const end = facts.committed < facts.logEnd ? facts.committed : facts.logEnd
  return end - 1n >= from ? {from, to: end - 1n} : null
}

/** Offsets of the checked range that no row and no dead letter claims: what to read from Kafka. */
export function unaccountedRanges(facts: PartitionFacts, options: {compacted?: boolean} = {}): OffsetRange[] {
  const checked = checkedRange(facts)
  if (!checked || options.compacted) return []
  return subtractRanges(subtractRanges([checked], facts.islands), rangesOfOffsets(facts.deadLetters))
}

const NO_RESOLUTION: Resolution = {superseded: [], notRecords: []}

export function reconcilePartition(facts: PartitionFacts, resolution: Resolution = NO_RESOLUTION, options: {compacted?: boolean} = {}): PartitionReport {
  const checked = checkedRange(facts)
  const islands = normalizeRanges(facts.islands)
  const report: PartitionReport = {
    partition: facts.partition,
    exists: facts.exists,
    logStart: facts.logStart,
    logEnd: facts.logEnd,
    committed: facts.committed,
    checked: null,
    checkedOffsets: 0n,
    rows: 0n,
    deadLetters: 0n,
    repeatedDeadLetters: 0n,
    superseded: 0n,
    missing: [],
    missingOffsets: 0n,
    duplicates: [],
    orphans: [],
    unchecked: [],
    ok: true,
  }

  if (!facts.exists) {
    // Every row and dead letter of a partition the topic does not have is impossible.
    for (const range of islands) report.orphans.push({kind: 'row', ...range, count: rangeSize(range), reason: 'no-such-partition'})
    for (const range of rangesOfOffsets(facts.deadLetters)) {
      report.orphans.push({kind: 'dead-letter', ...range, count: countIn(facts.deadLetters, range), reason: 'no-such-partition'})
    }
    report.ok = report.orphans.length === 0
    return report
  }

  const from = facts.since !== undefined && facts.since > facts.logStart ? facts.since : facts.logStart
  if (facts.logStart > MIN_OFFSET && (facts.since === undefined || facts.since <= facts.logStart)) {
    report.unchecked.push({from: 0n, to: facts.logStart - 1n, count: facts.logStart, reason: 'retention'})
  }
  if (options.compacted) {
    const end = facts.committed ?? facts.logEnd
    if (end - 1n >= from) report.unchecked.push({from, to: end - 1n, count: end - from, reason: 'compacted'})
    return report
  }
  if (facts.committed === null && facts.logEnd - 1n >= from) {
    report.unchecked.push({from, to: facts.logEnd - 1n, count: facts.logEnd - from, reason: 'no-commit'})
  }

  // Orphans: rows and dead letters at offsets that cannot exist.
  for (const range of intersectRanges(islands, [{from: facts.logEnd, to: maxOf(islands, facts.deadLetters, facts.logEnd)}])) {
    report.orphans.push({kind: 'row', ...range, count: rangeSize(range) + extraRowsIn(facts.duplicateRows, range), reason: 'beyond-end'})
  }
  for (const range of intersectRanges(islands, [{from: minOf(islands, -1n), to: -1n}])) {
    report.orphans.push({kind: 'row', ...range, count: rangeSize(range) + extraRowsIn(facts.duplicateRows, range), reason: 'negative-offset'})
  }
  for (const range of rangesOfOffsets(facts.deadLetters.filter((offset) => offset >= facts.logEnd))) {
    report.orphans.push({kind: 'dead-letter', ...range, count: countIn(facts.deadLetters, range), reason: 'beyond-end'})
  }

  // Duplicates: offsets of [start, log end) claimed by two rows, or by a row and a dead letter.
  // Two dead letters of one record are not: the dead-letter write is at least once (it precedes
  // the offset commit, so a crash or a second group consuming the topic repeats it), and both say
  // the same thing, that the record is not in the sink.
  const lettersAt = new Map<bigint, bigint>()
  for (const offset of facts.deadLetters) {
    if (offset >= from && offset < facts.logEnd) lettersAt.set(offset, (lettersAt.get(offset) ?? 0n) + 1n)
  }
  const rowsAt = new Map<bigint, bigint>()
  for (const duplicate of facts.duplicateRows ?? []) {
    if (duplicate.offset >= from && duplicate.offset < facts.logEnd) rowsAt.set(duplicate.offset, duplicate.rows)
  }
  const claimed = new Set<bigint>([...rowsAt.keys()])
  for (const [offset, letters] of lettersAt) {
    if (inRanges(islands, offset)) claimed.add(offset)
    else if (letters > 1n) report.repeatedDeadLetters += letters - 1n
  }
  for (const offset of [...claimed].sort(compareBigint)) {
    const rows = rowsAt.get(offset) ?? (inRanges(islands, offset) ? 1n : 0n)
    report.duplicates.push({offset, rows, deadLetters: lettersAt.get(offset) ?? 0n})
  }

  if (checked) {
    report.checked = checked
    report.checkedOffsets = rangeSize(checked)
    const covered = intersectRanges(islands, [checked])
    report.rows = totalSize(covered) + covered.reduce((sum, range) => sum + extraRowsIn(facts.duplicateRows, range), 0n)
    report.deadLetters = totalSize(intersectRanges(rangesOfOffsets(facts.deadLetters), [checked]))
    const unaccounted = unaccountedRanges(facts)
    const superseded = intersectRanges(unaccounted, resolution.superseded)
    const notRecords = subtractRanges(intersectRanges(unaccounted, resolution.notRecords), superseded)
    report.superseded = totalSize(superseded)
    for (const range of notRecords) report.unchecked.push({...range, count: rangeSize(range), reason: 'not-a-record'})
    report.missing = subtractRanges(subtractRanges(unaccounted, superseded), notRecords)
    report.missingOffsets = totalSize(report.missing)
  }
  report.ok = report.missing.length === 0 && report.duplicates.length === 0 && report.orphans.length === 0
  return report
}

function extraRowsIn(duplicates: readonly DuplicateRows[] | undefined, range: OffsetRange): bigint {
  let extra = 0n
  for (const duplicate of duplicates ?? []) if (duplicate.offset >= range.from && duplicate.offset <= range.to) extra += duplicate.rows - 1n
  return extra
}

function countIn(offsets: readonly bigint[], range: OffsetRange): bigint {
  let count = 0n
  for (const offset of offsets) if (offset >= range.from && offset <= range.to) count++
  return count
}

function maxOf(islands: readonly OffsetRange[], offsets: readonly bigint[], floor: bigint): bigint {
  let max = floor
  for (const island of islands) if (island.to > max) max = island.to
  for (const offset of offsets) if (offset > max) max = offset
  return max
}

function minOf(islands: readonly OffsetRange[], ceiling: bigint): bigint {
  let min = ceiling
  for (const island of islands) if (island.from < min) min = island.from
  return min
}

function compareBigint(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0
}

// ---------------------------------------------------------------------------------------------
// One sink

export type SinkName = 'postgres' | 'logs' | 'bigquery'

/** Rows of different offsets sharing one event id (BigQuery keeps one row per Kafka record). */
export interface EventIdDuplicate {
  eventId: string
  at: {partition: number; offset: bigint}[]
}

export interface SinkFacts {
  sink: SinkName
  topic: string
  group: string
  dlqTopic: string
  /** cleanup.policy includes compact: offsets are not dense, nothing can be checked. */
  compacted: boolean
  partitions: readonly PartitionFacts[]
  /** By partition; absent means nothing was resolved. */
  resolutions?: ReadonlyMap<number, Resolution>
  eventIdDuplicates?: readonly EventIdDuplicate[]
  /** Extra copies of a record in an at-least-once table (BigQuery's raw table): expected, not a failure. */
  rawCopies?: bigint
  notes?: readonly string[]
}

export interface SinkReport {
  sink: SinkName
  topic: string
  group: string
  dlqTopic: string
  checkedOffsets: bigint
  rows: bigint
  deadLetters: bigint
  repeatedDeadLetters: bigint
  superseded: bigint
  missingOffsets: bigint
  missing: (OffsetRange & {partition: number})[]
  duplicates: (OffsetDuplicate & {partition: number})[]
  eventIdDuplicates: EventIdDuplicate[]
  orphans: (Orphan & {partition: number})[]
  unchecked: (Unchecked & {partition: number})[]
  rawCopies: bigint
  partitions: PartitionReport[]
  notes: string[]
  ok: boolean
}

export function reconcileSink(facts: SinkFacts): SinkReport {
  const partitions = [...facts.partitions]
    .sort((a, b) => a.partition - b.partition)
    .map((p) => reconcilePartition(p, facts.resolutions?.get(p.partition), {compacted: facts.compacted}))
  const sum = (pick: (p: PartitionReport) => bigint) => partitions.reduce((total, p) => total + pick(p), 0n)
  const eventIdDuplicates = [...(facts.eventIdDuplicates ?? [])]
  const report: SinkReport = {
    sink: facts.sink,
    topic: facts.topic,
    group: facts.group,
    dlqTopic: facts.dlqTopic,
    checkedOffsets: sum((p) => p.checkedOffsets),
    rows: sum((p) => p.rows),
    deadLetters: sum((p) => p.deadLetters),
    repeatedDeadLetters: sum((p) => p.repeatedDeadLetters),
    superseded: sum((p) => p.superseded),
    missingOffsets: sum((p) => p.missingOffsets),
    missing: partitions.flatMap((p) => p.missing.map((range) => ({partition: p.partition, ...range}))),
    duplicates: partitions.flatMap((p) => p.duplicates.map((d) => ({partition: p.partition, ...d}))),
    eventIdDuplicates,
    orphans: partitions.flatMap((p) => p.orphans.map((o) => ({partition: p.partition, ...o}))),
    unchecked: partitions.flatMap((p) => p.unchecked.map((u) => ({partition: p.partition, ...u}))),
    rawCopies: facts.rawCopies ?? 0n,
    partitions,
    notes: [...(facts.notes ?? [])],
    ok: partitions.every((p) => p.ok) && eventIdDuplicates.length === 0,
  }
  return report
}

// ---------------------------------------------------------------------------------------------
// The --json document (DESIGN §2): {ok, sinks: [...], unchecked: [...]}

/** Most entries listed per array of one sink; the counts beside them stay exact. */
export const MAX_LISTED = 1000

type J = number | string
const j = (value: bigint): J => offsetToJson(value)
const rangeJson = (r: OffsetRange) => ({from: j(r.from), to: j(r.to), count: j(rangeSize(r))})

export interface IntegrityJson {
  ok: boolean
  sinks: SinkJson[]
  unchecked: {sink: SinkName; topic: string; partition: number; from: J; to: J; count: J; reason: UncheckedReason}[]
  skipped: {sink: SinkName; reason: string}[]
}

export interface SinkJson {
  sink: SinkName
  topic: string
  group: string
  dlqTopic: string
  ok: boolean
  checkedOffsets: J
  rows: J
  deadLetters: J
  repeatedDeadLetters: J
  superseded: J
  missingOffsets: J
  missing: {partition: number; from: J; to: J; count: J}[]
  duplicateCount: number
  duplicates: ({kind: 'offset'; partition: number; offset: J; rows: J; deadLetters: J} | {kind: 'event-id'; eventId: string; at: {partition: number; offset: J}[]})[]
  orphanCount: J
  orphans: {kind: 'row' | 'dead-letter'; partition: number; from: J; to: J; count: J; reason: OrphanReason}[]
  rawCopies: J
  truncated: boolean
  notes: string[]
  partitions: {
    partition: number
    ok: boolean
    logStartOffset: J
    logEndOffset: J
    committedOffset: J | null
    checkedFrom: J | null
    checkedTo: J | null
    checkedOffsets: J
    rows: J
    deadLetters: J
    superseded: J
    missingOffsets: J
    duplicates: number
    orphans: J
    unchecked: J
  }[]
}

export function sinkJson(report: SinkReport): SinkJson {
  const duplicates: SinkJson['duplicates'] = [
    ...report.duplicates.map((d) => ({kind: 'offset' as const, partition: d.partition, offset: j(d.offset), rows: j(d.rows), deadLetters: j(d.deadLetters)})),
    ...report.eventIdDuplicates.map((d) => ({kind: 'event-id' as const, eventId: d.eventId, at: d.at.map((a) => ({partition: a.partition, offset: j(a.offset)}))})),
  ]
  const truncated = report.missing.length > MAX_LISTED || duplicates.length > MAX_LISTED || report.orphans.length > MAX_LISTED
  return {
    sink: report.sink,
    topic: report.topic,
    group: report.group,
    dlqTopic: report.dlqTopic,
    ok: report.ok,
    checkedOffsets: j(report.checkedOffsets),
    rows: j(report.rows),
    deadLetters: j(report.deadLetters),
    repeatedDeadLetters: j(report.repeatedDeadLetters),
    superseded: j(report.superseded),
    missingOffsets: j(report.missingOffsets),
    missing: report.missing.slice(0, MAX_LISTED).map((m) => ({partition: m.partition, ...rangeJson(m)})),
    duplicateCount: duplicates.length,
    duplicates: duplicates.slice(0, MAX_LISTED),
    orphanCount: j(report.orphans.reduce((sum, o) => sum + o.count, 0n)),
    orphans: report.orphans.slice(0, MAX_LISTED).map((o) => ({kind: o.kind, partition: o.partition, from: j(o.from), to: j(o.to), count: j(o.count), reason: o.reason})),
    rawCopies: j(report.rawCopies),
    truncated,
    notes: report.notes,
    partitions: report.partitions.map((p) => ({
      partition: p.partition,
      ok: p.ok,
      logStartOffset: j(p.logStart),
      logEndOffset: j(p.logEnd),
      committedOffset: p.committed === null ? null : j(p.committed),
      checkedFrom: p.checked ? j(p.checked.from) : null,
      checkedTo: p.checked ? j(p.checked.to) : null,
      checkedOffsets: j(p.checkedOffsets),
      rows: j(p.rows),
      deadLetters: j(p.deadLetters),
      superseded: j(p.superseded),
      missingOffsets: j(p.missingOffsets),
      duplicates: p.duplicates.length,
      orphans: j(p.orphans.reduce((sum, o) => sum + o.count, 0n)),
      unchecked: j(p.unchecked.reduce((sum, u) => sum + u.count, 0n)),
    })),
  }
}

export function integrityJson(reports: readonly SinkReport[], skipped: IntegrityJson['skipped'] = []): IntegrityJson {
  return {
    ok: reports.every((r) => r.ok),
    sinks: reports.map(sinkJson),
    unchecked: reports.flatMap((r) =>
      r.unchecked.map((u) => ({sink: r.sink, topic: r.topic, partition: u.partition, from: j(u.from), to: j(u.to), count: j(u.count), reason: u.reason})),
    ),
    skipped,
  }
}
