import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {
  addPoint,
  catchUpMs,
  type CommitSample,
  emptyLookupTable,
  estimateTimeLagMs,
  evaluateThresholds,
  GROUP_STATUSES,
  groupReport,
  type GroupReport,
  groupStatus,
  lagAlwaysAbove,
  lagJson,
  lagNotDecreasing,
  logEndWentBackwards,
  type LookupTable,
  lookupTime,
  offsetsRewind,
  offsetsStalled,
  offsetsStopped,
  offsetToJson,
  PARTITION_STATUSES,
  partitionLag,
  partitionRates,
  partitionStatus,
  type PartitionStatus,
  parseOffset,
  ratePerSecond,
  recentLagZero,
  recordCommit,
} from '../../../src/lib/lag/lag-model.js'

const INT64_MAX = 2n ** 63n - 1n

function table(points: [bigint, number][], limit = 60): LookupTable {
  return points.reduce((t, [offset, timeMs]) => addPoint(t, {offset, timeMs}), emptyLookupTable(limit))
}

describe('partitionLag', () => {
  it.each([
    // [case, committed, logStart, logEnd, lag, dataLost, lostRecords, beyondEnd]
    ['no commit: unknown, not zero', null, 0n, 100n, null, false, 0n, false],
    ['behind', 40n, 0n, 100n, 60n, false, 0n, false],
    ['caught up', 100n, 0n, 100n, 0n, false, 0n, false],
    ['empty topic, committed at 0', 0n, 0n, 0n, 0n, false, 0n, false],
    ['commit beyond the end after truncation: clamped', 500n, 0n, 100n, 0n, false, 0n, true],
    ['commit below the log start: retention deleted 30 unread', 20n, 50n, 100n, 80n, true, 30n, false],
    ['commit exactly at the log start is not loss', 50n, 50n, 100n, 50n, false, 0n, false],
    ['offsets beyond 2^53 stay exact', 2n ** 60n, 0n, 2n ** 60n + 7n, 7n, false, 0n, false],
    ['a whole int64 of lag', 0n, 0n, INT64_MAX, INT64_MAX, false, 0n, false],
  ] as const)('%s', (_case, committedOffset, logStartOffset, logEndOffset, lag, dataLost, lostRecords, committedBeyondEnd) => {
    expect(partitionLag({committedOffset, logStartOffset, logEndOffset})).toEqual({lag, dataLost, lostRecords, committedBeyondEnd})
  })

  it('never negative, null exactly when there is no commit (property)', () => {
    const offset = fc.bigInt({min: 0n, max: INT64_MAX})
    fc.assert(
      fc.property(fc.option(offset), offset, offset, (committedOffset, a, b) => {
        const [logStartOffset, logEndOffset] = a <= b ? [a, b] : [b, a]
        const result = partitionLag({committedOffset, logStartOffset, logEndOffset})
        if (committedOffset === null) return result.lag === null
        return typeof result.lag === 'bigint' && result.lag >= 0n && result.lostRecords >= 0n && result.dataLost === result.lostRecords > 0n
      }),
    )
  })
})

describe('offsets in and out of JSON', () => {
  it.each([
    [0n, 0],
    [123n, 123],
    [BigInt(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER],
    [BigInt(Number.MAX_SAFE_INTEGER) + 1n, '9007199254740992'],
    [INT64_MAX, '9223372036854775807'],
    [null, null],
  ] as const)('offsetToJson(%s) is %s', (value, json) => {
    expect(offsetToJson(value)).toBe(json)
  })

  it.each([
    ['-1', null],
    ['0', 0n],
    [' 42 ', 42n],
    ['9223372036854775807', INT64_MAX],
    ['abc', null],
    ['', null],
    ['1e3', null],
    [-1, null],
    [1.5, null],
    [7, 7n],
    [-3n, null],
    [5n, 5n],
    [null, null],
    [undefined, null],
  ] as const)('parseOffset("%s") is %s', (text, offset) => {
    expect(parseOffset(text)).toBe(offset)
  })

  it('a decimal string round-trips through parseOffset (property)', () => {
    fc.assert(fc.property(fc.bigInt({min: 0n, max: INT64_MAX}), (n) => parseOffset(String(offsetToJson(n))) === n))
  })
})

describe('lookup table points (kafka-lag-exporter rules)', () => {
  it('appends points in time order with growing offsets', () => {
    expect(table([[100n, 1000], [200n, 2000], [300n, 3000]]).points).toEqual([
      {offset: 100n, timeMs: 1000},
      {offset: 200n, timeMs: 2000},
      {offset: 300n, timeMs: 3000},
    ])
  })

  it.each([
    ['an older point', [300n, 1500]],
    ['a point at the same time', [300n, 2000]],
    ['a smaller offset (truncated topic)', [150n, 3000]],
  ] as const)('ignores %s', (_case, [offset, timeMs]) => {
    const before = table([[100n, 1000], [200n, 2000]])
    expect(addPoint(before, {offset, timeMs})).toBe(before)
  })

  it('keeps a flat line as one segment whose right end moves forward', () => {
    const t = table([[100n, 500], [200n, 1000], [200n, 2000], [200n, 3000], [200n, 4000]])
    expect(t.points).toEqual([
      {offset: 100n, timeMs: 500},
      {offset: 200n, timeMs: 1000},
      {offset: 200n, timeMs: 4000},
    ])
  })

  it('a second equal point is kept (the flat line needs two ends)', () => {
    expect(table([[200n, 1000], [200n, 2000]]).points).toHaveLength(2)
  })

  it('drops the oldest point at the limit', () => {
    const t = table([[1n, 1], [2n, 2], [3n, 3], [4n, 4]], 3)
    expect(t.points.map((p) => p.offset)).toEqual([2n, 3n, 4n])
  })

  it('ignores a point with a non-finite time', () => {
    const t = table([[1n, 1]])
    expect(addPoint(t, {offset: 2n, timeMs: Number.NaN})).toBe(t)
  })

  it('refuses a table too small to interpolate', () => {
    expect(() => emptyLookupTable(1)).toThrow(RangeError)
  })

  it('tells when the log end went backwards, so the caller starts a new table', () => {
    const t = table([[100n, 1000], [200n, 2000]])
    expect(logEndWentBackwards(t, 150n)).toBe(true)
    expect(logEndWentBackwards(t, 200n)).toBe(false)
    expect(logEndWentBackwards(emptyLookupTable(), 0n)).toBe(false)
  })

  it('stays ordered and bounded whatever points arrive (property)', () => {
    const point = fc.record({offset: fc.bigInt({min: 0n, max: 10_000n}), timeMs: fc.integer({min: 0, max: 100_000})})
    fc.assert(
      fc.property(fc.integer({min: 2, max: 8}), fc.array(point, {maxLength: 40}), (limit, points) => {
        const t = points.reduce(addPoint, emptyLookupTable(limit))
        if (t.points.length > limit) return false
        for (let i = 1; i < t.points.length; i++) {
          if (!(t.points[i]!.timeMs > t.points[i - 1]!.timeMs && t.points[i]!.offset >= t.points[i - 1]!.offset)) return false
        }
        return true
      }),
    )
  })
})

describe('estimateTimeLagMs', () => {
  const growing = table([[100n, 1000], [200n, 2000], [400n, 3000]])

  it.each([
    // [case, table, committed, now, expected]
    ['no commit', growing, null, 5000, null],
    ['an empty table', emptyLookupTable(), 10n, 5000, null],
    ['a single point, behind it', table([[100n, 1000]]), 50n, 5000, null],
    ['a single point, at it: caught up', table([[100n, 1000]]), 100n, 5000, 0],
    ['at the newest point: caught up', growing, 400n, 5000, 0],
    ['past the newest point (truncation): caught up', growing, 900n, 5000, 0],
    ['interpolated in the first segment', growing, 150n, 5000, 3500],
    ['interpolated in the second segment', growing, 300n, 5000, 2500],
    ['on a point between segments', growing, 200n, 5000, 3000],
    ['extrapolated before the oldest point along the oldest–newest line', growing, 50n, 5000, 4000 + Math.round((50 * 2000) / 300)],
    ['points newer than now (clock skew) give 0, not a negative lag', growing, 150n, 1000, 0],
  ] as const)('%s', (_case, t, committed, now, expected) => {
    expect(estimateTimeLagMs(t, committed, now)).toBe(expected)
  })

  describe('an idle producer (flat offsets) never gives NaN or Infinity', () => {
    const idle = table([[500n, 1000], [500n, 2000], [500n, 9000]])

    it('a group behind an idle producer: at least since the oldest point', () => {
      expect(idle.points).toHaveLength(2)
      expect(estimateTimeLagMs(idle, 400n, 10_000)).toBe(9000)
    })

    it('a group at the idle end: caught up', () => {
      expect(estimateTimeLagMs(idle, 500n, 10_000)).toBe(0)
    })

    it('a flat segment followed by growth: the last time the end was still at the commit', () => {
      const t = table([[200n, 1000], [200n, 2000], [200n, 3000], [300n, 4000]])
      expect(lookupTime(t, 200n)).toEqual({kind: 'prediction', timeMs: 3000, extrapolated: false})
      expect(estimateTimeLagMs(t, 200n, 10_000)).toBe(7000)
    })

    it('a flat interior segment bracketing the commit', () => {
      const t = table([[100n, 1000], [200n, 2000], [200n, 3000], [300n, 4000]])
      expect(estimateTimeLagMs(t, 200n, 10_000)).toBe(7000)
    })
  })

  it('reports whether it extrapolated', () => {
    expect(lookupTime(growing, 50n)).toMatchObject({kind: 'prediction', extrapolated: true})
    expect(lookupTime(growing, 150n)).toMatchObject({kind: 'prediction', extrapolated: false})
    expect(lookupTime(table([[1n, 1]]), 0n)).toEqual({kind: 'too-few-points'})
  })

  it('works on offsets near 2^63', () => {
    const base = INT64_MAX - 1000n
    const t = table([[base, 1000], [base + 1000n, 2000]])
    expect(estimateTimeLagMs(t, base + 500n, 3000)).toBe(1500)
  })

  const pointArb = fc.record({offset: fc.bigInt({min: 0n, max: INT64_MAX}), timeMs: fc.integer({min: 0, max: 2 ** 45})})
  const tableArb = fc.tuple(fc.integer({min: 2, max: 10}), fc.array(pointArb, {maxLength: 30})).map(([limit, points]) => points.reduce(addPoint, emptyLookupTable(limit)))

  it('is null or a finite whole number ≥ 0 (property)', () => {
    fc.assert(
      fc.property(tableArb, fc.option(fc.bigInt({min: 0n, max: INT64_MAX})), fc.integer({min: 0, max: 2 ** 46}), (t, committed, now) => {
        const result = estimateTimeLagMs(t, committed, now)
        return result === null || (Number.isInteger(result) && result >= 0)
      }),
    )
  })

  it('a later commit never has a larger time lag (property)', () => {
    const smallPoint = fc.record({offset: fc.bigInt({min: 0n, max: 1000n}), timeMs: fc.integer({min: 0, max: 100_000})})
    const smallTable = fc.array(smallPoint, {maxLength: 20}).map((points) => points.reduce(addPoint, emptyLookupTable(10)))
    fc.assert(
      fc.property(smallTable, fc.bigInt({min: 0n, max: 1100n}), fc.bigInt({min: 0n, max: 1100n}), (t, a, b) => {
        const [low, high] = a <= b ? [a, b] : [b, a]
        const lagLow = estimateTimeLagMs(t, low, 200_000)
        const lagHigh = estimateTimeLagMs(t, high, 200_000)
        return lagLow === null || lagHigh === null || lagHigh <= lagLow
      }),
    )
  })
})

describe('rates and catch-up time', () => {
  const samples = [
    {offset: 0n, timeMs: 0},
    {offset: 1000n, timeMs: 10_000},
    {offset: 3000n, timeMs: 20_000},
  ]

  it.each([
    ['the whole window', samples, 60_000, 150],
    ['only the samples inside the window', samples, 10_000, 200],
    ['one sample', samples.slice(0, 1), 60_000, null],
    ['no samples', [], 60_000, null],
    ['a window narrower than the gap between samples', samples, 5000, null],
    ['an offset going backwards (reset) is not a negative rate', [{offset: 500n, timeMs: 0}, {offset: 100n, timeMs: 1000}], 60_000, null],
    ['two samples at one time', [{offset: 0n, timeMs: 5}, {offset: 9n, timeMs: 5}], 60_000, null],
    ['an idle partition', [{offset: 7n, timeMs: 0}, {offset: 7n, timeMs: 1000}], 60_000, 0],
  ] as const)('ratePerSecond: %s', (_case, s, windowMs, expected) => {
    expect(ratePerSecond(s, windowMs)).toBe(expected)
  })

  it('partitionRates reads production from log ends and consumption from commits', () => {
    const rates = partitionRates(
      [
        {committedOffset: null, logEndOffset: 0n, sampledAtMs: 0},
        {committedOffset: 0n, logEndOffset: 100n, sampledAtMs: 1000},
        {committedOffset: 50n, logEndOffset: 200n, sampledAtMs: 2000},
      ],
      60_000,
    )
    expect(rates).toEqual({productionPerSec: 100, consumptionPerSec: 50})
  })

  it.each([
    ['unknown lag', null, 10, 20, null],
    ['caught up, whatever the rates', 0n, null, null, 0],
    ['unknown production rate', 100n, null, 20, null],
    ['unknown consumption rate', 100n, 10, null, null],
    ['consuming slower than producing', 100n, 20, 10, 'falling-behind'],
    ['consuming as fast as producing', 100n, 20, 20, 'falling-behind'],
    ['a stopped consumer on an idle topic', 100n, 0, 0, 'falling-behind'],
    ['gaining 10 records/s on 100 records of lag', 100n, 10, 20, 10_000],
    ['rounds up to the next millisecond', 1n, 0, 3, 334],
  ] as const)('catchUpMs: %s', (_case, lag, productionPerSec, consumptionPerSec, expected) => {
    expect(catchUpMs(lag, {productionPerSec, consumptionPerSec})).toBe(expected)
  })

  it('rates and catch-up are finite and never negative (property)', () => {
    const sample = fc.record({offset: fc.bigInt({min: 0n, max: INT64_MAX}), timeMs: fc.integer({min: 0, max: 2 ** 40})})
    fc.assert(
      fc.property(fc.array(sample, {maxLength: 10}), fc.integer({min: 0, max: 2 ** 40}), fc.option(fc.bigInt({min: 0n, max: INT64_MAX})), (raw, windowMs, lag) => {
        const s = [...raw].sort((a, b) => a.timeMs - b.timeMs)
        const rate = ratePerSecond(s, windowMs)
        if (rate !== null && !(Number.isFinite(rate) && rate >= 0)) return false
        const eta = catchUpMs(lag, {productionPerSec: rate, consumptionPerSec: rate === null ? null : rate * 2})
        return eta === null || eta === 'falling-behind' || (Number.isFinite(eta) && eta >= 0)
      }),
    )
  })
})

// Burrow's evaluator vectors (linkedin/Burrow core/internal/evaluator/caching_test.go), restated
// as data: each commit is [offset, lag or null, time in seconds]; `now` is in seconds too and both
// become milliseconds here. `rules` are the answers of each rule on its own, as Burrow checks them.
interface BurrowScenario {
  name: string
  commits: [number, number | null, number][]
  recentEnds: number[]
  currentLag: number
  now: number
  rules: {alwaysLag: boolean; rewind: boolean; stopped: boolean; stalled: boolean; notDecreasing: boolean; recentZero: boolean}
  status: PartitionStatus
}

const steady: [number, number | null, number][] = [1000, 2000, 3000, 4000, 5000].map((o, i) => [o, i * 50, (i + 1) * 100])
const alwaysBehind: [number, number | null, number][] = [1000, 2000, 3000, 4000, 5000].map((o, i) => [o, (i + 1) * 50, (i + 1) * 100])
// A fast consumer committing about once a second at zero lag, its last commit 18 s before now.
const busyTimes = [618356, 619362, 620366, 621367, 622370, 623373, 624378, 625379, 626383, 627383, 628383, 629388, 630391, 631394, 632397]
const busy: [number, number | null, number][] = busyTimes.map((t, i) => [792748079 + i, 0, (1512224000000 + t) / 1000])

const burrowScenarios: BurrowScenario[] = [
  {
    name: '0: lag was zero once in the window, so OK though it grows',
    commits: steady, recentEnds: [5200], currentLag: 200, now: 600,
    rules: {alwaysLag: false, rewind: false, stopped: false, stalled: false, notDecreasing: true, recentZero: false},
    status: 'OK',
  },
  {
    name: '1: time since the last commit equal to the window span is not yet stopped',
    commits: steady, recentEnds: [5200], currentLag: 200, now: 900,
    rules: {alwaysLag: false, rewind: false, stopped: false, stalled: false, notDecreasing: true, recentZero: false},
    status: 'OK',
  },
  {
    name: '2: longer than the window span since the last commit is STOP, even with an early zero lag',
    commits: steady, recentEnds: [5200], currentLag: 200, now: 1000,
    rules: {alwaysLag: false, rewind: false, stopped: true, stalled: false, notDecreasing: true, recentZero: false},
    status: 'STOP',
  },
  {
    name: '3: STOP with the lag never zero as well',
    commits: alwaysBehind, recentEnds: [5250], currentLag: 250, now: 1000,
    rules: {alwaysLag: true, rewind: false, stopped: true, stalled: false, notDecreasing: true, recentZero: false},
    status: 'STOP',
  },
  {
    name: '4: same offset every commit but a zero lag once: OK (stall needs lag throughout)',
    commits: [0, 50, 100, 150, 200].map((lag, i) => [1000, lag, (i + 1) * 100]), recentEnds: [1200], currentLag: 200, now: 600,
    rules: {alwaysLag: false, rewind: false, stopped: false, stalled: true, notDecreasing: true, recentZero: false},
    status: 'OK',
  },
  {
    name: '5: same offset every commit with lag throughout: STALL',
    commits: [100, 150, 200, 250, 300].map((lag, i) => [1000, lag, (i + 1) * 100]), recentEnds: [1300], currentLag: 300, now: 600,
    rules: {alwaysLag: true, rewind: false, stopped: false, stalled: true, notDecreasing: true, recentZero: false},
    status: 'STALL',
  },
  {
    name: '6: STALL also when the lag stays constant',
    commits: [1, 2, 3, 4, 5].map((i) => [1000, 100, i * 100]), recentEnds: [1100], currentLag: 100, now: 600,
    rules: {alwaysLag: true, rewind: false, stopped: false, stalled: true, notDecreasing: true, recentZero: false},
    status: 'STALL',
  },
  {
    name: '7: an offset going backwards is REWIND, worse than the lag falling afterwards',
    commits: [[1000, 100, 100], [2000, 150, 200], [3000, 200, 300], [2000, 1250, 400], [4000, 300, 500]], recentEnds: [4300], currentLag: 300, now: 600,
    rules: {alwaysLag: true, rewind: true, stopped: false, stalled: false, notDecreasing: false, recentZero: false},
    status: 'REWIND',
  },
  {
    name: '8: a current lag of zero is OK even when the commits look stopped',
    commits: alwaysBehind, recentEnds: [5250], currentLag: 0, now: 1000,
    rules: {alwaysLag: true, rewind: false, stopped: true, stalled: false, notDecreasing: true, recentZero: false},
    status: 'OK',
  },
  {
    name: '9: zero lag at every commit, then new data and no commit for longer than the window: STOP',
    commits: busy, recentEnds: [792749024, 792749000, 792748800, 792748600, 792748500], currentLag: 931, now: 1512224650,
    rules: {alwaysLag: false, rewind: false, stopped: true, stalled: false, notDecreasing: true, recentZero: false},
    status: 'STOP',
  },
  {
    name: '10: the same, but a recent log end shows the last commit had caught up: OK',
    commits: busy, recentEnds: [792748094, 792748093, 792748093, 792748093], currentLag: 1, now: 1512224650,
    rules: {alwaysLag: false, rewind: false, stopped: true, stalled: false, notDecreasing: true, recentZero: true},
    status: 'OK',
  },
  {
    name: '11: commits with an unknown lag between them change nothing',
    commits: [1000, 1500, 2000, 2500, 3000, 3500, 4000, 4500, 5000, 5500].map((o, i) => [o, i % 2 === 0 ? (i / 2) * 50 : null, (i + 2) * 50]),
    recentEnds: [5700], currentLag: 200, now: 600,
    rules: {alwaysLag: false, rewind: false, stopped: false, stalled: false, notDecreasing: true, recentZero: false},
    status: 'OK',
  },
  {
    name: 'kpipe: moving offsets, lag always there and never falling: WARN',
    commits: alwaysBehind, recentEnds: [5250], currentLag: 250, now: 600,
    rules: {alwaysLag: true, rewind: false, stopped: false, stalled: false, notDecreasing: true, recentZero: false},
    status: 'WARN',
  },
  {
    name: 'kpipe: lag always there but falling somewhere: OK (catching up)',
    commits: [[1000, 300, 100], [2000, 250, 200], [3000, 260, 300]], recentEnds: [3260], currentLag: 260, now: 350,
    rules: {alwaysLag: true, rewind: false, stopped: false, stalled: false, notDecreasing: false, recentZero: false},
    status: 'OK',
  },
]

function commitsOf(s: BurrowScenario): CommitSample[] {
  return s.commits.map(([offset, lag, seconds]) => ({offset: BigInt(offset), lag: lag === null ? null : BigInt(lag), timeMs: Math.round(seconds * 1000)}))
}

describe('partitionStatus (Burrow evaluator scenarios)', () => {
  it.each(burrowScenarios.map((s) => [s.name, s] as const))('%s', (_name, s) => {
    const commits = commitsOf(s)
    const recent = s.recentEnds.map(BigInt)
    const nowMs = s.now * 1000
    expect({
      alwaysLag: lagAlwaysAbove(commits),
      rewind: offsetsRewind(commits),
      stopped: offsetsStopped(commits, nowMs),
      stalled: offsetsStalled(commits),
      notDecreasing: lagNotDecreasing(commits),
      recentZero: recentLagZero(commits, recent),
    }).toEqual(s.rules)
    expect(partitionStatus({commits, recentLogEndOffsets: recent, currentLag: BigInt(s.currentLag), nowMs})).toBe(s.status)
  })

  const stalled = burrowScenarios.find((s) => s.name.startsWith('5:'))!

  it.each([
    ['a lag within allowedLag is OK', 300n, 'OK'],
    ['an allowance below every lag in the window leaves it judged', 99n, 'STALL'],
  ] as const)('%s', (_case, allowedLag, status) => {
    expect(partitionStatus({commits: commitsOf(stalled), recentLogEndOffsets: [1300n], currentLag: 300n, nowMs: 600_000, allowedLag})).toBe(status)
  })

  it('allowedLag also counts a small lag in the window as caught up (rule 1)', () => {
    const commits = commitsOf(stalled)
    expect(lagAlwaysAbove(commits, 99n)).toBe(true)
    expect(lagAlwaysAbove(commits, 100n)).toBe(false)
    expect(partitionStatus({commits, recentLogEndOffsets: [1300n], currentLag: 300n, nowMs: 600_000, allowedLag: 100n})).toBe('OK')
  })

  it.each([
    ['no commit at all (unknown lag)', [], null, 'OK'],
    ['no commit in the window', [], 100n, 'OK'],
    ['one commit long ago: too little to call it stopped', [{offset: 1n, lag: 5n, timeMs: 0}], 100n, 'OK'],
  ] as const)('%s', (_case, commits, currentLag, status) => {
    expect(partitionStatus({commits, recentLogEndOffsets: [], currentLag, nowMs: 1e12})).toBe(status)
  })

  it('minimumCommits 1 restores Burrow: one old commit with lag is STOP', () => {
    expect(partitionStatus({commits: [{offset: 1n, lag: 5n, timeMs: 0}], recentLogEndOffsets: [], currentLag: 100n, nowMs: 1000, minimumCommits: 1})).toBe('STOP')
  })

  it('is always one of the enum (property)', () => {
    const commit = fc.record({offset: fc.bigInt({min: 0n, max: INT64_MAX}), lag: fc.option(fc.bigInt({min: 0n, max: INT64_MAX})), timeMs: fc.integer({min: 0, max: 2 ** 45})})
    fc.assert(
      fc.property(
        fc.array(commit, {maxLength: 12}),
        fc.array(fc.bigInt({min: 0n, max: INT64_MAX}), {maxLength: 5}),
        fc.option(fc.bigInt({min: 0n, max: INT64_MAX})),
        fc.integer({min: 0, max: 2 ** 46}),
        fc.bigInt({min: 0n, max: 1000n}),
        (commits, recentLogEndOffsets, currentLag, nowMs, allowedLag) => {
          const status = partitionStatus({commits, recentLogEndOffsets, currentLag, nowMs, allowedLag})
          return (PARTITION_STATUSES as readonly string[]).includes(status) && (GROUP_STATUSES as readonly string[]).includes(groupStatus(true, [status]))
        },
      ),
    )
  })
})

describe('recordCommit (a poller building the window)', () => {
  const c = (offset: bigint, timeMs: number, lag: bigint | null = 10n): CommitSample => ({offset, lag, timeMs})

  it('keeps the first time an offset was seen, so an unchanged offset ages', () => {
    const w = [c(1n, 0), c(1n, 1000), c(2n, 2000), c(2n, 3000)].reduce<CommitSample[]>((acc, s) => recordCommit(acc, s), [])
    expect(w).toEqual([c(1n, 0), c(2n, 2000)])
  })

  it('keeps repeats when asked (real commits with their own times)', () => {
    const w = [c(1n, 0), c(1n, 1000)].reduce<CommitSample[]>((acc, s) => recordCommit(acc, s, {keepRepeats: true}), [])
    expect(w).toHaveLength(2)
  })

  it('ignores a sample not newer than the last and drops the oldest at the limit', () => {
    let w = [c(1n, 0), c(2n, 1000), c(3n, 2000)].reduce<CommitSample[]>((acc, s) => recordCommit(acc, s, {limit: 2}), [])
    expect(w.map((s) => s.offset)).toEqual([2n, 3n])
    w = recordCommit(w, c(9n, 2000), {limit: 2})
    expect(w.map((s) => s.offset)).toEqual([2n, 3n])
  })

  it('a consumer that stops committing while data keeps arriving turns STOP once the silence outlasts the window', () => {
    let window: CommitSample[] = []
    for (let t = 0; t <= 10_000; t += 1000) window = recordCommit(window, c(BigInt(t), t, 5n))
    const judge = (nowMs: number) => partitionStatus({commits: window, recentLogEndOffsets: [10_100n], currentLag: 500n, nowMs})
    // The window keeps the last 10 commits (1 s … 10 s): a span of 9 s.
    expect(window).toHaveLength(10)
    expect(judge(15_000)).toBe('WARN')
    expect(judge(19_000)).toBe('WARN')
    expect(judge(19_001)).toBe('STOP')
  })
})

describe('groupStatus', () => {
  it.each([
    ['a missing group', false, ['OK'], 'NOTFOUND'],
    ['a group with no partitions', true, [], 'OK'],
    ['all OK', true, ['OK', 'OK'], 'OK'],
    ['a WARN', true, ['OK', 'WARN'], 'WARN'],
    ['STOP counts as ERR', true, ['WARN', 'STOP'], 'ERR'],
    ['STALL counts as ERR', true, ['STALL'], 'ERR'],
    ['REWIND counts as ERR', true, ['OK', 'REWIND', 'WARN'], 'ERR'],
  ] as const)('%s', (_case, exists, statuses, expected) => {
    expect(groupStatus(exists, statuses)).toBe(expected)
  })
})

describe('groupReport, thresholds and the lag --json document', () => {
  const position = (topic: string, partition: number, committedOffset: bigint | null, logEndOffset: bigint, logStartOffset = 0n) => ({topic, partition, committedOffset, logStartOffset, logEndOffset})

  const orders = groupReport({
    group: 'orders',
    state: 'Stable',
    exists: true,
    members: [],
    partitions: [
      {position: position('events', 1, 90n, 100n), timeLagMs: 1500, status: 'WARN'},
      {position: position('events', 0, 100n, 100n), timeLagMs: 0, status: 'OK'},
      {position: position('audit', 0, null, 40n), timeLagMs: null, status: 'OK'},
      {position: position('events', 2, 5n, 1000n, 20n), timeLagMs: 60_000, status: 'STALL'},
    ],
  })
  const missing = groupReport({group: 'ghost', state: 'Dead', exists: false, members: [], partitions: []})

  it('sorts partitions, sums the known lags and takes the worst time lag and status', () => {
    expect(orders.partitions.map((p) => `${p.topic}/${p.partition}`)).toEqual(['audit/0', 'events/0', 'events/1', 'events/2'])
    expect(orders.totalLag).toBe(1005n)
    expect(orders.maxTimeLagMs).toBe(60_000)
    expect(orders.status).toBe('ERR')
    expect(orders.partitions[3]).toMatchObject({dataLost: true, lostRecords: 15n})
    expect(missing).toMatchObject({status: 'NOTFOUND', totalLag: 0n, maxTimeLagMs: null, partitions: []})
  })

  it.each([
    ['no thresholds', {}, []],
    ['max lag: strictly above, per partition; no commit never breaches', {maxLag: 10n}, [{group: 'orders', topic: 'events', partition: 2, what: 'lag', value: 995, limit: 10}]],
    ['max lag: nothing above', {maxLag: 995n}, []],
    [
      'max time lag',
      {maxTimeLagMs: 1000},
      [
        {group: 'orders', topic: 'events', partition: 1, what: 'timeLag', value: 1500, limit: 1000},
        {group: 'orders', topic: 'events', partition: 2, what: 'timeLag', value: 60_000, limit: 1000},
      ],
    ],
    [
      'fail on err: ERR and NOTFOUND',
      {failOn: 'err'},
      [
        {group: 'orders', what: 'status', value: 'ERR', limit: 'err'},
        {group: 'ghost', what: 'status', value: 'NOTFOUND', limit: 'err'},
      ],
    ],
  ] as const)('%s', (_case, thresholds, expected) => {
    expect(evaluateThresholds(thresholds, [orders, missing])).toEqual(expected)
  })

  it.each([
    ['OK', 'warn', false],
    ['WARN', 'warn', true],
    ['WARN', 'err', false],
    ['ERR', 'err', true],
    ['NOTFOUND', 'warn', true],
  ] as const)('a group %s with --fail-on %s breaches: %s', (status, failOn, breaches) => {
    const g: GroupReport = {...missing, status}
    expect(evaluateThresholds({failOn}, [g]).length > 0).toBe(breaches)
  })

  it('prints the DESIGN §2 fields, with an offset past 2^53 as a string', () => {
    const big = groupReport({
      group: 'big',
      state: 'Empty',
      exists: true,
      members: [],
      partitions: [{position: position('t', 0, 2n ** 60n, 2n ** 60n + 3n, 2n ** 59n), timeLagMs: 12, status: 'OK'}],
    })
    const json = lagJson([big], evaluateThresholds({maxLag: 2n}, [big]))
    expect(JSON.parse(JSON.stringify(json))).toEqual({
      groups: [
        {
          group: 'big',
          state: 'Empty',
          status: 'OK',
          totalLag: 3,
          maxTimeLagMs: 12,
          members: [],
          partitions: [
            {
              topic: 't',
              partition: 0,
              committedOffset: '1152921504606846976',
              logStartOffset: '576460752303423488',
              logEndOffset: '1152921504606846979',
              lag: 3,
              timeLagMs: 12,
              status: 'OK',
              dataLost: false,
              lostRecords: 0,
            },
          ],
        },
      ],
      breaches: [{group: 'big', topic: 't', partition: 0, what: 'lag', value: 3, limit: 2}],
    })
  })

  it('a partition without a commit prints null, not 0 or NaN', () => {
    const json = lagJson([orders], [])
    expect(json.groups[0]!.partitions[0]).toMatchObject({topic: 'audit', committedOffset: null, lag: null, timeLagMs: null})
  })
})
