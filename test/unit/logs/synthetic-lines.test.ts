import {describe, expect, it} from 'vitest'

import {LOG_LINE_LEVELS} from '../../../src/lib/logs/log-line.js'
import {parseLogRecord} from '../../../src/lib/logs/log-parse.js'
import {SYNTHETIC_CORRELATION_FIELDS, SYNTHETIC_SERVICES, syntheticLogRecords, type SyntheticLogRecord} from '../../../src/lib/logs/synthetic-lines.js'
import type {SourceRecord} from '../../../src/lib/workers/types.js'

const START = Date.UTC(2026, 4, 1, 8)
const SPACING = 7
/** Kafka receives each line this long after the time it states. */
const LAG = 250

function sourceOf(generated: SyntheticLogRecord, index: number): SourceRecord {
  const headers: SourceRecord['headers'] = {}
  for (const [name, value] of Object.entries(generated.headers ?? {})) headers[name] = Buffer.from(value)
  return {
    topic: 'logs',
    partition: 0,
    offset: String(index),
    key: generated.key === null ? null : Buffer.from(generated.key),
    value: generated.value,
    headers,
    timestamp: String(START + index * SPACING + LAG),
  }
}

describe('syntheticLogRecords', () => {
  const records = syntheticLogRecords(5000, {scope: 'synth', seed: 7, startMs: START, spacingMs: SPACING})

  it('agrees with the parser on 5,000 records', () => {
    const disagreements: string[] = []
    records.forEach((generated, index) => {
      const outcome = parseLogRecord(sourceOf(generated, index), {maxBytes: 1 << 20})
      const {expected} = generated
      const got = outcome.ok
        ? {deadLetter: false, level: outcome.value.level, service: outcome.value.service, correlationId: outcome.value.correlationId, message: outcome.value.message, tsMs: outcome.value.tsMs}
        : {deadLetter: true, errorClass: outcome.errorClass}
      const want = expected.deadLetter ? expected : {...expected, tsMs: expected.tsMs ?? START + index * SPACING + LAG}
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        disagreements.push(`#${index} ${generated.dialect} ${generated.value?.toString()}\n  want ${JSON.stringify(want)}\n  got  ${JSON.stringify(got)}`)
      }
    })
    expect(disagreements.slice(0, 5).join('\n')).toBe('')
  })

  it('is deterministic for a seed, and another seed gives other records', () => {
    const again = syntheticLogRecords(5000, {scope: 'synth', seed: 7, startMs: START, spacingMs: SPACING})
    expect(again).toEqual(records)
    const other = syntheticLogRecords(50, {scope: 'synth', seed: 8, startMs: START, spacingMs: SPACING})
    expect(other.map((r) => r.value?.toString('hex'))).not.toEqual(records.slice(0, 50).map((r) => r.value?.toString('hex')))
  })

  it('mixes every dialect, every level and a small share of dead letters', () => {
    const dialects = new Set(records.map((r) => r.dialect))
    for (const name of ['pino', 'bunyan', 'winston', 'zap', 'ecs', 'logrus-json', 'structlog', 'gcp', 'generic-json', 'logfmt-gokit', 'logfmt-logrus',
      'logfmt-log15', 'logfmt-slog', 'plain-log4j', 'plain-python', 'plain-nginx', 'plain-syslog', 'plain-klog', 'plain-word', 'plain-timestamp-only',
      'plain-bare', 'json-truncated', 'dead-null', 'dead-invalid-utf8', 'dead-utf16']) {
      expect(dialects).toContain(name)
    }
    const levels = new Set(records.flatMap((r) => (r.expected.deadLetter ? [] : [r.expected.level])))
    expect([...levels].sort()).toEqual([...LOG_LINE_LEVELS].sort())
    const dead = records.filter((r) => r.expected.deadLetter).length
    expect(dead / records.length).toBeGreaterThan(0.01)
    expect(dead / records.length).toBeLessThan(0.05)
  })

  it('writes correlation ids under every supported field name, nested and dotted', () => {
    const texts = records.map((r) => r.value?.toString() ?? '')
    for (const field of SYNTHETIC_CORRELATION_FIELDS) {
      expect(texts.some((text) => text.includes(`"${field}":`) || text.includes(` ${field}=`))).toBe(true)
    }
    expect(texts.some((text) => text.includes('"trace":{"id":'))).toBe(true)
    expect(records.filter((r) => !r.expected.deadLetter && r.expected.correlationId !== null).length).toBeGreaterThan(1000)
  })

  it('scopes every service, and names it in the line, the key or a header', () => {
    const services = new Set(records.flatMap((r) => (r.expected.deadLetter ? [] : [r.expected.service])))
    expect([...services].sort()).toEqual(SYNTHETIC_SERVICES.map((name) => `synth-${name}`).sort())
    expect(records.some((r) => r.key === null && r.headers?.service)).toBe(true)
    expect(records.some((r) => r.key === 'synth-collector')).toBe(true)
  })

  it('spaces the stated times from startMs by spacingMs, with defaults', () => {
    const pino = records.findIndex((r) => r.dialect === 'pino')
    expect(records[pino]!.expected).toMatchObject({tsMs: START + pino * SPACING})
    const [first] = syntheticLogRecords(1, {scope: 's', seed: 3})
    expect(first!.expected.deadLetter || first!.expected.tsMs === null || first!.expected.tsMs === Date.UTC(2026, 0, 1)).toBe(true)
  })
})
