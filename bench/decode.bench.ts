/**
 * Micro-benchmark of the events worker's decode step (record value → validated envelope), one
 * core, no I/O: `npx tsx bench/decode.bench.ts [records]`. Prints decodes per second for JSON and
 * Avro values of a typical event (~300 bytes), and for a JSON value with a \u escape (the slow
 * path that walks the payload looking for NUL and lone surrogates).
 *
 * Measured on the 2-core dev machine (Node 24.21), two runs while other suites ran (load ≈ 4):
 *   json 425k-577k/s (1.7-2.4 µs), avro newest writer 440k-500k/s (2.0-2.3 µs),
 *   avro v1 writer via resolver 300k-485k/s (2.1-3.4 µs), json with a \u escape 180k-330k/s.
 * JSON.parse is ~0.7 µs of it. Even the slowest case is ~10x under the 33 µs per event that
 * 30,000 events/s on one core allows.
 */
import {decodeEventRecord, encodeEvent, type EventEncoding} from '../src/lib/records/decode.js'
import type {EventEnvelope} from '../src/lib/records/envelope.js'
import {defaultEventSchemas} from '../src/lib/records/schema-store.js'

const count = Number(process.argv[2] ?? 1_000_000)
const schemas = defaultEventSchemas()

function event(i: number, plan = 'pro'): EventEnvelope {
  return {
    eventId: `0b4e7a1c-6f2d-4e53-9a7b-${String(i).padStart(12, '0')}`,
    type: 'user.signup',
    source: 'accounts',
    occurredAt: '2024-05-01T12:00:00.123Z',
    key: `user-${i % 10_000}`,
    correlationId: `corr-${i}`,
    schemaVersion: 1,
    payload: {plan, seats: i % 50, country: 'DE', referrer: 'newsletter', trial: true, amountCents: 4900},
  }
}

function run(name: string, values: Buffer[]): void {
  const bytes = values.reduce((n, v) => n + v.length, 0) / values.length
  // Warm up the JIT before timing.
  for (let i = 0; i < Math.min(values.length, 50_000); i++) decodeEventRecord(values[i]!, {maxBytes: 1 << 20, schemas})
  const started = process.hrtime.bigint()
  let ok = 0
  for (let round = 0; round * values.length < count; round++) {
    for (const value of values) if (decodeEventRecord(value, {maxBytes: 1 << 20, schemas}).ok) ok++
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const rate = Math.round(ok / seconds)
  console.log(`${name.padEnd(28)} ${rate.toLocaleString('en-US').padStart(11)} records/s  ${(1e6 / rate).toFixed(2)} µs/record  ${Math.round(bytes)} B/value`)
}

const distinct = 10_000
const encode = (encoding: EventEncoding, version?: number, plan?: string) =>
  Array.from({length: distinct}, (_, i) => encodeEvent(event(i, plan), encoding, {schemas, avroSchemaVersion: version}))

console.log(`decodeEventRecord, ${count.toLocaleString('en-US')} records per case, Node ${process.version}`)
run('json', encode('json'))
run('avro (newest writer)', encode('avro'))
run('avro (v1 writer, resolver)', encode('avro', 1))
run('json with \\u escape', encode('json', undefined, 'pro é').map((v) => Buffer.from(v.toString().replace('é', '\\u00e9'))))
