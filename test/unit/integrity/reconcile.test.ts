import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {
  checkedRange,
  integrityJson,
  intersectRanges,
  normalizeRanges,
  type OffsetRange,
  type PartitionFacts,
  rangesOfOffsets,
  reconcilePartition,
  reconcileSink,
  type Resolution,
  type RowIsland,
  subtractRanges,
  totalSize,
  unaccountedRanges,
} from '../../../src/lib/integrity/reconcile.js'

const r = (from: number, to: number): OffsetRange => ({from: BigInt(from), to: BigInt(to)})

/** Islands (gaps-and-islands, as the SQL returns them) of a list of row offsets with repeats. */
function islandsOf(offsets: number[]): {islands: RowIsland[]; duplicateRows: {offset: bigint; rows: bigint}[]} {
  const counts = new Map<number, number>()
  for (const o of offsets) counts.set(o, (counts.get(o) ?? 0) + 1)
  const sorted = [...counts.keys()].sort((a, b) => a - b)
  const islands: RowIsland[] = []
  for (const o of sorted) {
    const last = islands.at(-1)
    if (last && last.to + 1n === BigInt(o)) {
      last.to = BigInt(o)
      last.rows += BigInt(counts.get(o)!)
    } else {
      islands.push({from: BigInt(o), to: BigInt(o), rows: BigInt(counts.get(o)!)})
    }
  }
  const duplicateRows = sorted.filter((o) => counts.get(o)! > 1).map((o) => ({offset: BigInt(o), rows: BigInt(counts.get(o)!)}))
  return {islands, duplicateRows}
}

function facts(options: {logStart?: number; logEnd: number; committed: number | null; since?: number; rows?: number[]; deadLetters?: number[]; exists?: boolean}): PartitionFacts {
  const {islands, duplicateRows} = islandsOf(options.rows ?? [])
  return {
    partition: 0,
    exists: options.exists ?? true,
    logStart: BigInt(options.logStart ?? 0),
    logEnd: BigInt(options.logEnd),
    committed: options.committed === null ? null : BigInt(options.committed),
    since: options.since === undefined ? undefined : BigInt(options.since),
    islands,
    duplicateRows,
    deadLetters: (options.deadLetters ?? []).map(BigInt),
  }
}

const range = (from: number, to: number) => Array.from({length: to - from + 1}, (_, i) => from + i)

describe('range arithmetic', () => {
  it.each([
    {name: 'merges adjacent and overlapping', input: [r(5, 7), r(0, 2), r(3, 4), r(6, 9)], expected: [r(0, 9)]},
    {name: 'drops empty ranges', input: [r(4, 3), r(1, 1)], expected: [r(1, 1)]},
    {name: 'keeps gaps', input: [r(0, 1), r(3, 4)], expected: [r(0, 1), r(3, 4)]},
  ])('normalizeRanges $name', ({input, expected}) => {
    expect(normalizeRanges(input)).toEqual(expected)
  })

  it.each([
    {base: [r(0, 9)], remove: [r(2, 3), r(7, 12)], expected: [r(0, 1), r(4, 6)]},
    {base: [r(0, 9)], remove: [], expected: [r(0, 9)]},
    {base: [r(0, 9)], remove: [r(-5, 20)], expected: []},
    {base: [r(0, 3), r(10, 12)], remove: [r(3, 10)], expected: [r(0, 2), r(11, 12)]},
  ])('subtractRanges %#', ({base, remove, expected}) => {
    expect(subtractRanges(base, remove)).toEqual(expected)
  })

  it('rangesOfOffsets collapses repeats into runs', () => {
    expect(rangesOfOffsets([5n, 3n, 4n, 4n, 9n])).toEqual([r(3, 5), r(9, 9)])
  })

  const ranges = fc.array(fc.tuple(fc.integer({min: -5, max: 40}), fc.integer({min: 0, max: 6})).map(([from, len]) => r(from, from + len)), {maxLength: 8})
  const members = (rs: OffsetRange[]) => new Set(rs.flatMap((x) => range(Number(x.from), Number(x.to))))

  it('subtract and intersect agree with sets of offsets', () => {
    fc.assert(
      fc.property(ranges, ranges, (a, b) => {
        const setA = members(a)
        const setB = members(b)
        expect(members(subtractRanges(a, b))).toEqual(new Set([...setA].filter((o) => !setB.has(o))))
        expect(members(intersectRanges(a, b))).toEqual(new Set([...setA].filter((o) => setB.has(o))))
        // Results are normalised: sorted, disjoint, never adjacent.
        for (const result of [subtractRanges(a, b), intersectRanges(a, b), normalizeRanges(a)]) {
          for (let i = 1; i < result.length; i++) expect(result[i]!.from > result[i - 1]!.to + 1n).toBe(true)
        }
      }),
    )
  })
})

describe('checkedRange', () => {
  it.each([
    {name: 'log start to committed', f: {logStart: 10, logEnd: 100, committed: 80}, expected: r(10, 79)},
    {name: '--since above the log start', f: {logStart: 10, logEnd: 100, committed: 80, since: 50}, expected: r(50, 79)},
    {name: '--since below the log start', f: {logStart: 10, logEnd: 100, committed: 80, since: 3}, expected: r(10, 79)},
    {name: 'a commit past the log end is clamped', f: {logStart: 0, logEnd: 20, committed: 25}, expected: r(0, 19)},
    {name: 'no commit', f: {logStart: 0, logEnd: 20, committed: null}, expected: null},
    {name: 'commit at the start', f: {logStart: 5, logEnd: 20, committed: 5}, expected: null},
    {name: 'commit below the start (retention deleted unread records)', f: {logStart: 5, logEnd: 20, committed: 2}, expected: null},
  ])('$name', ({f, expected}) => {
    expect(checkedRange(facts(f))).toEqual(expected)
  })
})

describe('reconcilePartition: scenarios', () => {
  it('a clean run: every offset a row or a dead letter', () => {
    const report = reconcilePartition(facts({logEnd: 100, committed: 100, rows: [...range(0, 41), ...range(43, 99)], deadLetters: [42]}))
    expect(report).toMatchObject({ok: true, checkedOffsets: 100n, rows: 99n, deadLetters: 1n, missing: [], duplicates: [], orphans: [], unchecked: []})
  })

  it('deleted rows are missing, as ranges', () => {
    const rows = range(0, 99).filter((o) => !(o >= 10 && o <= 19) && o !== 50)
    const report = reconcilePartition(facts({logEnd: 100, committed: 100, rows}))
    expect(report.ok).toBe(false)
    expect(report.missing).toEqual([r(10, 19), r(50, 50)])
    expect(report.missingOffsets).toBe(11n)
    expect(unaccountedRanges(facts({logEnd: 100, committed: 100, rows}))).toEqual([r(10, 19), r(50, 50)])
  })

  it('a row beyond the log end is an orphan, so is one at a negative offset', () => {
    const report = reconcilePartition(facts({logEnd: 10, committed: 10, rows: [...range(0, 9), 1_000_000, -3]}))
    expect(report.ok).toBe(false)
    expect(report.missing).toEqual([])
    expect(report.orphans).toEqual([
      {kind: 'row', from: 1_000_000n, to: 1_000_000n, count: 1n, reason: 'beyond-end'},
      {kind: 'row', from: -3n, to: -3n, count: 1n, reason: 'negative-offset'},
    ])
  })

  it('rows of a partition the topic does not have are orphans', () => {
    const report = reconcilePartition(facts({exists: false, logEnd: 0, committed: null, rows: [0, 1, 2], deadLetters: [7]}))
    expect(report.ok).toBe(false)
    expect(report.orphans).toEqual([
      {kind: 'row', from: 0n, to: 2n, count: 3n, reason: 'no-such-partition'},
      {kind: 'dead-letter', from: 7n, to: 7n, count: 1n, reason: 'no-such-partition'},
    ])
  })

  it('a row and a dead letter for one offset is a duplicate; so are two rows', () => {
    const report = reconcilePartition(facts({logEnd: 10, committed: 10, rows: [...range(0, 9), 4], deadLetters: [2, 7, 7]}))
    expect(report.ok).toBe(false)
    expect(report.missing).toEqual([])
    expect(report.duplicates).toEqual([
      {offset: 2n, rows: 1n, deadLetters: 1n},
      {offset: 4n, rows: 2n, deadLetters: 0n},
      {offset: 7n, rows: 1n, deadLetters: 2n},
    ])
    expect(report.rows).toBe(11n)
  })

  it('a record dead-lettered twice (a crash before the commit, a second group) is accounted for once, not a duplicate', () => {
    const report = reconcilePartition(facts({logEnd: 5, committed: 5, rows: [0, 1, 3, 4], deadLetters: [2, 2, 2]}))
    expect(report).toMatchObject({ok: true, duplicates: [], deadLetters: 1n, repeatedDeadLetters: 2n, missing: []})
  })

  it('superseded records (event id stored at another offset) are accounted for, not missing', () => {
    const f = facts({logEnd: 10, committed: 10, rows: [0, 1, 2, 3, 5, 6, 7, 8, 9]})
    expect(unaccountedRanges(f)).toEqual([r(4, 4)])
    const report = reconcilePartition(f, {superseded: [r(4, 4)], notRecords: []})
    expect(report).toMatchObject({ok: true, superseded: 1n, missing: []})
  })

  it('transaction markers and aborted records are unchecked, neither good nor bad', () => {
    const f = facts({logEnd: 12, committed: 12, rows: [...range(0, 4), ...range(6, 9)]})
    const report = reconcilePartition(f, {superseded: [], notRecords: [r(5, 5), r(10, 11)]})
    expect(report.ok).toBe(true)
    expect(report.unchecked).toEqual([
      {from: 5n, to: 5n, count: 1n, reason: 'not-a-record'},
      {from: 10n, to: 11n, count: 2n, reason: 'not-a-record'},
    ])
  })

  it('a resolution never covers offsets that rows already claim', () => {
    const report = reconcilePartition(facts({logEnd: 5, committed: 5, rows: range(0, 3)}), {superseded: [r(0, 4)], notRecords: [r(0, 4)]})
    expect(report.superseded).toBe(1n)
    expect(report.unchecked).toEqual([])
  })

  it('records deleted by retention are unchecked; rows below the log start are neither missing nor orphans', () => {
    const report = reconcilePartition(facts({logStart: 50, logEnd: 100, committed: 100, rows: range(0, 99)}))
    expect(report.ok).toBe(true)
    expect(report.checkedOffsets).toBe(50n)
    expect(report.rows).toBe(50n)
    expect(report.unchecked).toEqual([{from: 0n, to: 49n, count: 50n, reason: 'retention'}])
  })

  it('--since above the log start checks from there and reports no retention', () => {
    const report = reconcilePartition(facts({logStart: 10, logEnd: 100, committed: 100, since: 60, rows: range(60, 99)}))
    expect(report).toMatchObject({ok: true, checkedOffsets: 40n, unchecked: []})
  })

  it('offsets past the committed one are not checked: a worker behind is not a loss', () => {
    const report = reconcilePartition(facts({logEnd: 100, committed: 40, rows: range(0, 39)}))
    expect(report).toMatchObject({ok: true, checkedOffsets: 40n, missing: []})
  })

  it('a partition the group never committed is unchecked', () => {
    const report = reconcilePartition(facts({logEnd: 30, committed: null, rows: []}))
    expect(report).toMatchObject({ok: true, checked: null, unchecked: [{from: 0n, to: 29n, count: 30n, reason: 'no-commit'}]})
  })

  it('a compacted topic is reported unchecked, even with gaps', () => {
    const report = reconcilePartition(facts({logStart: 0, logEnd: 30, committed: 30, rows: [1, 5]}), undefined, {compacted: true})
    expect(report).toMatchObject({ok: true, missing: [], checked: null, unchecked: [{from: 0n, to: 29n, count: 30n, reason: 'compacted'}]})
    expect(unaccountedRanges(facts({logStart: 0, logEnd: 30, committed: 30, rows: [1, 5]}), {compacted: true})).toEqual([])
  })

  it('an empty partition checks clean', () => {
    expect(reconcilePartition(facts({logEnd: 0, committed: null}))).toMatchObject({ok: true, unchecked: [], checkedOffsets: 0n})
  })

  it('offsets past 2^53 stay exact', () => {
    const base = 2n ** 60n
    const f: PartitionFacts = {
      partition: 0,
      exists: true,
      logStart: base,
      logEnd: base + 10n,
      committed: base + 10n,
      islands: [{from: base, to: base + 3n, rows: 4n}, {from: base + 5n, to: base + 9n, rows: 5n}],
      deadLetters: [],
    }
    expect(reconcilePartition(f).missing).toEqual([{from: base + 4n, to: base + 4n}])
    const json = integrityJson([reconcileSink({sink: 'postgres', topic: 't', group: 'g', dlqTopic: 't.dlq', compacted: false, partitions: [f]})])
    expect(json.sinks[0]!.missing).toEqual([{partition: 0, from: (base + 4n).toString(), to: (base + 4n).toString(), count: 1}])
  })
})

describe('reconcileSink and its JSON', () => {
  it('sums partitions, names what is wrong, and is ok only when every partition is', () => {
    const good = {...facts({logEnd: 10, committed: 10, rows: range(0, 9)}), partition: 0}
    const bad = {...facts({logEnd: 10, committed: 10, rows: range(0, 7), deadLetters: [9]}), partition: 1}
    const report = reconcileSink({sink: 'postgres', topic: 't', group: 'g', dlqTopic: 't.dlq', compacted: false, partitions: [bad, good]})
    expect(report.ok).toBe(false)
    expect(report.partitions.map((p) => p.partition)).toEqual([0, 1])
    expect(report).toMatchObject({checkedOffsets: 20n, rows: 18n, deadLetters: 1n, missingOffsets: 1n, missing: [{partition: 1, from: 8n, to: 8n}]})
    const json = integrityJson([report])
    expect(json.ok).toBe(false)
    expect(json.sinks[0]).toMatchObject({sink: 'postgres', topic: 't', checkedOffsets: 20, rows: 18, deadLetters: 1, missing: [{partition: 1, from: 8, to: 8, count: 1}], orphans: [], duplicates: []})
    expect(json.sinks[0]!.partitions[1]).toMatchObject({partition: 1, ok: false, logStartOffset: 0, logEndOffset: 10, committedOffset: 10, checkedFrom: 0, checkedTo: 9, missingOffsets: 1})
  })

  it('event ids shared by rows of different offsets fail a sink', () => {
    const clean = facts({logEnd: 2, committed: 2, rows: [0, 1]})
    const report = reconcileSink({
      sink: 'bigquery',
      topic: 't',
      group: 'g',
      dlqTopic: 't.dlq',
      compacted: false,
      partitions: [clean],
      eventIdDuplicates: [{eventId: 'e-1', at: [{partition: 0, offset: 0n}, {partition: 0, offset: 1n}]}],
      rawCopies: 3n,
    })
    expect(report.ok).toBe(false)
    const json = integrityJson([report]).sinks[0]!
    expect(json.duplicates).toEqual([{kind: 'event-id', eventId: 'e-1', at: [{partition: 0, offset: 0}, {partition: 0, offset: 1}]}])
    expect(json.rawCopies).toBe(3)
  })

  it('lists unchecked ranges at the top level with their sink and topic', () => {
    const report = reconcileSink({sink: 'logs', topic: 'l', group: 'g', dlqTopic: 'l.dlq', compacted: false, partitions: [facts({logStart: 5, logEnd: 10, committed: 10, rows: range(5, 9)})]})
    expect(integrityJson([report]).unchecked).toEqual([{sink: 'logs', topic: 'l', partition: 0, from: 0, to: 4, count: 5, reason: 'retention'}])
  })
})

describe('reconcilePartition: properties against a per-offset model', () => {
  const scenario = fc
    .record({
      logStart: fc.integer({min: 0, max: 20}),
      length: fc.integer({min: 0, max: 40}),
      commitShift: fc.option(fc.integer({min: -25, max: 5}), {nil: null}),
      since: fc.option(fc.integer({min: 0, max: 60}), {nil: undefined}),
      rows: fc.array(fc.integer({min: -3, max: 70}), {maxLength: 80}),
      deadLetters: fc.array(fc.integer({min: 0, max: 70}), {maxLength: 10}),
      superseded: fc.array(fc.integer({min: 0, max: 70}), {maxLength: 10}),
      notRecords: fc.array(fc.integer({min: 0, max: 70}), {maxLength: 10}),
    })
    .map((s) => {
      const logEnd = s.logStart + s.length
      return {...s, logEnd, committed: s.commitShift === null ? null : Math.max(0, logEnd + s.commitShift)}
    })

  it('missing ∪ rows ∪ dead letters ∪ superseded ∪ not-a-record = the checked range, disjoint', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const f = facts(s)
        const resolution: Resolution = {superseded: rangesOfOffsets(s.superseded.map(BigInt)), notRecords: rangesOfOffsets(s.notRecords.map(BigInt))}
        const report = reconcilePartition(f, resolution)
        const checked = checkedRange(f)
        const expected = checked ? range(Number(checked.from), Number(checked.to)) : []
        const rowSet = new Set(s.rows)
        const letterSet = new Set(s.deadLetters)
        const parts: number[][] = [
          report.missing.flatMap((m) => range(Number(m.from), Number(m.to))),
          expected.filter((o) => rowSet.has(o)),
          expected.filter((o) => !rowSet.has(o) && letterSet.has(o)),
          expected.filter((o) => !rowSet.has(o) && !letterSet.has(o) && s.superseded.includes(o)),
          report.unchecked.filter((u) => u.reason === 'not-a-record').flatMap((u) => range(Number(u.from), Number(u.to))),
        ]
        const all = parts.flat()
        expect(new Set(all).size).toBe(all.length) // disjoint
        expect(all.sort((a, b) => a - b)).toEqual(expected)
        expect(report.checkedOffsets).toBe(BigInt(expected.length))
        expect(report.superseded).toBe(BigInt(parts[3]!.length))
      }),
    )
  })

  it('missing is exactly the checked offsets with no row, no dead letter and no resolution', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const f = facts(s)
        const report = reconcilePartition(f, {superseded: rangesOfOffsets(s.superseded.map(BigInt)), notRecords: rangesOfOffsets(s.notRecords.map(BigInt))})
        const checked = checkedRange(f)
        const expected = (checked ? range(Number(checked.from), Number(checked.to)) : []).filter(
          (o) => !s.rows.includes(o) && !s.deadLetters.includes(o) && !s.superseded.includes(o) && !s.notRecords.includes(o),
        )
        expect(report.missing.flatMap((m) => range(Number(m.from), Number(m.to)))).toEqual(expected)
        expect(report.missingOffsets).toBe(BigInt(expected.length))
        expect(totalSize(unaccountedRanges(f))).toBeGreaterThanOrEqual(report.missingOffsets)
      }),
    )
  })

  it('duplicates are the offsets of [start, log end) claimed by two rows or a row and a dead letter; orphans the impossible ones', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const report = reconcilePartition(facts(s))
        const from = s.since !== undefined && s.since > s.logStart ? s.since : s.logStart
        const claims = new Map<number, {rows: number; letters: number}>()
        for (const o of s.rows) claims.set(o, {rows: (claims.get(o)?.rows ?? 0) + 1, letters: claims.get(o)?.letters ?? 0})
        for (const o of s.deadLetters) claims.set(o, {rows: claims.get(o)?.rows ?? 0, letters: (claims.get(o)?.letters ?? 0) + 1})
        const expected = [...claims.entries()]
          .filter(([o, c]) => o >= from && o < s.logEnd && (c.rows >= 2 || (c.rows >= 1 && c.letters >= 1)))
          .sort(([a], [b]) => a - b)
          .map(([o, c]) => ({offset: BigInt(o), rows: BigInt(c.rows), deadLetters: BigInt(c.letters)}))
        expect(report.duplicates).toEqual(expected)
        const repeated = [...claims.entries()].filter(([o, c]) => o >= from && o < s.logEnd && c.rows === 0 && c.letters >= 2).reduce((sum, [, c]) => sum + c.letters - 1, 0)
        expect(report.repeatedDeadLetters).toBe(BigInt(repeated))

        const orphanRows = s.rows.filter((o) => o < 0 || o >= s.logEnd).length
        const orphanLetters = s.deadLetters.filter((o) => o >= s.logEnd).length
        const counted = (kind: 'row' | 'dead-letter') => report.orphans.filter((o) => o.kind === kind).reduce((sum, o) => sum + Number(o.count), 0)
        expect(counted('row')).toBe(orphanRows)
        expect(counted('dead-letter')).toBe(orphanLetters)
        expect(report.ok).toBe(report.missing.length === 0 && expected.length === 0 && orphanRows + orphanLetters === 0)
      }),
    )
  })

  it('rows counts every row of the checked range, duplicates included', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const f = facts(s)
        const checked = checkedRange(f)
        const expected = checked ? s.rows.filter((o) => o >= Number(checked.from) && o <= Number(checked.to)).length : 0
        expect(reconcilePartition(f).rows).toBe(BigInt(expected))
      }),
    )
  })

  it('a compacted topic never reports missing, duplicates or orphans', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const report = reconcilePartition(facts(s), undefined, {compacted: true})
        expect(report).toMatchObject({ok: true, missing: [], duplicates: [], orphans: []})
      }),
    )
  })
})
