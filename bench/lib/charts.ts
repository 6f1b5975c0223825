/**
 * The report's pictures: Vega-Lite specifications compiled to Vega and rendered headless to SVG
 * (vega's View with no renderer needs neither a canvas nor a browser). Three kinds:
 *   - latency over time per rate (the load test's timeline);
 *   - the latency percentile distribution per rate, HdrHistogram's classic plot: x is
 *     1 / (1 − p) on a log scale, so 90%, 99%, 99.9%, 99.99% are equally spaced and the tail shows;
 *   - drain rate over time (the worker's records written, sampled every 500 ms).
 */
import {writeFileSync} from 'node:fs'

import * as vega from 'vega'
import {compile, type TopLevelSpec} from 'vega-lite'

import type {CounterSample} from './harness.js'

const WIDTH = 640
const HEIGHT = 300

/** Renders a Vega-Lite specification to an SVG file. */
export async function renderSvg(spec: TopLevelSpec, file: string): Promise<void> {
  const view = new vega.View(vega.parse(compile(spec).spec), {renderer: 'none'})
  try {
    writeFileSync(file, await view.toSVG())
  } finally {
    view.finalize()
  }
}

const base = {
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  width: WIDTH,
  height: HEIGHT,
  background: 'white',
  config: {font: 'sans-serif', legend: {orient: 'bottom'}},
} as const

export interface TimelinePoint {
  series: string
  atSeconds: number
  ms: number
}

/** Latency (p99 of each report interval) over the run, one line per series (rate and latency kind). */
export function latencyOverTimeSpec(title: string, points: TimelinePoint[]): TopLevelSpec {
  return seriesOverTimeSpec(title, points, 'seconds into the run', {field: 'ms', title: 'p99 of the interval, ms'})
}

/** A line per series over time (x: atSeconds), the shape of the latency and drain pictures. */
function seriesOverTimeSpec(title: string, points: object[], xTitle: string, y: {field: string; title: string}): TopLevelSpec {
  return {
    ...base,
    title,
    data: {values: points},
    mark: {type: 'line', point: true},
    encoding: {
      x: {field: 'atSeconds', type: 'quantitative', title: xTitle},
      y: {field: y.field, type: 'quantitative', title: y.title},
      color: {field: 'series', type: 'nominal', title: null},
    },
  } as TopLevelSpec
}

export interface DistributionPoint {
  series: string
  /** Percentile, 0–100. */
  percentile: number
  ms: number
}

/** The percentiles HdrHistogram's plot labels: 0%, 90%, 99%, ... on an axis of 1 / (1 − p). */
const PERCENTILE_TICKS = [1, 10, 100, 1000, 10_000, 100_000]

/**
 * The percentile distribution, one line per series. A percentile of 100 (x infinite) is left out;
 * a distribution given as fractions (0–1) is taken as such.
 */
export function percentileSpec(title: string, points: DistributionPoint[]): TopLevelSpec {
  const values = points
    .map((p) => ({...p, percentile: p.percentile <= 1 && points.every((q) => q.percentile <= 1) ? p.percentile * 100 : p.percentile}))
    .filter((p) => p.percentile < 100)
    .map((p) => ({...p, x: 1 / (1 - p.percentile / 100)}))
  return {
    ...base,
    title,
    data: {values},
    mark: {type: 'line', interpolate: 'step-after'},
    encoding: {
      x: {
        field: 'x',
        type: 'quantitative',
        title: 'percentile',
        scale: {type: 'log', domainMin: 1},
        axis: {values: PERCENTILE_TICKS, labelExpr: "format(100 - 100 / datum.value, '.4~f') + '%'"},
      },
      y: {field: 'ms', type: 'quantitative', title: 'latency, ms'},
      color: {field: 'series', type: 'nominal', title: null},
    },
  } as TopLevelSpec
}

export interface RatePoint {
  series: string
  atSeconds: number
  recordsPerSec: number
}

/**
 * Records per second between successive samples of a counter; samples before the first record
 * and after the last are dropped (start-up and the caught-up check are not the drain).
 */
export function ratesOf(series: string, samples: readonly CounterSample[]): RatePoint[] {
  const points: RatePoint[] = []
  const firstMoving = samples.findIndex((s) => s.value > 0)
  if (firstMoving < 0) return points
  const total = samples.at(-1)!.value
  const origin = samples[Math.max(0, firstMoving - 1)]!.atMs
  for (let i = Math.max(1, firstMoving); i < samples.length; i++) {
    const previous = samples[i - 1]!
    const current = samples[i]!
    if (previous.value >= total) break
    const seconds = (current.atMs - previous.atMs) / 1000
    if (seconds > 0) points.push({series, atSeconds: (current.atMs - origin) / 1000, recordsPerSec: Math.round((current.value - previous.value) / seconds)})
  }
  return points
}

export function drainRateSpec(title: string, points: RatePoint[]): TopLevelSpec {
  return seriesOverTimeSpec(title, points, 'seconds since the first record written', {field: 'recordsPerSec', title: 'records written per second (500 ms samples)'})
}

export interface RssPoint {
  series: string
  atSeconds: number
  rssMiB: number
}

/** Resident memory over the run, one line per series, with the limit drawn as a rule. */
export function rssSpec(title: string, points: RssPoint[], limitMiB: number): TopLevelSpec {
  return {
    ...base,
    title,
    layer: [
      {
        data: {values: points},
        mark: {type: 'line'},
        encoding: {
          x: {field: 'atSeconds', type: 'quantitative', title: 'seconds since the worker started'},
          y: {field: 'rssMiB', type: 'quantitative', title: 'RSS, MiB'},
          color: {field: 'series', type: 'nominal', title: null},
        },
      },
      {data: {values: [{limit: limitMiB}]}, mark: {type: 'rule', strokeDash: [4, 4], color: 'firebrick'}, encoding: {y: {field: 'limit', type: 'quantitative'}}},
    ],
  } as TopLevelSpec
}
