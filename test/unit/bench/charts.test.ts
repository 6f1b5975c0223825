import {describe, expect, it} from 'vitest'

import {percentileSpec, ratesOf} from '../../../bench/lib/charts.js'

describe('ratesOf', () => {
  it('gives records per second between samples, from the last idle sample to the total reached', () => {
    const samples = [
      {atMs: 0, value: 0},
      {atMs: 500, value: 0},
      {atMs: 1000, value: 10_000},
      {atMs: 1500, value: 30_000},
      {atMs: 2000, value: 40_000},
      {atMs: 2500, value: 40_000}, // caught up: the tail is not the drain
    ]
    expect(ratesOf('none', samples)).toEqual([
      {series: 'none', atSeconds: 0.5, recordsPerSec: 20_000},
      {series: 'none', atSeconds: 1, recordsPerSec: 40_000},
      {series: 'none', atSeconds: 1.5, recordsPerSec: 20_000},
    ])
  })

  it('is empty when nothing was written', () => {
    expect(ratesOf('none', [{atMs: 0, value: 0}])).toEqual([])
  })
})

describe('percentileSpec', () => {
  it('puts percentile p at 1 / (1 − p) and leaves out the 100th (infinitely far)', () => {
    const spec = percentileSpec('e2e', [
      {series: 'a', percentile: 90, ms: 4},
      {series: 'a', percentile: 99, ms: 9},
      {series: 'a', percentile: 100, ms: 30},
    ]) as unknown as {data: {values: {x: number}[]}}
    expect(spec.data.values.map((v) => Math.round(v.x))).toEqual([10, 100])
  })
})
