import {gzipSync} from 'node:zlib'

import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {UsageError} from '../../../src/lib/errors.js'
import {LoadEvents, POISON_CLASS, type LoadEventsOptions} from '../../../src/lib/loadtest/load-events.js'
import {decodeEventRecord, encodeEvent} from '../../../src/lib/records/decode.js'

const base: LoadEventsOptions = {runId: 'a1b2c3', sizeBytes: 200, keys: 10_000, encoding: 'json', poisonShare: 0}
const now = 1_795_000_000_123_456 // µs since the epoch
const decode = (value: Buffer) => decodeEventRecord(value, {maxBytes: 1_000_000})

describe('LoadEvents', () => {
  it('makes 200-byte JSON events (DESIGN §6) that the events worker accepts', () => {
    const events = new LoadEvents(base)
    for (const seq of [0, 1, 9_999, 10_000, 123_456_789]) {
      const value = events.value(seq, now + seq)
      expect(value.length).toBe(200)
      const decoded = decode(value)
      expect(decoded.ok).toBe(true)
      if (!decoded.ok) continue
      expect(decoded.event.eventId).toBe(events.eventId(seq))
      expect(decoded.event.key).toBe(events.key(seq))
      expect(decoded.event.payload.t).toBe(now + seq)
      expect(decoded.event.occurredAt).toBe(new Date(Math.floor((now + seq) / 1000)).toISOString())
    }
  })

  it('writes exactly the bytes encodeEvent would (the template stays the envelope encoder\'s)', () => {
    fc.assert(
      fc.property(fc.integer({min: 0, max: 36 ** 7 - 1}), fc.integer({min: 200, max: 4096}), fc.integer({min: 1, max: 1_000_000}), (seq, size, keys) => {
        const events = new LoadEvents({...base, sizeBytes: size + String(keys).length, keys})
        const value = events.value(seq, now)
        expect(value.equals(encodeEvent(events.envelope(seq, now), 'json'))).toBe(true)
      }),
    )
  })

  it('holds every size exactly, in JSON and in Avro', () => {
    for (const encoding of ['json', 'avro'] as const) {
      for (const size of [230, 255, 256, 300, 1000, 16_384, 100_000]) {
        const events = new LoadEvents({...base, encoding, sizeBytes: size})
        for (const seq of [0, 77, 36 ** 7 - 1]) expect(events.value(seq, now).length, `${encoding} ${size}`).toBe(size)
        const decoded = decode(events.value(5, now))
        expect(decoded.ok && decoded.encoding).toBe(encoding)
      }
    }
  })

  it('fills large events with text that compresses as real events do, not to nothing', () => {
    const events = new LoadEvents({...base, sizeBytes: 1000})
    const values = Buffer.concat(Array.from({length: 500}, (_, seq) => events.value(seq, now + seq)))
    const ratio = values.length / gzipSync(values).length
    // A run of one letter compresses some 50-fold; JSON events of this kind 3–6-fold.
    expect(ratio).toBeGreaterThan(2)
    expect(ratio).toBeLessThan(8)
    expect(events.pad(1)).not.toBe(events.pad(2))
  })

  it('refuses a size below the smallest event with the minimum in the sentence', () => {
    expect(() => new LoadEvents({...base, sizeBytes: 100})).toThrow(UsageError)
    expect(() => new LoadEvents({...base, sizeBytes: 100})).toThrow(/--size 100B is below the smallest json load-test event, \d+ bytes/)
  })

  it('gives distinct ids that map back to their record number, and keys round-robin', () => {
    const events = new LoadEvents({...base, keys: 3})
    const ids = new Set(Array.from({length: 1000}, (_, seq) => events.eventId(seq)))
    expect(ids.size).toBe(1000)
    for (const seq of [0, 35, 36, 999, 36 ** 7 - 1]) expect(events.seqOf(events.eventId(seq))).toBe(seq)
    expect([0, 1, 2, 3].map((seq) => events.key(seq))).toEqual(['lt-0', 'lt-1', 'lt-2', 'lt-0'])
  })

  it('makes exactly floor(n × share) poison records, evenly spread, each dead-lettered with its class', () => {
    for (const share of [0.01, 0.03, 0.25, 0.5]) {
      const events = new LoadEvents({...base, poisonShare: share})
      const n = 10_000
      let poison = 0
      for (let seq = 0; seq < n; seq++) if (events.isPoison(seq)) poison++
      expect(poison, String(share)).toBe(Math.floor(n * share))
    }
    const events = new LoadEvents({...base, poisonShare: 0.01})
    const classes: Record<string, number> = {}
    for (let seq = 0; seq < 3000; seq++) {
      const decoded = decode(events.value(seq, now))
      if (!events.isPoison(seq)) {
        expect(decoded.ok).toBe(true)
        continue
      }
      expect(decoded.ok).toBe(false)
      if (decoded.ok) continue
      expect(decoded.errorClass).toBe(POISON_CLASS[events.poisonKind(seq)])
      classes[events.poisonKind(seq)] = (classes[events.poisonKind(seq)] ?? 0) + 1
    }
    expect(classes).toEqual({'not-json': 10, 'missing-field': 10, 'bad-timestamp': 10})
    expect(new LoadEvents(base).isPoison(99)).toBe(false)
  })

  it('refuses a share outside [0, 1) and keys below 1', () => {
    expect(() => new LoadEvents({...base, poisonShare: 1})).toThrow(RangeError)
    expect(() => new LoadEvents({...base, poisonShare: -0.1})).toThrow(RangeError)
    expect(() => new LoadEvents({...base, keys: 0})).toThrow(RangeError)
  })
})
