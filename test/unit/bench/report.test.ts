import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {compare, formatStat, meets, median, pairedRatios, renderMarkdown, summarize, type BenchReport} from '../../../bench/lib/report.js'

describe('median', () => {
  it('is the middle value of an odd count, whatever the order', () => {
    expect(median([30, 10, 20])).toBe(20)
  })

  it('is the mean of the two middle values of an even count', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5)
  })

  it('lies between min and max and has as many values on each side', () => {
    fc.assert(
      fc.property(fc.array(fc.double({noNaN: true, min: -1e9, max: 1e9}), {minLength: 1, maxLength: 50}), (values) => {
        const m = median(values)
        expect(m).toBeGreaterThanOrEqual(Math.min(...values))
        expect(m).toBeLessThanOrEqual(Math.max(...values))
        expect(values.filter((v) => v < m).length).toBeLessThanOrEqual(Math.floor(values.length / 2))
        expect(values.filter((v) => v > m).length).toBeLessThanOrEqual(Math.floor(values.length / 2))
      }),
    )
  })

  it('refuses no values', () => {
    expect(() => median([])).toThrow(/no values/)
  })
})

describe('summarize', () => {
  it('gives median, min, max and the count of runs that measured the figure', () => {
    expect(summarize([38_000, null, 41_000, 36_500])).toEqual({median: 38_000, min: 36_500, max: 41_000, n: 3})
  })

  it('is null when no run measured it', () => {
    expect(summarize([null, undefined, Number.NaN])).toBeNull()
  })
})

describe('pairedRatios', () => {
  it('divides within each run and skips runs where either side is missing or the peer is zero', () => {
    expect(pairedRatios([40, 30, 50, 10], [20, null, 25, 0])).toEqual([2, 2])
  })
})

describe('compare', () => {
  it('summarises the per-run ratios, not the ratio of the medians', () => {
    // Medians 30 and 30 (ratio of medians 1), but each run's own ratio is 0.5, 3 or 1.
    const c = compare({label: 'events/s', unit: '/s', kpipe: [10, 30, 60], peerName: 'Connect', peer: [20, 10, 60]})
    expect(c.ratio).toEqual({median: 1, min: 0.5, max: 3, n: 3})
    expect(c.peer).toEqual({median: 20, min: 10, max: 60, n: 3})
  })

  it('judges a ratio target on the median ratio', () => {
    const c = compare({label: 'records/s', unit: '/s', kpipe: [70, 90, 85], peer: [100, 100, 100], peerName: 'perf test', target: {text: '≥ 0.8×', on: 'ratio', atLeast: 0.8}})
    expect(c.target?.met).toBe(true)
    const missed = compare({label: 'records/s', unit: '/s', kpipe: [70, 75, 85], peer: [100, 100, 100], peerName: 'perf test', target: {text: '≥ 0.8×', on: 'ratio', atLeast: 0.8}})
    expect(missed.target?.met).toBe(false)
  })
})

describe('meets', () => {
  it('takes "below" as strict and "at least" as inclusive', () => {
    const stat = (m: number) => ({median: m, min: m, max: m, n: 1})
    expect(meets({text: 'p99 < 50 ms', on: 'kpipe', below: 50}, {kpipe: stat(50)})).toBe(false)
    expect(meets({text: 'p99 < 50 ms', on: 'kpipe', below: 50}, {kpipe: stat(49.9)})).toBe(true)
    expect(meets({text: '≥ 30,000/s', on: 'kpipe', atLeast: 30_000}, {kpipe: stat(30_000)})).toBe(true)
  })

  it('is null when the figure it judges was not measured', () => {
    expect(meets({text: '≥ 2×', on: 'ratio', atLeast: 2}, {kpipe: {median: 1, min: 1, max: 1, n: 1}, ratio: null})).toBeNull()
  })
})

describe('formatStat', () => {
  it('prints median with min–max, or the single value of one run', () => {
    expect(formatStat({median: 38_730, min: 36_001, max: 41_250, n: 3}, 'events/s')).toBe('38,730 events/s (36,001–41,250)')
    expect(formatStat({median: 4.25, min: 4.25, max: 4.25, n: 1}, 'ms')).toBe('4.25 ms')
    expect(formatStat(null)).toBe('–')
  })
})

describe('renderMarkdown', () => {
  const report = (quick: boolean): BenchReport => ({
    date: '2026-12-01',
    startedAt: '2026-12-01T10:00:00Z',
    finishedAt: '2026-12-01T11:00:00Z',
    quick,
    runs: quick ? 1 : 3,
    command: 'npm run bench',
    machine: {cpus: 2, model: 'test CPU'},
    suites: [
      {
        name: 'drain',
        title: 'Drain',
        description: 'kpipe beside Connect.',
        comparisons: [compare({label: 'events/s, none', unit: '/s', kpipe: [40, 38, 42], peerName: 'Connect', peer: [40, 38, 21], target: {text: '≥ 2× Connect', on: 'ratio', atLeast: 2}})],
        loads: [{run: 1, atStart: 2.04, atEnd: 3.1}],
        charts: [{title: 'drain rate', file: '2026-12-01/drain-rate.svg'}],
        notes: [],
        errors: ['Connect: exited 1'],
      },
    ],
  })

  it('puts each figure beside its peer with the ratio and the verdict, and embeds the pictures', () => {
    const text = renderMarkdown(report(false))
    expect(text).toContain('| events/s, none | 40 /s (38–42) | Connect | 38 /s (21–40) | 1.00× (1.00×–2.00×) | ≥ 2× Connect: **not met** |')
    expect(text).toContain('![drain rate](2026-12-01/drain-rate.svg)')
    expect(text).toContain('run 1 2.0 → 3.1')
    expect(text).toContain('> **failed:** Connect: exited 1')
    expect(text).not.toContain('QUICK RUN')
  })

  it('says so in the title when the run is a quick one, and gives no verdict as one', () => {
    const text = renderMarkdown(report(true))
    expect(text.split('\n')[0]).toContain('QUICK RUN')
    expect(text).toContain('≥ 2× Connect: **not met** (quick run: not a verdict)')
  })
})
