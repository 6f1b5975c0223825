/** A load test's objectives (a CI capacity gate): each missed one is a sentence, and exit 1. */
import type {LatencySummary} from './latency.js'

export interface LoadObjectives {
  /** Measured records per second at least this. */
  minRate?: number
  /** p99 of intended send → acknowledgement, in ms, at most this. */
  maxP99Ms?: number
  /** p99 of intended send → row in PostgreSQL, in ms, at most this. */
  maxE2eP99Ms?: number
}

export interface ObjectiveInput {
  recordsPerSec: number
  correctedLatencyMs: LatencySummary
  e2eLatencyMs: LatencySummary | null
  e2e: {expected: number; stored: number; missing: number; timeoutMs: number} | null
}

export function objectiveBreaches(result: ObjectiveInput, objectives: LoadObjectives): string[] {
  const breaches: string[] = []
  if (objectives.minRate !== undefined && result.recordsPerSec < objectives.minRate) {
    breaches.push(`the rate was ${round(result.recordsPerSec)} records/s, under --min-rate ${objectives.minRate}`)
  }
  if (objectives.maxP99Ms !== undefined && result.correctedLatencyMs.count > 0 && result.correctedLatencyMs.p99 > objectives.maxP99Ms) {
    breaches.push(`the p99 latency (intended send → ack) was ${result.correctedLatencyMs.p99} ms, over --max-p99 ${objectives.maxP99Ms} ms`)
  }
  if (result.e2e && result.e2e.missing > 0) {
    breaches.push(`${result.e2e.missing} of ${result.e2e.expected} events were not in pipeline.events ${result.e2e.timeoutMs / 1000}s after the last acknowledgement`)
  }
  if (objectives.maxE2eP99Ms !== undefined && result.e2eLatencyMs && result.e2eLatencyMs.count > 0 && result.e2eLatencyMs.p99 > objectives.maxE2eP99Ms) {
    breaches.push(`the end-to-end p99 (intended send → row in PostgreSQL) was ${result.e2eLatencyMs.p99} ms, over --max-e2e-p99 ${objectives.maxE2eP99Ms} ms`)
  }
  return breaches
}

function round(n: number): string {
  return Math.round(n).toLocaleString('en-US')
}
