/**
 * Latency histograms for the load test: HdrHistogram (hdr-histogram-js) in microseconds, three
 * significant digits, so percentiles are exact to 0.1% at any scale and memory stays a few tens
 * of KiB however many records are measured.
 */
import {build, decodeFromCompressedBase64, encodeIntoCompressedBase64, type Histogram} from 'hdr-histogram-js'

/** The percentiles of the classic HdrHistogram percentile plot, for a chart of the distribution. */
export const DISTRIBUTION_PERCENTILES = [0, 50, 75, 90, 95, 99, 99.9, 99.99, 100] as const

export interface LatencySummary {
  count: number
  avg: number
  max: number
  p50: number
  p95: number
  p99: number
  p999: number
  distribution: {percentile: number; ms: number}[]
}

export class LatencyRecorder {
  // 32-bit counts, not 'packed': recording into the packed array was a tenth of the load
  // test's CPU (profiled); a histogram is a few hundred KiB at most either way.
  private readonly histogram: Histogram = build({bitBucketSize: 32, lowestDiscernibleValue: 1, autoResize: true, numberOfSignificantValueDigits: 3})

  /** Records one latency in microseconds (negative clock noise counts as 0). */
  record(us: number): void {
    this.histogram.recordValue(us > 0 ? Math.round(us) : 0)
  }

  get count(): number {
    return this.histogram.totalCount
  }

  /** The value at a percentile; HdrHistogram reports the top of its bucket, so never above the max. */
  percentileMs(percentile: number): number {
    if (this.count === 0) return 0
    return toMs(Math.min(this.histogram.getValueAtPercentile(percentile), this.histogram.maxValue))
  }

  summary(): LatencySummary {
    const h = this.histogram
    if (h.totalCount === 0) return {count: 0, avg: 0, max: 0, p50: 0, p95: 0, p99: 0, p999: 0, distribution: []}
    return {
      count: h.totalCount,
      avg: toMs(h.mean),
      max: toMs(h.maxValue),
      p50: this.percentileMs(50),
      p95: this.percentileMs(95),
      p99: this.percentileMs(99),
      p999: this.percentileMs(99.9),
      distribution: DISTRIBUTION_PERCENTILES.map((percentile) => ({percentile, ms: this.percentileMs(percentile)})),
    }
  }

  reset(): void {
    this.histogram.reset()
  }

  /** HdrHistogram's compressed form, to pass between threads. */
  encode(): string {
    return encodeIntoCompressedBase64(this.histogram)
  }

  /** Adds the records of an encoded histogram (another producer's) to this one. */
  addEncoded(encoded: string): void {
    const other = decodeFromCompressedBase64(encoded, 32, false)
    this.histogram.add(other)
    other.destroy()
  }
}

/** Microseconds → milliseconds with three decimals (the histogram's own resolution). */
function toMs(us: number): number {
  return Math.round(us) / 1000
}
