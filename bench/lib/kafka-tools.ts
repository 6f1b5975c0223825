/** Reading the output of Kafka's own benchmark tools (the peers of the suite). */

export interface PerfTestFigures {
  records: number
  recordsPerSec: number
  mbPerSec: number
  avgMs: number
  maxMs: number
  p50: number
  p95: number
  p99: number
  p999: number
}

const SUMMARY =
  /([\d.]+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, ([\d.]+) ms 50th, ([\d.]+) ms 95th, ([\d.]+) ms 99th, ([\d.]+) ms 99.9th/

/**
 * The final summary line of kafka-producer-perf-test: "N records sent, R records/sec (M MB/sec),
 * A ms avg latency, X ms max latency, a ms 50th, b ms 95th, c ms 99th, d ms 99.9th." The progress
 * lines before it ("… records sent, …, … ms max latency.") have no percentiles.
 */
export function parseProducerPerfTest(stdout: string): PerfTestFigures {
  const line = stdout
    .trim()
    .split('\n')
    .findLast((l) => l.includes('99.9th'))
  const m = line === undefined ? null : SUMMARY.exec(line)
  if (!m) throw new Error(`no summary line in kafka-producer-perf-test's output: ${stdout.slice(-500)}`)
  const [records, recordsPerSec, mbPerSec, avgMs, maxMs, p50, p95, p99, p999] = m.slice(1).map(Number) as [number, number, number, number, number, number, number, number, number]
  return {records, recordsPerSec, mbPerSec, avgMs, maxMs, p50, p95, p99, p999}
}
