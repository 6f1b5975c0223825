import fc from 'fast-check'
import type {IHeaders} from 'kafkajs'
import {describe, expect, it} from 'vitest'

import {deadLetterHeaders} from '../../../src/lib/dlq/dead-letter.js'
import {
  countRecord,
  decide,
  decodeProgress,
  defaultReplayGroup,
  detectDialect,
  emptySummary,
  encodeProgress,
  isFiltered,
  isHandled,
  markScanned,
  normaliseDeadLetter,
  parkedHeaders,
  parkedTopic,
  parseRate,
  replayHeaders,
  replayTransactionalId,
  SAMPLES_PER_SUMMARY,
  springInteger,
  startOffset,
  takeTokens,
  tokenBucket,
  transactionSize,
  valuePreview,
  type DeadLetterRecord,
  type NormalisedDeadLetter,
  type PartitionProgress,
  type ReplayFilter,
} from '../../../src/lib/dlq/replay-model.js'

function int32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeInt32BE(n)
  return b
}
function int64(n: bigint): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigInt64BE(n)
  return b
}

function letter(headers: IHeaders, extra: Partial<DeadLetterRecord> = {}): DeadLetterRecord {
  return {topic: 'orders.dlq', partition: 0, offset: '41', key: Buffer.from('k-1'), value: Buffer.from('{"a":1}'), headers, timestamp: '1714564800000', ...extra}
}

// A dead letter as kpipe's own workers write it (the real writer, not a copy of its header names).
const kpipeHeaders = deadLetterHeaders(
  {
    record: {topic: 'events', partition: 4, offset: '12345', key: Buffer.from('user-1'), value: Buffer.from('{not json'), headers: {traceparent: '00-abc'}, timestamp: '1714564800000'},
    errorClass: 'decode',
    message: 'the value is not JSON.',
  },
  {worker: 'events', failedAt: new Date('2024-05-01T12:00:01.000Z')},
)

const connectHeaders: IHeaders = {
  '__connect.errors.topic': Buffer.from('orders'),
  '__connect.errors.partition': Buffer.from('2'),
  '__connect.errors.offset': Buffer.from('9000000000'),
  '__connect.errors.connector.name': Buffer.from('jdbc-sink'),
  '__connect.errors.task.id': Buffer.from('0'),
  '__connect.errors.stage': Buffer.from('VALUE_CONVERTER'),
  '__connect.errors.class.name': Buffer.from('org.apache.kafka.connect.json.JsonConverter'),
  '__connect.errors.exception.class.name': Buffer.from('org.apache.kafka.connect.errors.DataException'),
  '__connect.errors.exception.message': Buffer.from('Converting byte[] to Kafka Connect data failed'),
  '__connect.errors.exception.stacktrace': Buffer.from('org.apache.kafka…'),
  'app-trace': Buffer.from('t-1'),
}

const springHeaders: IHeaders = {
  'kafka_dlt-original-topic': Buffer.from('payments'),
  'kafka_dlt-original-partition': int32(5),
  'kafka_dlt-original-offset': int64(2n ** 40n + 7n),
  'kafka_dlt-original-timestamp': int64(1714564800000n),
  'kafka_dlt-original-consumer-group': Buffer.from('payments-service'),
  'kafka_dlt-exception-fqcn': Buffer.from('org.springframework.kafka.support.serializer.DeserializationException'),
  'kafka_dlt-exception-message': Buffer.from('failed to deserialize; nested exception'),
  'kafka_dlt-exception-stacktrace': Buffer.from('…'),
  'x-tenant': Buffer.from('acme'),
}

describe('normaliseDeadLetter: the three writers into one shape', () => {
  const cases: {name: string; headers: IHeaders; timestamp?: string; expected: Partial<NormalisedDeadLetter>}[] = [
    {
      name: "kpipe's own dead letter",
      headers: kpipeHeaders,
      expected: {dialect: 'kpipe', originalTopic: 'events', originalPartition: 4, originalOffset: '12345', errorClass: 'decode', errorMessage: 'the value is not JSON.', attempt: 1, failedAtMs: Date.parse('2024-05-01T12:00:01.000Z')},
    },
    {
      name: 'kpipe dead letter of a third failure',
      headers: {...kpipeHeaders, 'kpipe.dlq.attempt': Buffer.from('3')},
      expected: {dialect: 'kpipe', attempt: 3},
    },
    {
      name: 'kpipe dead letter with an unreadable attempt counts as the first',
      headers: {...kpipeHeaders, 'kpipe.dlq.attempt': Buffer.from('-2')},
      expected: {dialect: 'kpipe', attempt: 1},
    },
    {
      name: 'Kafka Connect with context headers',
      headers: connectHeaders,
      timestamp: '1700000000000',
      expected: {
        dialect: 'connect',
        originalTopic: 'orders',
        originalPartition: 2,
        originalOffset: '9000000000',
        errorClass: 'org.apache.kafka.connect.errors.DataException',
        errorMessage: 'Converting byte[] to Kafka Connect data failed',
        attempt: 1,
        failedAtMs: 1_700_000_000_000,
      },
    },
    {
      name: 'Kafka Connect without context headers (only the exception)',
      headers: {'__connect.errors.exception.class.name': Buffer.from('org.apache.kafka.connect.errors.DataException')},
      expected: {dialect: 'connect', originalTopic: null, originalPartition: null, originalOffset: null, errorClass: 'org.apache.kafka.connect.errors.DataException'},
    },
    {
      name: 'Kafka Connect failing a record a replay had carried kpipe.dlq.attempt=2 into',
      headers: {...connectHeaders, 'kpipe.dlq.attempt': Buffer.from('2'), 'kpipe.replay.dlq.offset': Buffer.from('3')},
      expected: {dialect: 'connect', attempt: 3},
    },
    {
      name: 'Spring Kafka, binary partition and offset',
      headers: springHeaders,
      expected: {
        dialect: 'spring',
        originalTopic: 'payments',
        originalPartition: 5,
        originalOffset: (2n ** 40n + 7n).toString(),
        errorClass: 'org.springframework.kafka.support.serializer.DeserializationException',
        errorMessage: 'failed to deserialize; nested exception',
        attempt: 1,
      },
    },
    {
      name: 'Spring Kafka, partition and offset re-encoded as text by a bridge',
      headers: {...springHeaders, 'kafka_dlt-original-partition': Buffer.from('5'), 'kafka_dlt-original-offset': Buffer.from('77')},
      expected: {dialect: 'spring', originalPartition: 5, originalOffset: '77'},
    },
    {
      name: 'Spring Kafka, wrong widths and a negative offset are not coordinates',
      headers: {...springHeaders, 'kafka_dlt-original-partition': Buffer.from([1, 2]), 'kafka_dlt-original-offset': int64(-1n)},
      expected: {dialect: 'spring', originalTopic: 'payments', originalPartition: null, originalOffset: null},
    },
    {
      name: 'no dead-letter headers at all',
      headers: {'content-type': 'application/json'},
      expected: {dialect: 'unknown', originalTopic: null, errorClass: 'unknown', errorMessage: '', attempt: 1, failedAtMs: 1_714_564_800_000},
    },
    {
      name: 'repeated header: the last value wins',
      headers: {...kpipeHeaders, 'kpipe.dlq.original.topic': [Buffer.from('old'), Buffer.from('events')]},
      expected: {originalTopic: 'events'},
    },
  ]
  it.each(cases)('$name', ({headers, timestamp, expected}) => {
    expect(normaliseDeadLetter(letter(headers, timestamp ? {timestamp} : {}))).toMatchObject(expected)
  })

  it('never throws and always answers with a known dialect and an attempt ≥ 1, over arbitrary headers', () => {
    const value = fc.oneof(fc.string(), fc.uint8Array({maxLength: 12}).map((a) => Buffer.from(a)))
    const name = fc.oneof(
      fc.string(),
      fc.constantFrom('kpipe.dlq.original.topic', 'kpipe.dlq.attempt', 'kpipe.dlq.error.class', 'kpipe.dlq.failed.at', '__connect.errors.topic', '__connect.errors.offset', 'kafka_dlt-original-topic', 'kafka_dlt-original-partition', 'kafka_dlt-original-offset', 'kafka_dlt-exception-fqcn'),
    )
    fc.assert(
      fc.property(fc.dictionary(name, value), fc.string(), (headers, timestamp) => {
        const normalised = normaliseDeadLetter(letter(headers, {timestamp}))
        expect(['kpipe', 'connect', 'spring', 'unknown']).toContain(normalised.dialect)
        expect(normalised.attempt).toBeGreaterThanOrEqual(1)
        expect(Number.isFinite(normalised.failedAtMs)).toBe(true)
        if (normalised.originalPartition !== null) expect(normalised.originalPartition).toBeGreaterThanOrEqual(0)
        if (normalised.originalOffset !== null) expect(BigInt(normalised.originalOffset) >= 0n).toBe(true)
      }),
    )
  })

  it('reads every Spring partition and offset written as big-endian binary', () => {
    fc.assert(
      fc.property(fc.integer({min: 0, max: 2_147_483_647}), fc.bigInt({min: 0n, max: 2n ** 63n - 1n}), (partition, offset) => {
        const normalised = normaliseDeadLetter(letter({...springHeaders, 'kafka_dlt-original-partition': int32(partition), 'kafka_dlt-original-offset': int64(offset)}))
        expect(normalised.originalPartition).toBe(partition)
        expect(normalised.originalOffset).toBe(offset.toString())
      }),
    )
  })

  it('springInteger reads 4 and 8 byte big-endian, or decimal text', () => {
    expect(springInteger(int32(-1), 4)).toBe(-1n)
    expect(springInteger(Buffer.from([0, 0, 1, 0]), 4)).toBe(256n)
    expect(springInteger(int64(2n ** 62n), 8)).toBe(2n ** 62n)
    expect(springInteger(Buffer.from('12'), 8)).toBe(12n)
    expect(springInteger(Buffer.from('x'), 8)).toBeUndefined()
    expect(springInteger(undefined, 4)).toBeUndefined()
  })

  it('detects kpipe before Spring before Connect', () => {
    expect(detectDialect({...connectHeaders, ...springHeaders, ...kpipeHeaders})).toBe('kpipe')
    expect(detectDialect({...connectHeaders, ...springHeaders})).toBe('spring')
    expect(detectDialect(connectHeaders)).toBe('connect')
    expect(detectDialect({})).toBe('unknown')
  })
})

describe('filters and the decision per record', () => {
  const base = normaliseDeadLetter(letter(kpipeHeaders))
  const connect = normaliseDeadLetter(letter(connectHeaders))
  const key = Buffer.from('user-1')
  const at = Date.parse('2024-05-01T12:00:01.000Z')

  const cases: {name: string; letter: NormalisedDeadLetter; key?: Buffer | null; filter: ReplayFilter; to?: string; maxAttempts?: number; expected: ReturnType<typeof decide>}[] = [
    {name: 'no filter: replay to the original topic', letter: base, filter: {}, expected: {action: 'replay', topic: 'events'}},
    {name: '--to overrides the original topic', letter: base, filter: {}, to: 'scratch', expected: {action: 'replay', topic: 'scratch'}},
    {name: 'class matches', letter: base, filter: {errorClasses: ['schema', 'decode']}, expected: {action: 'replay', topic: 'events'}},
    {name: 'class does not match', letter: base, filter: {errorClasses: ['schema']}, expected: {action: 'skip'}},
    {name: 'Connect class by simple name', letter: connect, filter: {errorClasses: ['DataException']}, expected: {action: 'replay', topic: 'orders'}},
    {name: 'Connect class by full name', letter: connect, filter: {errorClasses: ['org.apache.kafka.connect.errors.DataException']}, expected: {action: 'replay', topic: 'orders'}},
    {name: 'a part of a class name is not a match', letter: connect, filter: {errorClasses: ['Exception']}, expected: {action: 'skip'}},
    {name: '--since at the failure time is inclusive', letter: base, filter: {sinceMs: at}, expected: {action: 'replay', topic: 'events'}},
    {name: '--since after the failure', letter: base, filter: {sinceMs: at + 1}, expected: {action: 'skip'}},
    {name: '--until at the failure time is exclusive', letter: base, filter: {untilMs: at}, expected: {action: 'skip'}},
    {name: '--until after the failure', letter: base, filter: {untilMs: at + 1}, expected: {action: 'replay', topic: 'events'}},
    {name: '--key matches', letter: base, key, filter: {key: 'user-1'}, expected: {action: 'replay', topic: 'events'}},
    {name: '--key does not match', letter: base, key, filter: {key: 'user-2'}, expected: {action: 'skip'}},
    {name: '--key never matches a null key', letter: base, key: null, filter: {key: ''}, expected: {action: 'skip'}},
    {name: '--grep is case-insensitive', letter: base, filter: {grep: 'NOT JSON'}, expected: {action: 'replay', topic: 'events'}},
    {name: '--grep misses', letter: base, filter: {grep: 'timeout'}, expected: {action: 'skip'}},
    {name: 'all filters must hold', letter: base, key, filter: {errorClasses: ['decode'], key: 'user-1', grep: 'timeout'}, expected: {action: 'skip'}},
    {name: 'attempt 3 with the default maximum is parked', letter: {...base, attempt: 3}, filter: {}, maxAttempts: 3, expected: {action: 'park', reason: 'attempt 3 ≥ --max-attempts 3'}},
    {name: 'attempt 2 is replayed', letter: {...base, attempt: 2}, filter: {}, maxAttempts: 3, expected: {action: 'replay', topic: 'events'}},
    {name: 'a filter applies before parking', letter: {...base, attempt: 5}, filter: {errorClasses: ['schema']}, expected: {action: 'skip'}},
    {name: 'no original topic, no --to', letter: {...connect, originalTopic: null}, filter: {}, expected: {action: 'unroutable'}},
    {name: 'no original topic, with --to', letter: {...connect, originalTopic: null}, filter: {}, to: 'orders', expected: {action: 'replay', topic: 'orders'}},
    {name: 'parking needs no topic', letter: {...connect, originalTopic: null, attempt: 9}, filter: {}, expected: {action: 'park', reason: 'attempt 9 ≥ --max-attempts 3'}},
  ]
  it.each(cases)('$name', ({letter: l, key: k, filter, to, maxAttempts, expected}) => {
    expect(decide(l, k === undefined ? key : k, {filter, to, maxAttempts: maxAttempts ?? 3})).toEqual(expected)
  })

  it('isFiltered is true for any filter flag', () => {
    expect(isFiltered({})).toBe(false)
    expect(isFiltered({errorClasses: []})).toBe(false)
    for (const filter of [{errorClasses: ['a']}, {sinceMs: 0}, {untilMs: 0}, {key: ''}, {grep: ''}]) expect(isFiltered(filter)).toBe(true)
  })
})

describe('replayHeaders and parkedHeaders', () => {
  it('kpipe: removes kpipe.dlq.* but the attempt, keeps the rest, adds the dead-letter coordinates', () => {
    const record = letter(kpipeHeaders, {topic: 'events.dlq', partition: 0, offset: '41'})
    const headers = replayHeaders(record, normaliseDeadLetter(record))
    expect(headers).toEqual({
      traceparent: '00-abc',
      'kpipe.dlq.attempt': '1',
      'kpipe.replay.dlq.topic': 'events.dlq',
      'kpipe.replay.dlq.partition': '0',
      'kpipe.replay.dlq.offset': '41',
    })
  })

  it('Connect and Spring: their dead-letter headers go too', () => {
    for (const [headers, kept] of [
      [connectHeaders, 'app-trace'],
      [springHeaders, 'x-tenant'],
    ] as const) {
      const record = letter(headers)
      const out = replayHeaders(record, normaliseDeadLetter(record))
      expect(Object.keys(out).sort()).toEqual([kept, 'kpipe.dlq.attempt', 'kpipe.replay.dlq.offset', 'kpipe.replay.dlq.partition', 'kpipe.replay.dlq.topic'].sort())
    }
  })

  it('an earlier replay\'s coordinates are replaced, not repeated', () => {
    const record = letter({...kpipeHeaders, 'kpipe.replay.dlq.offset': '3', 'kpipe.replay.dlq.topic': 'old.dlq'}, {offset: '99'})
    const out = replayHeaders(record, normaliseDeadLetter(record))
    expect(out['kpipe.replay.dlq.offset']).toBe('99')
    expect(out['kpipe.replay.dlq.topic']).toBe('orders.dlq')
  })

  it('a record that fails again after a replay comes back one attempt higher (the count is made where the failure is)', () => {
    // Failure 1 by a kpipe worker, replay, failure 2, replay, failure 3: parked at the default maximum.
    let record = letter(kpipeHeaders)
    for (let failure = 1; failure <= 3; failure++) {
      const normalised = normaliseDeadLetter(record)
      expect(normalised.attempt).toBe(failure)
      const replayed = replayHeaders(record, normalised)
      const again = deadLetterHeaders(
        {record: {topic: 'events', partition: 1, offset: String(100 + failure), key: record.key, value: record.value, headers: replayed, timestamp: '1'}, errorClass: 'decode', message: 'still bad'},
        {worker: 'events', failedAt: new Date()},
      )
      record = letter(again)
    }
    expect(decide(normaliseDeadLetter(record), null, {filter: {}, maxAttempts: 3}).action).toBe('park')
  })

  it('the same holds for a foreign writer that copies headers without counting', () => {
    let record = letter(connectHeaders)
    for (let failure = 1; failure <= 3; failure++) {
      const normalised = normaliseDeadLetter(record)
      expect(normalised.attempt).toBe(failure)
      // Connect's reporter keeps the failed record's headers and adds its own.
      record = letter({...replayHeaders(record, normalised), ...connectHeaders})
    }
  })

  it('a parked record keeps every dead-letter header and says why', () => {
    const record = letter(kpipeHeaders, {offset: '7'})
    const headers = parkedHeaders(record, 'attempt 3 ≥ --max-attempts 3')
    for (const [name, value] of Object.entries(kpipeHeaders)) expect(headers[name]).toEqual(value)
    expect(headers).toMatchObject({'kpipe.replay.dlq.topic': 'orders.dlq', 'kpipe.replay.dlq.offset': '7', 'kpipe.replay.parked.reason': 'attempt 3 ≥ --max-attempts 3'})
  })

  it('names', () => {
    expect(parkedTopic('events.dlq')).toBe('events.dlq.parked')
    expect(defaultReplayGroup('events.dlq')).toBe('kpipe-replay.events.dlq')
    expect(replayTransactionalId('kpipe-replay.events.dlq')).toBe('kpipe-replay.events.dlq.txn')
  })
})

describe('the summary', () => {
  it('counts by class, original topic and dialect, and keeps a few samples', () => {
    let summary = emptySummary({dryRun: true, dlq: 'mixed.dlq', group: 'g'})
    const records = [letter(kpipeHeaders), letter(connectHeaders), letter(springHeaders), letter({'content-type': 'x'}), letter({...kpipeHeaders, 'kpipe.dlq.attempt': '3'})]
    for (let round = 0; round < 2; round++) {
      for (const record of records) {
        const normalised = normaliseDeadLetter(record)
        summary = countRecord(summary, record, normalised, decide(normalised, record.key, {filter: {}, maxAttempts: 3}))
      }
    }
    summary = countRecord(summary, letter(kpipeHeaders), normaliseDeadLetter(letter(kpipeHeaders)), {action: 'skip'})
    expect(summary).toMatchObject({read: 11, replayed: 6, parked: 2, unroutable: 2, skipped: 1})
    expect(summary.byOriginalTopic).toEqual({events: 4, orders: 2, payments: 2, '(none)': 2})
    expect(summary.byErrorClass).toEqual({
      decode: 4,
      'org.apache.kafka.connect.errors.DataException': 2,
      'org.springframework.kafka.support.serializer.DeserializationException': 2,
      unknown: 2,
    })
    expect(summary.byDialect).toEqual({kpipe: 4, connect: 2, spring: 2, unknown: 2})
    expect(summary.samples).toHaveLength(SAMPLES_PER_SUMMARY)
    expect(summary.samples[0]).toMatchObject({key: 'k-1', originalTopic: 'events', errorClass: 'decode', action: 'replay', valuePreview: '{"a":1}'})
  })

  it('valuePreview shows text, hex for binary, and marks a cut', () => {
    expect(valuePreview(null)).toBeNull()
    expect(valuePreview(Buffer.from('hello'))).toBe('hello')
    expect(valuePreview(Buffer.from([0xc3, 0x01, 0xde]))).toBe('0xc301de')
    expect(valuePreview(Buffer.from('x'.repeat(100)), 10)).toBe(`${'x'.repeat(10)}…`)
    // A cut through a two-byte character is still text.
    expect(valuePreview(Buffer.from('aé'), 2)).toBe('a…')
    fc.assert(
      fc.property(fc.uint8Array({maxLength: 200}), fc.integer({min: 1, max: 100}), (bytes, n) => {
        const preview = valuePreview(Buffer.from(bytes), n)!
        expect(typeof preview).toBe('string')
        expect(preview.length).toBeLessThanOrEqual(2 + 2 * n + 1)
      }),
    )
  })
})

describe('progress kept in the commit', () => {
  const p = (next: bigint, done: [bigint, bigint][] = []): PartitionProgress => ({next, done})

  const cases: {name: string; from: PartitionProgress; scan: [bigint, bigint, bigint[]]; expected: PartitionProgress}[] = [
    {name: 'unfiltered scan moves the offset', from: p(0n), scan: [0n, 10n, []], expected: p(10n)},
    {name: 'a left-out record holds the offset, the rest is done', from: p(0n), scan: [0n, 10n, [3n]], expected: p(3n, [[4n, 10n]])},
    {name: 'several left out', from: p(0n), scan: [0n, 10n, [3n, 5n, 9n]], expected: p(3n, [[4n, 5n], [6n, 9n]])},
    {name: 'a later run handles the left-out record: the offset jumps over what was done', from: p(3n, [[4n, 10n]]), scan: [3n, 4n, []], expected: p(10n)},
    {name: 'scan starting beyond the offset (resuming behind a gap)', from: p(3n, [[4n, 10n]]), scan: [10n, 20n, []], expected: p(3n, [[4n, 20n]])},
    {name: 'left-out outside the scan is ignored', from: p(0n), scan: [0n, 5n, [7n]], expected: p(5n)},
    {name: 'empty scan changes nothing', from: p(2n, [[5n, 6n]]), scan: [4n, 4n, []], expected: p(2n, [[5n, 6n]])},
  ]
  it.each(cases)('$name', ({from, scan: [a, b, left], expected}) => {
    expect(markScanned(from, a, b, left)).toEqual(expected)
  })

  it('encodes as the committed offset plus compact metadata, and decodes back', () => {
    expect(encodeProgress(p(10n))).toEqual({offset: '10', metadata: ''})
    expect(encodeProgress(p(3n, [[4n, 10n], [11n, 50n]]))).toEqual({offset: '3', metadata: 'kpipe-replay/1:1.6,1.13'})
    expect(decodeProgress('3', 'kpipe-replay/1:1.6,1.13')).toEqual(p(3n, [[4n, 10n], [11n, 50n]]))
  })

  it('ignores metadata it did not write, and a group without a commit starts at 0', () => {
    expect(decodeProgress('7', 'written by something else')).toEqual(p(7n))
    expect(decodeProgress('7', 'kpipe-replay/1:zz')).toEqual(p(7n))
    expect(decodeProgress('7', null)).toEqual(p(7n))
    expect(decodeProgress('-1', '')).toEqual(p(0n))
  })

  // A model: the set of handled offsets in a window, against which the ranges are checked.
  const window = 60
  const scans = fc.array(
    fc.tuple(fc.integer({min: 0, max: window}), fc.integer({min: 0, max: 20}), fc.array(fc.integer({min: 0, max: window}), {maxLength: 6})),
    {maxLength: 8},
  )
  it('agrees with a set model over any sequence of scans, and survives the commit round trip', () => {
    fc.assert(
      fc.property(scans, (steps) => {
        let progress = p(0n)
        const handled = new Set<number>()
        for (const [from, length, left] of steps) {
          const to = Math.min(window, from + length)
          progress = markScanned(progress, BigInt(from), BigInt(to), left.map(BigInt))
          for (let o = from; o < to; o++) if (!left.includes(o)) handled.add(o)
          const {offset, metadata} = encodeProgress(progress)
          progress = decodeProgress(offset, metadata)
        }
        for (let o = 0; o < window + 5; o++) expect(isHandled(progress, BigInt(o))).toBe(handled.has(o))
        // next is the first unhandled offset; the ranges are apart and above it.
        let first = 0
        while (handled.has(first)) first++
        expect(progress.next).toBe(BigInt(first))
        for (const [i, [a, b]] of progress.done.entries()) {
          expect(a > progress.next && b > a).toBe(true)
          if (i > 0) expect(a > progress.done[i - 1]![1]).toBe(true)
        }
      }),
    )
  })

  it('starts at the progress, or at the log start when retention deleted past it', () => {
    expect(startOffset(p(5n), 0n)).toBe(5n)
    expect(startOffset(p(5n), 9n)).toBe(9n)
  })
})

describe('pacing', () => {
  it('a token bucket lets `rate` through per second after the first', () => {
    let bucket = tokenBucket(10, 0)
    let now = 0
    for (let i = 0; i < 100; i++) {
      const taken = takeTokens(bucket, 1, now)
      now += taken.waitMs
      bucket = taken.bucket
    }
    // 100 records at 10/s: the first is free, the other 99 take 9.9 s.
    expect(now).toBeGreaterThanOrEqual(9900)
    expect(now).toBeLessThanOrEqual(9900 + 100)
  })

  it('never runs faster than the rate plus the burst, whatever the takes', () => {
    fc.assert(
      fc.property(fc.double({min: 0.5, max: 1000, noNaN: true}), fc.array(fc.tuple(fc.integer({min: 1, max: 50}), fc.integer({min: 0, max: 3000})), {minLength: 1, maxLength: 40}), (rate, takes) => {
        let bucket = tokenBucket(rate, 0)
        let now = 0
        let sent = 0
        for (const [n, idle] of takes) {
          now += idle
          const taken = takeTokens(bucket, n, now)
          now += taken.waitMs
          bucket = taken.bucket
          sent += n
        }
        expect(sent).toBeLessThanOrEqual(bucket.burst + Math.ceil((now * rate) / 1000) + 1)
      }),
    )
  })

  it('transactions hold about a second of records', () => {
    expect(transactionSize(undefined)).toBe(500)
    expect(transactionSize(5)).toBe(5)
    expect(transactionSize(0.2)).toBe(1)
    expect(transactionSize(10_000)).toBe(500)
  })

  it.each([
    ['50/s', 50],
    ['50', 50],
    ['0.5/s', 0.5],
    [' 20 / sec ', 20],
    ['0', undefined],
    ['-1/s', undefined],
    ['fast', undefined],
    ['5/m', undefined],
  ])('parseRate(%j) = %j', (input, expected) => {
    expect(parseRate(input)).toBe(expected)
  })
})
