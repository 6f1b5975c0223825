import {stripVTControlCharacters} from 'node:util'
import {describe, expect, it} from 'vitest'

import {ParseError} from '../../../src/lib/durations.js'
import {formatLogLine, escapeControls} from '../../../src/lib/logs/log-format.js'
import {
  attrsContainments,
  buildSearchQuery,
  escapeLike,
  isoFromMicros,
  parseAttrs,
  parseTimeBound,
  toFoundLog,
  type LogRecord,
  type LogSearchQuery,
} from '../../../src/lib/logs/search-query.js'

const since = new Date('2024-05-01T11:00:00.000Z')
const base: LogSearchQuery = {since, limit: 100}
/** The WHERE conditions, one per entry, and the parameters. */
function where(query: Partial<LogSearchQuery>): {conditions: string[]; values: unknown[]} {
  const {text, values} = buildSearchQuery({...base, ...query})
  const clause = /\n WHERE ([\s\S]*?)\n ORDER BY/.exec(text)![1]!
  return {conditions: clause.split('\n   AND '), values}
}

describe('buildSearchQuery', () => {
  it('selects the newest lines since a time, newest first, to be reversed (printed like tail)', () => {
    const query = buildSearchQuery(base)
    expect(query.text).toBe(`SELECT ts, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ts_exact, service, level, message, correlation_id, attrs,
       kafka_topic, kafka_partition, kafka_offset, (extract(epoch FROM ingested_at) * 1000000)::bigint AS ingested_us
  FROM "pipeline".logs
 WHERE ts >= $1::timestamptz
 ORDER BY ts DESC, kafka_topic DESC, kafka_partition DESC, kafka_offset DESC
 LIMIT $2::int`)
    expect(query.values).toEqual(['2024-05-01T11:00:00.000Z', 100])
    expect(query.reverse).toBe(true)
  })

  it('reads oldest first, not to be reversed, when asked', () => {
    const query = buildSearchQuery({...base, order: 'oldest'})
    expect(query.text).toMatch(/ORDER BY ts, kafka_topic, kafka_partition, kafka_offset\n LIMIT \$2::int$/)
    expect(query.reverse).toBe(false)
  })

  it('quotes the schema', () => {
    expect(buildSearchQuery({...base, schema: 'we"ird'}).text).toContain('FROM "we""ird".logs')
  })

  it('bounds the time range: since inclusive, until exclusive', () => {
    expect(where({until: new Date('2024-05-01T12:00:00Z')})).toEqual({
      conditions: ['ts >= $1::timestamptz', 'ts < $2::timestamptz'],
      values: ['2024-05-01T11:00:00.000Z', '2024-05-01T12:00:00.000Z', 100],
    })
  })

  it('filters one service with = (an ordered index walk) and several with ANY, without duplicates', () => {
    expect(where({services: ['api']})).toEqual({conditions: ['ts >= $1::timestamptz', 'service = $2'], values: [since.toISOString(), 'api', 100]})
    expect(where({services: ['api', 'billing', 'api']})).toEqual({
      conditions: ['ts >= $1::timestamptz', 'service = ANY($2::text[])'],
      values: [since.toISOString(), ['api', 'billing'], 100],
    })
    expect(where({services: []}).conditions).toEqual(['ts >= $1::timestamptz'])
  })

  it('takes a level as that level and worse', () => {
    expect(where({minLevel: 'warn'})).toEqual({
      conditions: ['ts >= $1::timestamptz', 'level = ANY($2::text[])'],
      values: [since.toISOString(), ['warn', 'error', 'fatal'], 100],
    })
    expect(where({minLevel: 'error'}).values[1]).toEqual(['error', 'fatal'])
    expect(where({minLevel: 'debug'}).values[1]).toEqual(['debug', 'info', 'warn', 'error', 'fatal'])
    expect(where({minLevel: 'fatal'})).toEqual({conditions: ['ts >= $1::timestamptz', 'level = $2'], values: [since.toISOString(), 'fatal', 100]})
    // trace and worse is every line: no condition at all.
    expect(where({minLevel: 'trace'}).conditions).toEqual(['ts >= $1::timestamptz'])
  })

  it('filters a correlation id exactly, the empty one included', () => {
    expect(where({correlationId: 'req-42'})).toEqual({conditions: ['ts >= $1::timestamptz', 'correlation_id = $2'], values: [since.toISOString(), 'req-42', 100]})
    expect(where({correlationId: ''}).conditions).toContain('correlation_id = $2')
  })

  it('greps a case-insensitive substring with the wildcards escaped', () => {
    expect(where({grep: 'Timed Out'})).toEqual({conditions: ['ts >= $1::timestamptz', 'message ILIKE $2'], values: [since.toISOString(), '%Timed Out%', 100]})
    expect(where({grep: '100%_done\\now'}).values[1]).toBe('%100\\%\\_done\\\\now%')
    expect(where({grep: ''}).conditions).toEqual(['ts >= $1::timestamptz'])
  })

  it('matches attributes by containment, merged into one document when they have one form', () => {
    expect(where({attrs: {user: 'u1', region: 'eu-west'}})).toEqual({
      conditions: ['ts >= $1::timestamptz', 'attrs @> $2::jsonb'],
      values: [since.toISOString(), '{"user":"u1","region":"eu-west"}', 100],
    })
  })

  it('lets a number- or boolean-looking attribute match either its string or its JSON form', () => {
    expect(where({attrs: {status: '500', user: 'u1', cached: 'true'}})).toEqual({
      conditions: ['ts >= $1::timestamptz', 'attrs @> $2::jsonb', '(attrs @> $3::jsonb OR attrs @> $4::jsonb)', '(attrs @> $5::jsonb OR attrs @> $6::jsonb)'],
      values: [since.toISOString(), '{"user":"u1"}', '{"status":"500"}', '{"status":500}', '{"cached":"true"}', '{"cached":true}', 100],
    })
  })

  it('orders the cursor predicate by (ts, topic, partition, offset), with a plain ts bound for pruning', () => {
    const after = {ts: '2024-05-01T11:30:00.123456Z', kafkaTopic: 'logs', kafkaPartition: 2, kafkaOffset: '9007199254740993'}
    expect(where({after, order: 'oldest'})).toEqual({
      conditions: [
        'ts >= $1::timestamptz',
        'ts >= $2::timestamptz',
        '(ts, kafka_topic, kafka_partition, kafka_offset) > ($2::timestamptz, $3, $4::int, $5::bigint)',
      ],
      values: [since.toISOString(), after.ts, 'logs', 2, '9007199254740993', 100],
    })
  })

  it('bounds late lines by position and by when they were written', () => {
    const upTo = {ts: '2024-05-01T11:30:00.000000Z', kafkaTopic: 'logs', kafkaPartition: 0, kafkaOffset: '7'}
    const after = {ts: '2024-05-01T11:10:00.000000Z', kafkaTopic: 'logs', kafkaPartition: 1, kafkaOffset: '3'}
    expect(where({upTo, after, ingestedSinceUs: Date.parse('2024-05-01T11:29:50Z') * 1000 + 7, order: 'oldest'})).toEqual({
      conditions: [
        'ts >= $1::timestamptz',
        'ts >= $2::timestamptz',
        '(ts, kafka_topic, kafka_partition, kafka_offset) > ($2::timestamptz, $3, $4::int, $5::bigint)',
        'ts <= $6::timestamptz',
        '(ts, kafka_topic, kafka_partition, kafka_offset) <= ($6::timestamptz, $7, $8::int, $9::bigint)',
        'ingested_at >= $10::timestamptz',
      ],
      values: [since.toISOString(), after.ts, 'logs', 1, '3', upTo.ts, 'logs', 0, '7', '2024-05-01T11:29:50.000007Z', 100],
    })
  })

  it('combines every filter, each value a parameter of its own, in a fixed order', () => {
    const query = buildSearchQuery({
      ...base,
      until: new Date('2024-05-01T12:00:00Z'),
      services: ['api', 'billing'],
      minLevel: 'error',
      correlationId: "c'; DROP TABLE logs; --",
      grep: 'gateway',
      attrs: {user: 'u1'},
      limit: 5,
    })
    expect(query.text).toContain(`WHERE ts >= $1::timestamptz
   AND ts < $2::timestamptz
   AND service = ANY($3::text[])
   AND level = ANY($4::text[])
   AND correlation_id = $5
   AND message ILIKE $6
   AND attrs @> $7::jsonb
 ORDER BY`)
    expect(query.text).not.toContain('DROP')
    expect(query.values).toEqual([
      since.toISOString(),
      '2024-05-01T12:00:00.000Z',
      ['api', 'billing'],
      ['error', 'fatal'],
      "c'; DROP TABLE logs; --",
      '%gateway%',
      '{"user":"u1"}',
      5,
    ])
  })

  it('refuses a limit that is not a positive integer', () => {
    expect(() => buildSearchQuery({...base, limit: 0})).toThrow(RangeError)
    expect(() => buildSearchQuery({...base, limit: 1.5})).toThrow(RangeError)
  })
})

describe('isoFromMicros', () => {
  it('writes every microsecond, before and after the epoch', () => {
    expect(isoFromMicros(1_714_563_001_000_123)).toBe('2024-05-01T11:30:01.000123Z')
    expect(isoFromMicros(1_714_563_001_999_999)).toBe('2024-05-01T11:30:01.999999Z')
    expect(isoFromMicros(0)).toBe('1970-01-01T00:00:00.000000Z')
    expect(isoFromMicros(-1)).toBe('1969-12-31T23:59:59.999999Z')
    expect(() => isoFromMicros(1.5)).toThrow(RangeError)
  })
})

describe('escapeLike', () => {
  it('escapes %, _ and the backslash, nothing else', () => {
    expect(escapeLike('50% of a_b \\ c')).toBe('50\\% of a\\_b \\\\ c')
    expect(escapeLike('plain [text] *')).toBe('plain [text] *')
  })
})

describe('attrsContainments', () => {
  it('gives one merged document, or none for no attributes', () => {
    expect(attrsContainments({})).toEqual([])
    expect(attrsContainments({a: 'x', b: ''})).toEqual([['{"a":"x","b":""}']])
  })

  it('reads only JSON-shaped numbers as numbers', () => {
    expect(attrsContainments({n: '-1.5e3'})).toEqual([['{"n":"-1.5e3"}', '{"n":-1500}']])
    for (const value of ['007', '1.', '.5', '0x10', 'Infinity', 'NaN', ' 1', 'True', 'null']) {
      expect(attrsContainments({n: value})).toEqual([[JSON.stringify({n: value})]])
    }
  })
})

describe('parseTimeBound', () => {
  const now = new Date('2024-05-01T12:00:00.000Z')

  it('reads a duration as that long ago', () => {
    expect(parseTimeBound('15m', now).toISOString()).toBe('2024-05-01T11:45:00.000Z')
    expect(parseTimeBound('1h', now).toISOString()).toBe('2024-05-01T11:00:00.000Z')
    expect(parseTimeBound('7d', now).toISOString()).toBe('2024-04-24T12:00:00.000Z')
    expect(parseTimeBound(' 500ms ', now).toISOString()).toBe('2024-05-01T11:59:59.500Z')
  })

  it('reads ISO-8601 times, UTC when they carry no offset', () => {
    expect(parseTimeBound('2024-04-30', now).toISOString()).toBe('2024-04-30T00:00:00.000Z')
    expect(parseTimeBound('2024-04-30T08:15', now).toISOString()).toBe('2024-04-30T08:15:00.000Z')
    expect(parseTimeBound('2024-04-30 08:15:30', now).toISOString()).toBe('2024-04-30T08:15:30.000Z')
    expect(parseTimeBound('2024-04-30T08:15:30.25Z', now).toISOString()).toBe('2024-04-30T08:15:30.250Z')
    expect(parseTimeBound('2024-04-30T08:15:30.123456Z', now).toISOString()).toBe('2024-04-30T08:15:30.123Z')
    expect(parseTimeBound('2024-04-30T10:15+02:00', now).toISOString()).toBe('2024-04-30T08:15:00.000Z')
    expect(parseTimeBound('2024-04-30T10:15+0200', now).toISOString()).toBe('2024-04-30T08:15:00.000Z')
    expect(parseTimeBound('2024-04-30T03:15-05', now).toISOString()).toBe('2024-04-30T08:15:00.000Z')
    expect(parseTimeBound('2024-04-30t08:15z', now).toISOString()).toBe('2024-04-30T08:15:00.000Z')
  })

  it('refuses anything else with a sentence naming the value', () => {
    for (const input of ['yesterday', '', '1 hour', '-1h', '2024-02-30', '2024-13-01', '2024-05-01T25:00', 'May 1 2024', '2024-05-01Z']) {
      expect(() => parseTimeBound(input, now), input).toThrow(ParseError)
    }
    expect(() => parseTimeBound('yesterday', now)).toThrow('"yesterday" is neither a duration (15m, 2h, 7d) nor an ISO-8601 time (2024-05-01T12:00:00Z)')
    expect(() => parseTimeBound('30', now)).toThrow('"30" needs a unit')
  })
})

describe('parseAttrs', () => {
  it('splits at the first =, keeping = and empty values in the value', () => {
    expect(parseAttrs(['user=u1', 'query=a=b', 'empty='])).toEqual({user: 'u1', query: 'a=b', empty: ''})
    expect(parseAttrs([])).toEqual({})
  })

  it('refuses a missing = or key, and contradictory repeats', () => {
    expect(() => parseAttrs(['user'])).toThrow('"user" is not key=value')
    expect(() => parseAttrs(['=u1'])).toThrow('"=u1" is not key=value')
    expect(() => parseAttrs(['a=1', 'a=2'])).toThrow(/given twice/)
    expect(parseAttrs(['a=1', 'a=1'])).toEqual({a: '1'})
  })
})

describe('toFoundLog', () => {
  it('makes the --json record (exactly its fields), the cursor and the write time', () => {
    const found = toFoundLog({
      ts: new Date('2024-05-01T11:30:00.123Z'),
      ts_exact: '2024-05-01T11:30:00.123456Z',
      service: 'api',
      level: 'error',
      message: 'boom',
      correlation_id: null,
      attrs: {a: 1},
      kafka_topic: 'logs',
      kafka_partition: 1,
      kafka_offset: '42',
      ingested_us: '1714563001000123',
    })
    expect(Object.keys(found.record)).toEqual(['ts', 'level', 'service', 'message', 'correlationId', 'attrs', 'kafkaTopic', 'kafkaPartition', 'kafkaOffset'])
    expect(found).toEqual({
      record: {
        ts: '2024-05-01T11:30:00.123Z',
        level: 'error',
        service: 'api',
        message: 'boom',
        correlationId: null,
        attrs: {a: 1},
        kafkaTopic: 'logs',
        kafkaPartition: 1,
        kafkaOffset: '42',
      },
      cursor: {ts: '2024-05-01T11:30:00.123456Z', kafkaTopic: 'logs', kafkaPartition: 1, kafkaOffset: '42'},
      ingestedAtUs: 1_714_563_001_000_123,
    })
  })
})

describe('formatLogLine', () => {
  const record: LogRecord = {
    ts: '2024-05-01T11:30:00.123Z',
    level: 'warn',
    service: 'api',
    message: 'slow request',
    correlationId: 'req-1',
    attrs: {},
    kafkaTopic: 'logs',
    kafkaPartition: 0,
    kafkaOffset: '1',
  }

  it('prints time, level, service, message and correlation id on one plain line', () => {
    expect(formatLogLine(record, {color: false})).toBe('2024-05-01T11:30:00.123Z WARN  api slow request [req-1]')
    expect(formatLogLine({...record, correlationId: null, level: 'error'}, {color: false})).toBe('2024-05-01T11:30:00.123Z ERROR api slow request')
  })

  it('colours by level only when asked', () => {
    const coloured = formatLogLine(record, {color: true})
    expect(coloured).toContain('\u001b[33mWARN ')
    expect(stripVTControlCharacters(coloured)).toBe(formatLogLine(record, {color: false}))
    expect(formatLogLine({...record, level: 'error'}, {color: true})).toContain('\u001b[31mERROR')
  })

  it('keeps a record on one line and escapes terminal controls', () => {
    const line = formatLogLine({...record, message: 'line 1\nline 2\r\ttabbed \u001b[2J\u009b', correlationId: null}, {color: false})
    expect(line).toBe('2024-05-01T11:30:00.123Z WARN  api line 1\\nline 2\\r\ttabbed \\x1b[2J\\x9b')
    expect(escapeControls('ok ✓ 日本')).toBe('ok ✓ 日本')
  })
})
