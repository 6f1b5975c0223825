/**
 * The load test's records: valid event envelopes of one exact encoded size, and an even share of
 * poison records (one in 1/share), each kind a different dead-letter class for the worker.
 *
 * Every valid event carries its intended send time (µs since the epoch, an integer) in `payload.t`
 * and (to the millisecond) as `occurredAt`, so the end-to-end latency is read back from pipeline.events as ingested_at − t.
 * Ids are `lt`, the run id and the record's number (base 36, zero-padded), so every record of a
 * run has the same size and the ids of a run can be listed without keeping them in memory.
 */
import {encodeEvent, type EventEncoding} from '../records/decode.js'
import type {EventEnvelope} from '../records/envelope.js'
import {UsageError} from '../errors.js'

// Short names: DESIGN's 200-byte event must hold the whole envelope.
export const LOAD_TEST_EVENT_TYPE = 'loadtest'
export const LOAD_TEST_SOURCE = 'kpipe'
/** Record numbers in base 36, zero-padded to this width (36^7 ≈ 7.8 × 10^10 records). */
const SEQ_WIDTH = 7
/** µs since the epoch have 16 digits from 2001 to 2286, so an event's size never moves. */
const SAMPLE_TIME_US = 1_800_000_000_000_000

export type PoisonKind = 'not-json' | 'missing-field' | 'bad-timestamp'
const POISON_KINDS: readonly PoisonKind[] = ['not-json', 'missing-field', 'bad-timestamp']
/** The dead-letter class the events worker gives each kind (DESIGN §3). */
export const POISON_CLASS: Record<PoisonKind, 'decode' | 'validation'> = {
  'not-json': 'decode',
  'missing-field': 'validation',
  'bad-timestamp': 'validation',
}

export interface LoadEventsOptions {
  /** Unique id of the run, part of every event id: six characters [0-9a-z]. */
  runId: string
  /** Encoded size of each valid event's value, in bytes. */
  sizeBytes: number
  /** Distinct entity keys (Kafka keys), used round-robin. */
  keys: number
  encoding: EventEncoding
  /** Share of poison records, 0 ≤ share < 1. */
  poisonShare: number
}

export class LoadEvents {
  private readonly keyWidth: number
  private readonly padLength: number
  private readonly keyBuffers: (Buffer | undefined)[] = []
  private readonly poisonEvery: number

  constructor(readonly options: LoadEventsOptions) {
    if (!(options.poisonShare >= 0 && options.poisonShare < 1)) throw new RangeError(`poison share ${options.poisonShare} is not in [0, 1)`)
    if (!Number.isInteger(options.keys) || options.keys < 1) throw new RangeError(`keys ${options.keys} is not a positive integer`)
    this.keyWidth = String(options.keys - 1).length
    this.poisonEvery = options.poisonShare > 0 ? 1 / options.poisonShare : Number.POSITIVE_INFINITY
    // Every field has a fixed width (ids padded, a 16-digit time), so one probe gives the size.
    const base = this.encode(0, SAMPLE_TIME_US, '').length
    if (options.sizeBytes < base) {
      throw new UsageError(`--size ${options.sizeBytes}B is below the smallest ${options.encoding} load-test event, ${base} bytes.`, {hint: `Give --size ${base}B or more.`})
    }
    let padLength = options.sizeBytes - base
    // Avro's length prefix of payloadJson grows by a byte as it lengthens: settle the size.
    for (let i = 0; i < 3; i++) {
      const diff = options.sizeBytes - this.encode(0, SAMPLE_TIME_US, 'x'.repeat(padLength)).length
      if (diff === 0) break
      padLength = Math.max(0, padLength + diff)
    }
    this.padLength = padLength
  }

  /** The record number of one of this run's event ids. */
  seqOf(eventId: string): number {
    return Number.parseInt(eventId.slice(-SEQ_WIDTH), 36)
  }

  eventId(seq: number): string {
    return `lt${this.options.runId}${seq.toString(36).padStart(SEQ_WIDTH, '0')}`
  }

  key(seq: number): string {
    return `lt-${String(seq % this.options.keys).padStart(this.keyWidth, '0')}`
  }

  /** The key of record seq as the one Buffer of its entity: no allocation per record, and the
   * partitioner can remember its partition by identity. */
  keyBuffer(seq: number): Buffer {
    const index = seq % this.options.keys
    let buffer = this.keyBuffers[index]
    if (buffer === undefined) {
      buffer = Buffer.from(this.key(seq), 'latin1')
      this.keyBuffers[index] = buffer
    }
    return buffer
  }

  /** Whether record seq is poison: exactly floor(n × share) of the first n records, evenly spread. */
  isPoison(seq: number): boolean {
    return Math.floor((seq + 1) / this.poisonEvery) > Math.floor(seq / this.poisonEvery)
  }

  poisonKind(seq: number): PoisonKind {
    return POISON_KINDS[Math.floor((seq + 1) / this.poisonEvery) % POISON_KINDS.length]!
  }

  /** The value of record seq, intended to be sent at intendedWallUs (µs since the epoch). */
  value(seq: number, intendedWallUs: number): Buffer {
    const value = this.encode(seq, intendedWallUs, this.pad(seq))
    if (!this.isPoison(seq)) return value
    const text = value.toString('latin1')
    switch (this.poisonKind(seq)) {
      case 'not-json':
        // Cut short: a producer bug or a truncated write.
        return Buffer.from(text.slice(0, Math.max(1, Math.floor(text.length / 2))), 'latin1')
      case 'missing-field':
        return Buffer.from(JSON.stringify({...this.envelope(seq, intendedWallUs, ''), type: undefined}))
      case 'bad-timestamp':
        return Buffer.from(JSON.stringify({...this.envelope(seq, intendedWallUs, ''), occurredAt: 'yesterday'}))
    }
  }

  /**
   * The filler of record seq: a window onto a fixed text of words, different per record, so the
   * records compress about as well as real JSON does (a run of one letter would compress to
   * nothing and make a compressed load test meaningless).
   */
  pad(seq: number): string {
    if (this.padLength === 0) return ''
    const text = fillerText(this.padLength)
    const start = (seq * 7919) % (text.length - this.padLength + 1)
    return text.slice(start, start + this.padLength)
  }

  envelope(seq: number, intendedWallUs: number, pad = this.pad(seq)): EventEnvelope {
    return {
      eventId: this.eventId(seq),
      type: LOAD_TEST_EVENT_TYPE,
      source: LOAD_TEST_SOURCE,
      occurredAt: new Date(Math.floor(intendedWallUs / 1000)).toISOString(),
      key: this.key(seq),
      correlationId: null,
      schemaVersion: 1,
      payload: {t: intendedWallUs, p: pad},
    }
  }

  private encode(seq: number, intendedWallUs: number, pad: string): Buffer {
    if (this.options.encoding === 'avro') return encodeEvent(this.envelope(seq, intendedWallUs, pad), 'avro')
    return jsonEvent(this.eventId(seq), this.key(seq), intendedWallUs, pad)
  }
}

/**
 * encodeEvent's JSON for a load-test event, by template: three times faster than
 * JSON.stringify of the envelope, and the producer's loop is what a load test must not be
 * limited by. Only digits, [a-z-] and the pad's words and spaces ever go in, so nothing needs escaping; a unit test
 * holds it byte for byte to encodeEvent.
 */
function jsonEvent(eventId: string, key: string, intendedWallUs: number, pad: string): Buffer {
  const occurredAt = new Date(Math.floor(intendedWallUs / 1000)).toISOString()
  return Buffer.from(
    `{"eventId":"${eventId}","type":"${LOAD_TEST_EVENT_TYPE}","source":"${LOAD_TEST_SOURCE}","occurredAt":"${occurredAt}","key":"${key}",` +
      `"correlationId":null,"schemaVersion":1,"payload":{"t":${intendedWallUs},"p":"${pad}"}}`,
    'latin1',
  )
}

const WORDS = (
  'order payment user account session cart item price total status created updated shipped ' +
  'delivered failed retry region country device browser mobile desktop campaign source medium ' +
  'search query result page view click checkout coupon discount invoice refund plan trial seat'
).split(' ')
let filler = ''

/** At least `length` + 64 KiB of words picked by a fixed linear congruential sequence. */
function fillerText(length: number): string {
  if (filler.length >= length + 65_536) return filler
  const parts: string[] = []
  let size = 0
  let state = 12_345
  while (size < length + 65_536) {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31
    const word = WORDS[state % WORDS.length]!
    parts.push(word)
    size += word.length + 1
  }
  filler = parts.join(' ')
  return filler
}
