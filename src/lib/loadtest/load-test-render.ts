/** The load test's words for humans: progress lines and the final summary. */
import {renderTable} from '../output/table.js'
import type {LatencySummary} from './latency.js'
import type {LoadTestResult, TimelinePoint} from './load-test-service.js'

const n = (value: number, digits = 0) => value.toLocaleString('en-US', {maximumFractionDigits: digits, minimumFractionDigits: digits})

/** One line per report interval, as kafka-producer-perf-test prints. */
export function progressLine(point: TimelinePoint): string {
  return (
    `${(point.atMs / 1000).toFixed(1)}s${point.warmup ? ' (warm-up)' : ''}: ${n(point.records)} records, ${n(point.recordsPerSec, 1)} records/s ` +
    `(${point.mbPerSec.toFixed(2)} MB/s), latency avg ${point.latencyAvgMs.toFixed(1)} ms, p99 ${point.latencyP99Ms.toFixed(1)} ms, ` +
    `max ${point.latencyMaxMs.toFixed(1)} ms; corrected p99 ${point.correctedP99Ms.toFixed(1)} ms`
  )
}

export function renderLoadTestSummary(result: LoadTestResult): string[] {
  const s = result.settings
  const lines = [
    `${n(result.records)} records in ${(result.durationMs / 1000).toFixed(2)} s: ${n(result.recordsPerSec, 1)} records/s, ${result.mbPerSec.toFixed(2)} MB/s` +
      ` (${result.topic}, ${s.sizeBytes} B ${s.encoding}, ${s.compression}, acks=all, ${s.ratePerSec > 0 ? `paced at ${n(s.ratePerSec)}/s` : 'as fast as possible'})`,
  ]
  const extras = [
    result.poison > 0 ? `${n(result.poison)} poison records` : '',
    result.warmupRecords > 0 ? `${n(result.warmupRecords)} warm-up records left out` : '',
    result.interrupted ? 'interrupted: the figures cover what was sent' : '',
  ].filter(Boolean)
  if (extras.length > 0) lines.push(extras.join(' · '))
  const row = (name: string, l: LatencySummary | null) => (l ? [name, ...[l.avg, l.p50, l.p95, l.p99, l.p999, l.max].map((v) => v.toFixed(2))] : [name, '-', '-', '-', '-', '-', '-'])
  const rows = [
    row('publish (send → ack)', result.latencyMs),
    row('publish delay (intended → send)', result.publishDelayMs),
    row('corrected (intended → ack)', result.correctedLatencyMs),
  ]
  if (result.e2e) rows.push(row('end to end (intended → row)', result.e2eLatencyMs))
  lines.push('', ...renderTable(['latency ms', 'avg', 'p50', 'p95', 'p99', 'p99.9', 'max'], rows).split('\n'))
  if (result.e2e) {
    lines.push('', `end to end: ${n(result.e2e.stored)} of ${n(result.e2e.expected)} events in pipeline.events${result.e2e.missing > 0 ? `, ${n(result.e2e.missing)} missing after ${result.e2e.timeoutMs / 1000}s` : ''}`)
  }
  for (const breach of result.breaches) lines.push(`✗ ${breach}`)
  return lines
}
