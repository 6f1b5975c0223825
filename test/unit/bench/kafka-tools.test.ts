import {describe, expect, it} from 'vitest'

import {parseProducerPerfTest} from '../../../bench/lib/kafka-tools.js'

describe('parseProducerPerfTest', () => {
  it('reads the final summary, not the progress lines before it', () => {
    // Output of the stack's kafka-producer-perf-test (progress line shortened).
    const stdout = [
      '3127 records sent, 625.3 records/sec (0.12 MB/sec), 1450.2 ms avg latency, 1662.0 ms max latency.',
      '20000 records sent, 6453.694740 records/sec (1.23 MB/sec), 291.69 ms avg latency, 1662.00 ms max latency, 243 ms 50th, 507 ms 95th, 535 ms 99th, 736 ms 99.9th.',
      '',
    ].join('\n')
    expect(parseProducerPerfTest(stdout)).toEqual({records: 20_000, recordsPerSec: 6453.69474, mbPerSec: 1.23, avgMs: 291.69, maxMs: 1662, p50: 243, p95: 507, p99: 535, p999: 736})
  })

  it('fails on output without a summary (a tool that died early)', () => {
    expect(() => parseProducerPerfTest('3127 records sent, 625.3 records/sec (0.12 MB/sec), 1450.2 ms avg latency, 1662.0 ms max latency.\n')).toThrow(/no summary line/)
  })
})
