import {describe, expect, it} from 'vitest'

import {LatencyRecorder, type LatencySummary} from '../../../src/lib/loadtest/latency.js'
import {objectiveBreaches} from '../../../src/lib/loadtest/objectives.js'

function summary(ms: number): LatencySummary {
  const recorder = new LatencyRecorder()
  recorder.record(ms * 1000)
  return recorder.summary()
}

const met = {recordsPerSec: 5000, correctedLatencyMs: summary(10), e2eLatencyMs: summary(30), e2e: {expected: 10, stored: 10, missing: 0, timeoutMs: 60_000}}

describe('objectiveBreaches', () => {
  it('is empty when every objective is met, or none is set', () => {
    expect(objectiveBreaches(met, {minRate: 5000, maxP99Ms: 10, maxE2eP99Ms: 30})).toEqual([])
    expect(objectiveBreaches(met, {})).toEqual([])
  })

  it('names each missed objective with the figure and the flag', () => {
    expect(objectiveBreaches(met, {minRate: 5001})).toEqual(['the rate was 5,000 records/s, under --min-rate 5001'])
    expect(objectiveBreaches(met, {maxP99Ms: 9})).toEqual(['the p99 latency (intended send → ack) was 10 ms, over --max-p99 9 ms'])
    expect(objectiveBreaches(met, {maxE2eP99Ms: 29})).toEqual(['the end-to-end p99 (intended send → row in PostgreSQL) was 30 ms, over --max-e2e-p99 29 ms'])
    expect(objectiveBreaches(met, {minRate: 6000, maxP99Ms: 1, maxE2eP99Ms: 1})).toHaveLength(3)
  })

  it('counts events that never reached PostgreSQL as a breach, with or without a latency objective', () => {
    const lost = {...met, e2e: {expected: 10, stored: 7, missing: 3, timeoutMs: 60_000}}
    expect(objectiveBreaches(lost, {})).toEqual(['3 of 10 events were not in pipeline.events 60s after the last acknowledgement'])
  })

  it('does not judge latency over no records', () => {
    const empty = {...met, correctedLatencyMs: new LatencyRecorder().summary(), e2eLatencyMs: null, e2e: null}
    expect(objectiveBreaches(empty, {maxP99Ms: 1, maxE2eP99Ms: 1})).toEqual([])
  })
})
