import fc from 'fast-check'
import type {IHeaders} from 'kafkajs'
import {describe, expect, it} from 'vitest'

import {logDecoder, parseLogRecord, UNKNOWN_SERVICE} from '../../../src/lib/logs/log-parse.js'
import {LOG_LINE_LEVELS, type LogLine} from '../../../src/lib/logs/log-line.js'
import {epochToMs, isoToMs} from '../../../src/lib/logs/log-time.js'
import {parseLogfmt} from '../../../src/lib/logs/logfmt.js'
import {findUnstorableText, MAX_FIELD_LENGTH} from '../../../src/lib/records/envelope.js'
import {ERROR_CLASSES, type DecodeOutcome, type SourceRecord} from '../../../src/lib/workers/types.js'

const MAX = 64 * 1024
/** The Kafka timestamp of every record below unless a test says otherwise: 2026-01-02T12:00:00Z. */
const KAFKA_MS = Date.UTC(2026, 0, 2, 12)
const DAY = 86_400_000

interface RecordOptions {
  key?: string | Buffer | null
  headers?: IHeaders
  timestamp?: string
}

function record(value: string | Buffer | null, options: RecordOptions = {}): SourceRecord {
  const key = options.key === undefined ? 'checkout' : options.key
  return {
    topic: 'logs',
    partition: 0,
    offset: '7',
    key: typeof key === 'string' ? Buffer.from(key) : key,
    value: typeof value === 'string' ? Buffer.from(value) : value,
    headers: options.headers ?? {},
    timestamp: options.timestamp ?? String(KAFKA_MS),
  }
}

function parse(value: string | Buffer, options?: RecordOptions): LogLine {
  const outcome = parseLogRecord(record(value, options), {maxBytes: MAX})
  if (!outcome.ok) throw new Error(`expected a log line, got ${outcome.errorClass}: ${outcome.message}`)
  return outcome.value
}

function failure(value: string | Buffer | null, maxBytes = MAX): {errorClass: string; message: string} {
  const outcome = parseLogRecord(record(value), {maxBytes})
  if (outcome.ok) throw new Error(`expected a dead letter, got ${JSON.stringify(outcome.value)}`)
  return {errorClass: outcome.errorClass, message: outcome.message}
}

const json = (value: unknown) => JSON.stringify(value)

describe('parseLogRecord: dead letters', () => {
  it('rejects a tombstone (null value) as decode', () => {
    expect(failure(null)).toEqual({errorClass: 'decode', message: 'the record has no value (a tombstone).'})
  })

  it('rejects a value over maxBytes as oversize, and takes one of exactly maxBytes', () => {
    expect(failure('x'.repeat(101), 100)).toEqual({errorClass: 'oversize', message: 'the value is 101 bytes, over the limit of 100.'})
    expect(parseLogRecord(record('x'.repeat(100)), {maxBytes: 100}).ok).toBe(true)
  })

  it.each([
    ['a byte that never starts UTF-8', [0x68, 0xff, 0x69]],
    ['an overlong encoding', [0x22, 0xc0, 0xaf, 0x22]],
    ['a lone continuation byte', [0x80]],
    ['a sequence cut short', [0x61, 0xe2, 0x82]],
    ['an encoded surrogate', [0xed, 0xa0, 0x80]],
    ['gzip bytes', [0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00]],
    ['an Avro single-object marker', [0xc3, 0x01, 0x00, 0x01]],
  ])('rejects %s as decode', (_name, bytes) => {
    expect(failure(Buffer.from(bytes))).toEqual({errorClass: 'decode', message: 'the value is not valid UTF-8 text.'})
  })

  it.each([
    ['UTF-16LE text', Buffer.from('hello world', 'utf16le')],
    ['protobuf-like bytes', Buffer.from([0x08, 0x00, 0x12, 0x03, 0x61, 0x62, 0x63, 0x18, 0x00, 0x20, 0x01])],
    ['a NUL between two letters', Buffer.from('a\0b')],
  ])('rejects %s (NULs among control characters) as decode', (_name, value) => {
    expect(failure(value)).toEqual({
      errorClass: 'decode',
      message: 'the value holds NUL bytes among many control characters: binary data, not a log line.',
    })
  })

  it('keeps a text line with a stray NUL, replacing it with U+FFFD', () => {
    const line = parse('ERROR disk \0 is full on /dev/sda1')
    expect(line.message).toBe('ERROR disk \uFFFD is full on /dev/sda1')
    expect(line.level).toBe('error')
  })

  it('drops trailing NUL padding with the line end', () => {
    expect(parse('WARN low memory\n\0\0\0').message).toBe('WARN low memory')
    expect(parse('WARN low memory\0\0\r\n').message).toBe('WARN low memory')
  })

  it('reads a stray NUL inside a JSON string as U+FFFD instead of failing JSON.parse', () => {
    const line = parse('{"level":"warn","msg":"a\0b and some more text"}')
    expect(line).toMatchObject({level: 'warn', message: 'a\uFFFDb and some more text'})
  })
})

describe('parseLogRecord: line ends, empty and blank values', () => {
  it.each([
    ['LF', 'INFO ready\n'],
    ['CRLF', 'INFO ready\r\n'],
    ['several', 'INFO ready\n\n\r\n'],
  ])('strips a trailing %s', (_name, value) => {
    expect(parse(value).message).toBe('INFO ready')
  })

  it('keeps inner newlines (a stack trace is one line)', () => {
    expect(parse('ERROR boom\n  at f (a.js:1)\n  at g (b.js:2)\n').message).toBe('ERROR boom\n  at f (a.js:1)\n  at g (b.js:2)')
  })

  it('stores an empty value as an info line with an empty message at the Kafka time', () => {
    expect(parse('')).toEqual({tsMs: KAFKA_MS, service: 'checkout', level: 'info', message: '', correlationId: null, attrs: {}})
    expect(parse('\r\n').message).toBe('')
  })

  it('stores a blank value as plain text, blanks kept', () => {
    expect(parse('  \t ')).toMatchObject({level: 'info', message: '  \t '})
  })

  it('drops a UTF-8 byte order mark', () => {
    const value = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"level":"error","msg":"x"}')])
    expect(parse(value)).toMatchObject({level: 'error', message: 'x'})
  })
})

describe('parseLogRecord: JSON dialects', () => {
  it('pino: numeric level, epoch-ms time, name as service; pid, hostname and v in attrs', () => {
    const value = json({level: 50, time: 1767348000123, pid: 4242, hostname: 'web-1', name: 'api', reqId: 'r-1', msg: 'request failed', v: 1})
    expect(parse(value)).toEqual({
      tsMs: 1767348000123,
      service: 'api',
      level: 'error',
      message: 'request failed',
      correlationId: null,
      attrs: {pid: 4242, hostname: 'web-1', reqId: 'r-1', v: 1},
    })
  })

  it('bunyan: ISO time, numeric level, name', () => {
    const value = json({name: 'billing', hostname: 'h', pid: 1, level: 40, msg: 'slow', time: '2026-01-02T10:00:00.250Z', v: 0})
    expect(parse(value)).toEqual({
      tsMs: Date.UTC(2026, 0, 2, 10, 0, 0, 250),
      service: 'billing',
      level: 'warn',
      message: 'slow',
      correlationId: null,
      attrs: {hostname: 'h', pid: 1, v: 0},
    })
  })

  it('winston: level / message / timestamp / service', () => {
    const value = json({level: 'info', message: 'started', timestamp: '2026-01-02T09:30:00.000Z', service: 'gateway', requestId: 'req-9'})
    expect(parse(value)).toEqual({
      tsMs: Date.UTC(2026, 0, 2, 9, 30),
      service: 'gateway',
      level: 'info',
      message: 'started',
      correlationId: 'req-9',
      attrs: {},
    })
  })

  it('zap: ts in float seconds, caller kept', () => {
    const value = json({level: 'dpanic', ts: 1767348000.123, caller: 'main.go:42', msg: 'should not happen', svc: 'ledger', trace_id: 't-1'})
    expect(parse(value)).toEqual({
      tsMs: 1767348000123,
      service: 'ledger',
      level: 'error',
      message: 'should not happen',
      correlationId: 't-1',
      attrs: {caller: 'main.go:42'},
    })
  })

  it('logrus / slog JSON: RFC 3339 with an offset, upper-case level', () => {
    const value = json({time: '2026-01-02T11:00:00.5+01:00', level: 'WARNING', msg: 'retrying', app: 'worker', attempt: 3})
    expect(parse(value)).toMatchObject({tsMs: Date.UTC(2026, 0, 2, 10, 0, 0, 500), level: 'warn', service: 'worker', attrs: {attempt: 3}})
  })

  it('ECS, dotted keys: @timestamp, log.level, service.name, trace.id', () => {
    const value = json({'@timestamp': '2026-01-02T10:00:00.000Z', 'log.level': 'error', message: 'db down', 'service.name': 'orders', 'trace.id': 'abc123', 'ecs.version': '8.11.0'})
    expect(parse(value)).toEqual({
      tsMs: Date.UTC(2026, 0, 2, 10),
      service: 'orders',
      level: 'error',
      message: 'db down',
      correlationId: 'abc123',
      attrs: {'ecs.version': '8.11.0'},
    })
  })

  it('ECS, nested objects: what is left of log, service and trace stays in attrs', () => {
    const value = json({
      '@timestamp': '2026-01-02T10:00:00Z',
      log: {level: 'WARN', logger: 'app.db'},
      message: 'slow query',
      service: {name: 'orders', version: '1.2.3'},
      trace: {id: 'abc'},
      span: {id: 'def'},
    })
    expect(parse(value)).toEqual({
      tsMs: Date.UTC(2026, 0, 2, 10),
      service: 'orders',
      level: 'warn',
      message: 'slow query',
      correlationId: 'abc',
      attrs: {log: {logger: 'app.db'}, service: {version: '1.2.3'}, span: {id: 'def'}},
    })
  })

  it('drops a nested object left empty', () => {
    expect(parse(json({log: {level: 'info'}, trace: {id: 'x'}, service: {name: 's'}, msg: 'm'})).attrs).toEqual({})
  })

  it('structlog: event is the message when no msg, message or log', () => {
    expect(parse(json({event: 'user logged in', level: 'info', timestamp: '2026-01-02T10:00:00Z', user: 'u1'}))).toMatchObject({
      message: 'user logged in',
      attrs: {user: 'u1'},
    })
  })

  it('Google Cloud: severity, and NOTICE / DEFAULT', () => {
    expect(parse(json({severity: 'NOTICE', message: 'm'})).level).toBe('info')
    expect(parse(json({severity: 'DEFAULT', message: 'm'})).level).toBe('info')
    expect(parse(json({severity: 'CRITICAL', message: 'm'})).level).toBe('fatal')
  })

  it('Docker json-file: log holds the line with its newline, stream and time kept', () => {
    expect(parse(json({log: 'GET / 200\n', stream: 'stdout', time: '2026-01-02T10:00:00.123456789Z'}))).toEqual({
      tsMs: Date.UTC(2026, 0, 2, 10, 0, 0, 123),
      service: 'checkout',
      level: 'info',
      message: 'GET / 200',
      correlationId: null,
      attrs: {stream: 'stdout'},
    })
  })

  it('uses the whole line as the message when no field holds one', () => {
    const value = json({level: 'info', user: 'u1', action: 'login'})
    expect(parse(value)).toMatchObject({message: value, attrs: {user: 'u1', action: 'login'}})
    expect(parse('{}')).toMatchObject({message: '{}', level: 'info', attrs: {}})
  })

  it('accepts blanks around the object', () => {
    expect(parse('  {"level":"debug","msg":"x"}  \n')).toMatchObject({level: 'debug', message: 'x'})
  })
})

describe('parseLogRecord: time fields', () => {
  const at = Date.UTC(2026, 0, 2, 10, 0, 0, 123)
  it.each(['ts', 'time', 'timestamp', '@timestamp', 't'])('reads %s', (field) => {
    const line = parse(json({[field]: '2026-01-02T10:00:00.123Z', msg: 'x'}))
    expect(line.tsMs).toBe(at)
    expect(line.attrs).toEqual({})
  })

  it('takes them in the order ts, time, timestamp, @timestamp, t; the others stay in attrs', () => {
    const line = parse(json({t: '2026-01-02T01:00:00Z', time: '2026-01-02T02:00:00Z', ts: '2026-01-02T03:00:00Z', msg: 'x'}))
    expect(line.tsMs).toBe(Date.UTC(2026, 0, 2, 3))
    expect(line.attrs).toEqual({t: '2026-01-02T01:00:00Z', time: '2026-01-02T02:00:00Z'})
  })

  it('skips a field that holds no time, which stays in attrs under its own name', () => {
    const line = parse(json({time: 'yesterday', timestamp: '2026-01-02T10:00:00.123Z', t: {a: 1}, msg: 'x'}))
    expect(line.tsMs).toBe(at)
    expect(line.attrs).toEqual({time: 'yesterday', t: {a: 1}})
  })

  it.each([
    ['Z', '2026-01-02T10:00:00.123Z', at],
    ['lower-case t and z', '2026-01-02t10:00:00.123z', at],
    ['+01:00', '2026-01-02T11:00:00.123+01:00', at],
    ['+0100', '2026-01-02T11:00:00.123+0100', at],
    ['+01', '2026-01-02T11:00:00.123+01', at],
    ['-05:30', '2026-01-02T04:30:00.123-05:30', at],
    ['no zone (UTC)', '2026-01-02T10:00:00.123', at],
    ['a space for T', '2026-01-02 10:00:00.123', at],
    ['a comma fraction (Python)', '2026-01-02 10:00:00,123', at],
    ['nanoseconds', '2026-01-02T10:00:00.123456789Z', at],
    ['one fraction digit', '2026-01-02T10:00:00.1Z', Date.UTC(2026, 0, 2, 10, 0, 0, 100)],
    ['no fraction', '2026-01-02T10:00:00Z', Date.UTC(2026, 0, 2, 10)],
    ['no seconds', '2026-01-02T10:00Z', Date.UTC(2026, 0, 2, 10)],
    ['slashes in the date', '2026/01/02 10:00:00.123', at],
    [' UTC after the time', '2026-01-02 10:00:00.123 UTC', at],
    ['GMT after the time', '2026-01-02 10:00:00.123GMT', at],
    ['a date alone', '2026-01-02', Date.UTC(2026, 0, 2)],
    ['a leap day', '2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
    ['a leap second', '2016-12-31T23:59:60Z', Date.UTC(2017, 0, 1)],
    ['epoch seconds', 1767348000, Date.UTC(2026, 0, 2, 10)],
    ['epoch seconds, float', 1767348000.123, at],
    ['epoch milliseconds', 1767348000123, at],
    ['epoch microseconds', 1767348000123456, at],
    ['epoch nanoseconds', Number('1767348000123456789'), at],
    ['epoch seconds as a string', '1767348000', Date.UTC(2026, 0, 2, 10)],
    ['epoch seconds, float, as a string', '1767348000.123', at],
    ['epoch milliseconds as a string', '1767348000123', at],
    ['epoch microseconds as a string', '1767348000123456', at],
    ['epoch nanoseconds as a string', '1767348000123456789', at],
  ])('reads %s', (_name, value, expected) => {
    expect(parse(json({ts: value, msg: 'x'})).tsMs).toBe(expected)
  })

  it.each([
    ['prose', 'yesterday'],
    ['month 13', '2026-13-01T00:00:00Z'],
    ['February 30', '2026-02-30T00:00:00Z'],
    ['February 29 of a common year', '2026-02-29T00:00:00Z'],
    ['hour 24', '2026-01-02T24:00:00Z'],
    ['minute 60', '2026-01-02T10:60:00Z'],
    ['a zone of 19 hours', '2026-01-02T10:00:00+19:00'],
    ['trailing text', '2026-01-02T10:00:00Z please'],
    ['mixed date separators', '2026-01/02T10:00:00Z'],
    ['RFC 2822', 'Fri, 02 Jan 2026 10:00:00 +0000'],
    ['an empty string', ''],
    ['a boolean', true],
    ['an array', [2026, 1, 2]],
    ['Infinity as a string', 'Infinity'],
    ['an exponent as a string', '1.767e9'],
  ])('does not take %s as a time: the Kafka time, and the field stays', (_name, value) => {
    const line = parse(json({ts: value, msg: 'x'}))
    expect(line.tsMs).toBe(KAFKA_MS)
    expect(line.attrs).toEqual({ts: value})
  })

  it('uses the Kafka timestamp when the line has no time', () => {
    expect(parse(json({msg: 'x'})).tsMs).toBe(KAFKA_MS)
  })

  it.each([
    ['zero', 0],
    ['a negative number', -5],
    ['1970-01-01T12:00Z', '1970-01-01T12:00:00Z'],
    ['a year of 0001', '0001-01-01T00:00:00Z'],
    ['a day and a second after the Kafka time', new Date(KAFKA_MS + DAY + 1000).toISOString()],
    ['the year 3000', '3000-01-01T00:00:00Z'],
    ['nanoseconds far in the future', 9e30],
  ])('falls back to the Kafka time for an implausible time (%s), keeping it in attrs.originalTime', (_name, value) => {
    const line = parse(json({time: value, msg: 'x', other: 1}))
    expect(line.tsMs).toBe(KAFKA_MS)
    expect(line.attrs).toEqual({other: 1, originalTime: value})
  })

  it('accepts a time up to a day after the Kafka time, and any time since 1970-01-02', () => {
    expect(parse(json({ts: KAFKA_MS + DAY, msg: 'x'})).tsMs).toBe(KAFKA_MS + DAY)
    expect(parse(json({ts: '1970-01-02T00:00:00Z', msg: 'x'})).tsMs).toBe(DAY)
  })

  it('judges plausibility against the Kafka time, not the clock', () => {
    const far = Date.UTC(2099, 0, 1)
    expect(parse(json({ts: far, msg: 'x'}), {timestamp: String(far - 60_000)}).tsMs).toBe(far)
  })

  it.each(['-1', '', 'soon', 'NaN'])('without a usable Kafka timestamp (%j), keeps any line time after 1970-01-02, else 0', (timestamp) => {
    expect(parse(json({ts: '3000-01-01T00:00:00Z', msg: 'x'}), {timestamp}).tsMs).toBe(Date.UTC(3000, 0, 1))
    expect(parse(json({msg: 'x'}), {timestamp}).tsMs).toBe(0)
    expect(parse('Jan  2 15:04:05 host app: x', {timestamp}).tsMs).toBe(0)
  })

  it('returns whole milliseconds', () => {
    expect(Number.isInteger(parse(json({ts: 1767348000.1234567, msg: 'x'})).tsMs)).toBe(true)
    expect(parse(json({ts: 1767348000123.9, msg: 'x'})).tsMs).toBe(1767348000123)
  })
})

describe('parseLogRecord: levels', () => {
  it.each(['level', 'severity', 'lvl', 'levelname', 'log.level'])('reads %s', (field) => {
    const line = parse(json({[field]: 'error', msg: 'x'}))
    expect(line.level).toBe('error')
    expect(line.attrs).toEqual({})
  })

  it('reads nested log.level', () => {
    expect(parse(json({log: {level: 'warn'}, msg: 'x'})).level).toBe('warn')
  })

  it('takes level first; the others stay in attrs', () => {
    expect(parse(json({severity: 'ERROR', level: 'debug', msg: 'x'}))).toMatchObject({level: 'debug', attrs: {severity: 'ERROR'}})
  })

  it('skips a level field that is neither a string nor a number', () => {
    expect(parse(json({level: {value: 1}, lvl: 'warn', msg: 'x'}))).toMatchObject({level: 'warn', attrs: {level: {value: 1}}})
  })

  it.each([
    ['trace', 'trace'], ['TRACE', 'trace'], ['Trace', 'trace'], ['trc', 'trace'], ['TRC', 'trace'], ['trce', 'trace'], ['TRAC', 'trace'],
    ['silly', 'trace'], ['finest', 'trace'], ['FINER', 'trace'], ['t', 'trace'],
    ['debug', 'debug'], ['DEBUG', 'debug'], ['dbg', 'debug'], ['dbug', 'debug'], ['DEBU', 'debug'], ['verbose', 'debug'], ['Verbose', 'debug'],
    ['fine', 'debug'], ['CONFIG', 'debug'], ['http', 'debug'], ['d', 'debug'], ['V', 'debug'],
    ['info', 'info'], ['INFO', 'info'], ['Information', 'info'], ['informational', 'info'], ['inf', 'info'], ['notice', 'info'], ['NOTICE', 'info'],
    ['default', 'info'], ['I', 'info'],
    ['warn', 'warn'], ['WARN', 'warn'], ['warning', 'warn'], ['Warning', 'warn'], ['wrn', 'warn'], ['W', 'warn'],
    ['error', 'error'], ['ERROR', 'error'], ['err', 'error'], ['ERR', 'error'], ['eror', 'error'], ['ERRO', 'error'], ['fail', 'error'],
    ['SEVERE', 'error'], ['dpanic', 'error'], ['DPANIC', 'error'], ['E', 'error'],
    ['fatal', 'fatal'], ['FATAL', 'fatal'], ['FATA', 'fatal'], ['ftl', 'fatal'], ['panic', 'fatal'], ['PANI', 'fatal'], ['pnc', 'fatal'],
    ['crit', 'fatal'], ['critical', 'fatal'], ['CRITICAL', 'fatal'], ['alert', 'fatal'], ['emerg', 'fatal'], ['emergency', 'fatal'], ['F', 'fatal'],
    [' warn ', 'warn'], ['INFO+2', 'info'], ['WARN-1', 'warn'], ['ERROR+4', 'error'], ['DEBUG-4', 'debug'],
  ])('maps the name %j to %s', (name, level) => {
    const line = parse(json({level: name, msg: 'x'}))
    expect(line.level).toBe(level)
    expect(line.attrs).toEqual({})
  })

  it.each([
    [10, 'trace'], [20, 'debug'], [30, 'info'], [40, 'warn'], [50, 'error'], [60, 'fatal'], [35, 'info'], [69, 'fatal'],
    ['30', 'info'], ['60', 'fatal'],
  ])('maps the pino/bunyan level %j to %s', (value, level) => {
    expect(parse(json({level: value, msg: 'x'})).level).toBe(level)
  })

  it.each([
    [0, 'fatal'], [1, 'fatal'], [2, 'fatal'], [3, 'error'], [4, 'warn'], [5, 'info'], [6, 'info'], [7, 'debug'], ['3', 'error'],
  ])('maps the syslog severity %j to %s', (value, level) => {
    expect(parse(json({severity: value, msg: 'x'})).level).toBe(level)
  })

  it.each([['loud'], [''], ['WARN+x'], [8], [9], [70], [100], [-1], [2.5], ['x'.repeat(40)]])(
    'keeps the unknown level %j as info, with the original in attrs.originalLevel',
    (value) => {
      expect(parse(json({level: value, msg: 'x'}))).toMatchObject({level: 'info', attrs: {originalLevel: value}})
    },
  )

  it('is info without originalLevel when the line names no level', () => {
    expect(parse(json({msg: 'x'}))).toMatchObject({level: 'info', attrs: {}})
  })
})

describe('parseLogRecord: message', () => {
  it.each(['msg', 'message', 'log', 'event'])('reads %s', (field) => {
    expect(parse(json({[field]: 'hello', level: 'info'}))).toMatchObject({message: 'hello', attrs: {}})
  })

  it('takes msg, then message, then log, then event; the others stay in attrs', () => {
    expect(parse(json({event: 'e', log: 'l', message: 'm', msg: 'the one'}))).toMatchObject({message: 'the one', attrs: {event: 'e', log: 'l', message: 'm'}})
    expect(parse(json({event: 'e', log: 'l', message: 'm'}))).toMatchObject({message: 'm', attrs: {event: 'e', log: 'l'}})
  })

  it('skips a message field that is not a string', () => {
    expect(parse(json({msg: 42, message: 'real'}))).toMatchObject({message: 'real', attrs: {msg: 42}})
  })

  it('keeps an empty message field as an empty message', () => {
    expect(parse(json({msg: '', level: 'info'})).message).toBe('')
  })
})

describe('parseLogRecord: correlation id', () => {
  it.each(['correlationId', 'correlation_id', 'traceId', 'trace_id', 'trace.id', 'requestId', 'request_id'])('reads %s', (field) => {
    expect(parse(json({[field]: 'c-1', msg: 'x'}))).toMatchObject({correlationId: 'c-1', attrs: {}})
  })

  it('reads nested trace.id', () => {
    expect(parse(json({trace: {id: 'c-2'}, msg: 'x'})).correlationId).toBe('c-2')
  })

  it('takes them in order; the others stay in attrs', () => {
    const line = parse(json({request_id: 'r', traceId: 't', correlation_id: 'c', msg: 'x'}))
    expect(line).toMatchObject({correlationId: 'c', attrs: {request_id: 'r', traceId: 't'}})
  })

  it('takes a safe integer as text', () => {
    expect(parse(json({traceId: 12345, msg: 'x'})).correlationId).toBe('12345')
  })

  it.each([
    ['empty', ''],
    ['too long for the index', 'c'.repeat(MAX_FIELD_LENGTH + 1)],
    ['an unsafe integer', 2 ** 60],
    ['an object', {a: 1}],
    ['null', null],
  ])('skips an id that is %s (it stays in attrs)', (_name, value) => {
    expect(parse(json({correlationId: value, requestId: 'next', msg: 'x'}))).toMatchObject({correlationId: 'next', attrs: {correlationId: value}})
  })

  it('is null when there is none', () => {
    expect(parse(json({msg: 'x'})).correlationId).toBeNull()
  })
})

describe('parseLogRecord: service', () => {
  it.each(['service', 'service.name', 'svc', 'app', 'name'])('reads %s', (field) => {
    expect(parse(json({[field]: 'payments', msg: 'x'}))).toMatchObject({service: 'payments', attrs: {}})
  })

  it('reads nested service.name', () => {
    expect(parse(json({service: {name: 'payments'}, msg: 'x'})).service).toBe('payments')
  })

  it('takes service, service.name, svc, app, then name; the others stay in attrs', () => {
    expect(parse(json({name: 'n', app: 'a', svc: 's', 'service.name': 'sn', msg: 'x'}))).toMatchObject({service: 'sn', attrs: {name: 'n', app: 'a', svc: 's'}})
    expect(parse(json({name: 'n', app: 'a', msg: 'x'}))).toMatchObject({service: 'a', attrs: {name: 'n'}})
  })

  it('trims the name and skips a blank or overlong one', () => {
    expect(parse(json({service: '  payments ', msg: 'x'})).service).toBe('payments')
    expect(parse(json({service: '  ', app: 'a', msg: 'x'}))).toMatchObject({service: 'a', attrs: {service: '  '}})
    expect(parse(json({service: 's'.repeat(MAX_FIELD_LENGTH + 1), msg: 'x'})).service).toBe('checkout')
  })

  it('falls back to the record key, then the service header, then unknown', () => {
    const value = json({msg: 'x'})
    expect(parse(value, {key: 'from-key', headers: {service: Buffer.from('from-header')}}).service).toBe('from-key')
    expect(parse(value, {key: null, headers: {service: Buffer.from('from-header')}}).service).toBe('from-header')
    expect(parse(value, {key: null, headers: {service: 'as-string'}}).service).toBe('as-string')
    expect(parse(value, {key: null, headers: {service: [Buffer.from('first'), Buffer.from('second')]}}).service).toBe('first')
    expect(parse(value, {key: null}).service).toBe(UNKNOWN_SERVICE)
    expect(parse(value, {key: null, headers: {Service: Buffer.from('wrong case')}}).service).toBe(UNKNOWN_SERVICE)
  })

  it('skips a key that is empty, blank or not UTF-8', () => {
    const headers = {service: Buffer.from('h')}
    expect(parse('x', {key: '', headers}).service).toBe('h')
    expect(parse('x', {key: '   ', headers}).service).toBe('h')
    expect(parse('x', {key: Buffer.from([0xff, 0xfe]), headers}).service).toBe('h')
    expect(parse('x', {key: Buffer.from([0xff]), headers: {service: Buffer.from([0xc0])}}).service).toBe(UNKNOWN_SERVICE)
  })

  it('replaces a NUL in a key or header name', () => {
    expect(parse('x', {key: 'a\0b'}).service).toBe('a\uFFFDb')
    expect(parse('x', {key: null, headers: {service: 'a\ud800'}}).service).toBe('a\uFFFD')
  })
})

describe('parseLogRecord: attrs', () => {
  it('keeps every unmapped field with its JSON type', () => {
    const attrs = {n: 1.5, b: false, z: null, list: [1, 'two', {three: 3}], nested: {deep: {er: 'yes'}}, 'dotted.key': 'v'}
    expect(parse(json({...attrs, msg: 'x', level: 'info', ts: '2026-01-02T10:00:00Z'})).attrs).toEqual(attrs)
  })

  it('keeps a __proto__ field as data, not as a prototype', () => {
    const line = parse('{"msg":"x","__proto__":{"polluted":true}}')
    expect(Object.getPrototypeOf(line.attrs)).toBe(Object.prototype)
    expect(Object.keys(line.attrs)).toEqual(['__proto__'])
    expect(JSON.stringify(line.attrs)).toBe('{"__proto__":{"polluted":true}}')
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('writes the parser notes after the line own fields', () => {
    expect(Object.keys(parse(json({a: 1, level: 'odd', ts: 0, z: 2})).attrs)).toEqual(['a', 'z', 'originalTime', 'originalLevel'])
  })
})

describe('parseLogRecord: text PostgreSQL refuses', () => {
  it('replaces \\u0000 in the message, in attrs values and in attrs keys', () => {
    const line = parse('{"msg":"a\\u0000b","k\\u0000":"v\\u0000","list":["\\u0000"]}')
    expect(line.message).toBe('a\uFFFDb')
    expect(line.attrs).toEqual({'k\uFFFD': 'v\uFFFD', list: ['\uFFFD']})
  })

  it('replaces lone surrogates and keeps real pairs', () => {
    const line = parse('{"msg":"\\ud800 and \\udc00x and \\ud83d\\ude00","service":"s\\udfff"}')
    expect(line.message).toBe('\uFFFD and \uFFFDx and \u{1F600}')
    expect(line.service).toBe('s\uFFFD')
  })

  it('replaces them in logfmt quoted values too', () => {
    expect(parse('level=info msg="a\\u0000b \\ud800"').message).toBe('a\uFFFDb \uFFFD')
  })

  it('leaves a clean line untouched when it holds other \\u escapes', () => {
    expect(parse('{"msg":"caf\\u00e9"}').message).toBe('café')
  })
})

describe('parseLogRecord: logfmt', () => {
  it('reads the issue example', () => {
    expect(parse('ts=2026-01-01T00:00:00Z level=warn msg="disk \\"almost\\" full" key=value bare')).toEqual({
      tsMs: Date.UTC(2026, 0, 1),
      service: 'checkout',
      level: 'warn',
      message: 'disk "almost" full',
      correlationId: null,
      attrs: {key: 'value', bare: true},
    })
  })

  it.each([
    ['go-kit', 'ts=2026-01-02T10:00:00.123Z caller=main.go:12 level=error err="connection refused" msg="dial failed"', 'error', 'dial failed', {caller: 'main.go:12', err: 'connection refused'}],
    ['logrus text', 'time="2026-01-02T10:00:00.123Z" level=info msg="Started server" port=8080', 'info', 'Started server', {port: '8080'}],
    ['log15', 't=2026-01-02T10:00:00.123+0000 lvl=eror msg="write failed" module=disk', 'error', 'write failed', {module: 'disk'}],
    ['slog TextHandler', 'time=2026-01-02T10:00:00.123Z level=WARN+2 msg=slow duration=1.5s', 'warn', 'slow', {duration: '1.5s'}],
  ])('reads %s', (_name, value, level, message, attrs) => {
    expect(parse(value)).toMatchObject({tsMs: Date.UTC(2026, 0, 2, 10, 0, 0, 123), level, message, attrs})
  })

  it('maps the same fields as JSON: service, correlation id, message aliases', () => {
    expect(parse('level=debug service.name=inventory trace_id=abc message="hi there"')).toMatchObject({
      service: 'inventory',
      correlationId: 'abc',
      message: 'hi there',
      level: 'debug',
      attrs: {},
    })
  })

  it('resolves escapes in quoted values', () => {
    expect(parse('msg="tab\\there\\nnew \\\\ back \\/ caf\\u00e9 \\q" level=info').message).toBe('tab\there\nnew \\ back / café \\q')
  })

  it('takes the last of duplicate keys, empty values and = inside an unquoted value', () => {
    expect(parse('level=info err=a err=b empty= url=/x?a=b msg=m').attrs).toEqual({err: 'b', empty: '', url: '/x?a=b'})
  })

  it('uses the whole line as the message when there is no msg', () => {
    expect(parse('level=warn user=bob action=login')).toMatchObject({message: 'level=warn user=bob action=login', level: 'warn'})
  })

  it.each([
    ['more bare words than pairs', 'user=bob logged in', 'info'],
    ['an unterminated quote (a cut line)', 'ts=2026-01-02T10:00:00Z level=error msg="disk ful', 'error'],
    ['text right after a closing quote', 'level=warn msg="a"b', 'warn'],
    ['a key made of a quote', 'level=warn "odd"=1', 'warn'],
    ['a newline outside quotes', 'level=warn msg=a\nnext=line', 'warn'],
    ['a line that starts with a word', 'hello level=fatal', 'fatal'],
  ])('reads a line with %s as plain text', (_name, value, level) => {
    expect(parse(value)).toEqual({tsMs: KAFKA_MS, service: 'checkout', level, message: value, correlationId: null, attrs: {}})
  })
})

describe('parseLogRecord: plain text timestamps', () => {
  it.each([
    ['ISO-8601', '2026-01-02T10:00:00.123Z INFO ready', Date.UTC(2026, 0, 2, 10, 0, 0, 123)],
    ['ISO-8601 with an offset', '2026-01-02T11:00:00.123+01:00 INFO ready', Date.UTC(2026, 0, 2, 10, 0, 0, 123)],
    ['zone-less (UTC)', '2026-01-02 10:00:00 INFO ready', Date.UTC(2026, 0, 2, 10)],
    ['Python logging', '2026-01-02 10:00:00,123 - app - ERROR - boom', Date.UTC(2026, 0, 2, 10, 0, 0, 123)],
    ['Go log and nginx', '2026/01/02 10:00:00 [error] 12#0: *1 open() failed', Date.UTC(2026, 0, 2, 10)],
    ['PostgreSQL', '2026-01-02 10:00:00.123 UTC [812] ERROR:  relation "x" does not exist', Date.UTC(2026, 0, 2, 10, 0, 0, 123)],
    ['bracketed', '[2026-01-02 10:00:00] production.ERROR: oops', Date.UTC(2026, 0, 2, 10)],
    ['env_logger', '[2026-01-02T10:00:00Z WARN  app::db] slow', Date.UTC(2026, 0, 2, 10)],
    ['syslog, space-padded day', 'Jan  2 10:00:00 host sshd[12]: accepted', Date.UTC(2026, 0, 2, 10)],
    ['syslog, two-digit day', 'Dec 31 23:00:00 host cron[1]: run', Date.UTC(2025, 11, 31, 23)],
    ['syslog with a fraction', 'Jan  2 10:00:00.250 host app: x', Date.UTC(2026, 0, 2, 10, 0, 0, 250)],
    ['syslog with a priority', '<11>Jan  2 10:00:00 host app[1]: failed', Date.UTC(2026, 0, 2, 10)],
    ['RFC 5424', '<165>1 2026-01-02T10:00:00.003Z host app 12 ID47 - msg', Date.UTC(2026, 0, 2, 10, 0, 0, 3)],
    ['klog', 'I0102 10:00:00.123456   12 main.go:10] started', Date.UTC(2026, 0, 2, 10, 0, 0, 123)],
  ])('reads %s', (_name, value, expected) => {
    const line = parse(value)
    expect(line.tsMs).toBe(expected)
    expect(line.message).toBe(value)
  })

  it('gives syslog and klog the Kafka year, or the year before when that is over a day ahead', () => {
    const newYear = String(Date.UTC(2026, 0, 1, 0, 0, 5))
    expect(parse('Dec 31 23:59:59 host app: x', {timestamp: newYear}).tsMs).toBe(Date.UTC(2025, 11, 31, 23, 59, 59))
    expect(parse('Jan  1 00:00:01 host app: x', {timestamp: newYear}).tsMs).toBe(Date.UTC(2026, 0, 1, 0, 0, 1))
    expect(parse('E1231 23:59:59.000000 1 a.go:1] x', {timestamp: newYear}).tsMs).toBe(Date.UTC(2025, 11, 31, 23, 59, 59))
    // Up to a day ahead of Kafka is still this year.
    expect(parse('Jan  1 23:00:00 host app: x', {timestamp: newYear}).tsMs).toBe(Date.UTC(2026, 0, 1, 23))
    expect(parse('Jan  2 00:00:06 host app: x', {timestamp: newYear}).tsMs).toBe(Date.UTC(2025, 0, 2, 0, 0, 6))
  })

  it('has no time for February 29 when the inferred year has none', () => {
    expect(parse('Feb 29 10:00:00 host app: x', {timestamp: String(Date.UTC(2026, 2, 1))}).tsMs).toBe(Date.UTC(2026, 2, 1))
    expect(parse('Feb 29 10:00:00 host app: x', {timestamp: String(Date.UTC(2024, 2, 1))}).tsMs).toBe(Date.UTC(2024, 1, 29, 10))
  })

  it('falls back to the Kafka time for an implausible leading timestamp, keeping it in attrs.originalTime', () => {
    expect(parse('2099-01-01T00:00:00Z ERROR from the future')).toMatchObject({
      tsMs: KAFKA_MS,
      level: 'error',
      attrs: {originalTime: '2099-01-01T00:00:00Z'},
    })
  })

  it.each([
    ['no timestamp', 'something happened'],
    ['a timestamp later in the line', 'at 2026-01-02T10:00:00Z something happened'],
    ['a date without a time', '2026-01-02 something happened'],
    ['a bad month name', 'Foo  2 10:00:00 host app: x'],
    ['an impossible time', '2026-01-02T25:00:00Z x'],
    ['a klog-like word', 'I0102 is not a time'],
  ])('uses the Kafka time for %s', (_name, value) => {
    expect(parse(value)).toMatchObject({tsMs: KAFKA_MS, attrs: {}})
  })
})

describe('parseLogRecord: plain text levels', () => {
  it.each([
    ['ERROR something', 'error'],
    ['WARN something', 'warn'],
    ['WARNING: disk', 'warn'],
    ['[warn] something', 'warn'],
    ['[ERROR] something', 'error'],
    ['<error> something', 'error'],
    ['(debug) something', 'debug'],
    ['error: something', 'error'],
    ['Warning: something', 'warn'],
    ['panic: runtime error: index out of range', 'fatal'],
    ['fail: Microsoft.AspNetCore[1] boom', 'error'],
    ['crit: Microsoft.Hosting[0] boom', 'fatal'],
    ['ERROR:root:division by zero', 'error'],
    ['CRITICAL:app:out of memory', 'fatal'],
    ['2026-01-02 10:00:00 error connecting', 'error'],
    ['2026-01-02 10:00:00 Info ready', 'info'],
    ['2026-01-02 10:00:00,123 - app - ERROR - boom', 'error'],
    ['2026-01-02 10:00:00.123 UTC [812] ERROR:  relation', 'error'],
    ['2026-01-02T10:00:00Z  INFO 1234 --- [main] o.s.b.StartupInfoLogger : Starting', 'info'],
    ['2026/01/02 10:00:00 [error] 12#0: open() failed', 'error'],
    ['[2026-01-02 10:00:00] production.ERROR: oops', 'error'],
    ['[2026-01-02T10:00:00Z WARN  app::db] slow', 'warn'],
    ['10:00:00 WRN slow', 'warn'],
    ['| DEBUG | x', 'debug'],
    ['I0102 10:00:00.000000 1 a.go:1] x', 'info'],
    ['W0102 10:00:00.000000 1 a.go:1] x', 'warn'],
    ['E0102 10:00:00.000000 1 a.go:1] x', 'error'],
    ['F0102 10:00:00.000000 1 a.go:1] x', 'fatal'],
    ['<0>kernel panic', 'fatal'],
    ['<3>something failed', 'error'],
    ['<4>Jan  2 10:00:00 host app: x', 'warn'],
    ['<13>Jan  2 10:00:00 host app: x', 'info'],
    ['<15>1 2026-01-02T10:00:00Z host app - - - x', 'debug'],
    ['<3> INFO the priority wins', 'error'],
    ['something level=warn happened', 'warn'],
    ['ts=2026 lvl=eror msg="cut', 'error'],
    ['severity="ERROR" x', 'error'],
    ['{"level":"error","msg":"x', 'error'],
    ['{"ts":1,"severity":"WARNING","message":"cut', 'warn'],
    ['{"log": {"level" : "fatal", "x', 'fatal'],
    ['{"level":50,"msg":"cut', 'error'],
  ])('reads %j as %s', (value, level) => {
    expect(parse(value).level).toBe(level)
  })

  it.each([
    ['no error here'],
    ['the error was handled'],
    ['Errors: 0'],
    ['error connecting (lower case, no timestamp)'],
    ['Alert sent to the user'],
    ['1 2 3 4 ERROR (too far in)'],
    ['2026-01-02 10:00:00 user saw an error'],
    ['I think so'],
    ['loglevel=error is not a level pair'],
    ['{"level":"err\\"or","msg":"escaped, cut'],
    ['{"level":3'],
    ['line one\nERROR on the second line'],
    ['[1234] [5678] [abcd] [efgh] ERROR'],
  ])('leaves %j at info', (value) => {
    expect(parse(value)).toMatchObject({level: 'info', attrs: {}})
  })

  it('keeps an unknown level pair as info with attrs.originalLevel', () => {
    expect(parse('x level=loud y')).toMatchObject({level: 'info', attrs: {originalLevel: 'loud'}})
  })
})

describe('parseLogRecord: truncated and non-object JSON', () => {
  it.each([
    ['cut in a string', '{"level":"error","msg":"x'],
    ['cut after a comma', '{"level":"warn",'],
    ['only the opening brace', '{'],
    ['a closing brace but invalid', '{"msg": "x",}'],
    ['two objects on one line', '{"msg":"a"} {"msg":"b"}'],
    ['an array', '[{"level":"error","msg":"x"}]'],
    ['a number', '42'],
    ['a string', '"ERROR quoted"'],
    ['null', 'null'],
  ])('stores JSON %s as plain text', (_name, value) => {
    const line = parse(value)
    expect(line).toMatchObject({tsMs: KAFKA_MS, service: 'checkout', message: value, correlationId: null})
  })

  it('stores JSON nested deeper than jsonb takes as plain text', () => {
    const value = `{"level":"error","deep":${'['.repeat(600)}${']'.repeat(600)}}`
    expect(parse(value)).toMatchObject({message: value, attrs: {}, level: 'error'})
  })
})

describe('logDecoder', () => {
  it('decodes with the given limit', () => {
    const decode = logDecoder(10)
    expect(decode(record('ERROR ok'))).toMatchObject({ok: true, value: {level: 'error'}})
    expect(decode(record('ERROR too long'))).toMatchObject({ok: false, errorClass: 'oversize'})
  })
})

describe('log-time', () => {
  it.each([
    [1767348000, Date.UTC(2026, 0, 2, 10)],
    [99_999_999_999, 99_999_999_999_000],
    [100_000_000_000, 100_000_000_000],
    [99_999_999_999_999, 99_999_999_999_999],
    [100_000_000_000_000, 100_000_000_000],
    [1e17, 1e11],
    [1767225600123000000, 1767225600123],
    [Number('1767225600123456789'), 1767225600123],
    [Number.NaN, Number.NaN],
    [Number.POSITIVE_INFINITY, Number.NaN],
  ])('epochToMs(%d) is %d (magnitude boundaries)', (value, expected) => {
    expect(epochToMs(value)).toBe(expected)
  })
})

// ---------------------------------------------------------------------------------------------
// Properties: over arbitrary input the parser never throws, always classifies, and what it
// returns is a row PostgreSQL takes.

const anyBytes = fc.uint8Array({maxLength: 400}).map((bytes) => Buffer.from(bytes))
/** UTF-16 code units in any order, lone surrogates included. */
const anyUnits = fc.string({unit: fc.integer({min: 0, max: 0xffff}).map((c) => String.fromCharCode(c)), maxLength: 200})
const anyText = fc.oneof(fc.string({unit: 'binary', maxLength: 300}), fc.string({unit: 'grapheme-ascii', maxLength: 300}), anyUnits)
const knownNames = fc.constantFrom(
  'ts', 'time', 'timestamp', '@timestamp', 't', 'level', 'severity', 'lvl', 'levelname', 'log.level', 'log', 'msg', 'message',
  'event', 'correlationId', 'correlation_id', 'traceId', 'trace_id', 'trace.id', 'trace', 'requestId', 'request_id', 'service',
  'service.name', 'svc', 'app', 'name', '__proto__', 'originalTime', 'originalLevel',
)
const fieldValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({maxDepth: 3}),
  anyUnits,
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, 30, 7, 1767348000, 1767348000123, '2026-01-02T10:00:00Z', 'WARN', 'crit', '', ' ', 1e300),
  fc.dictionary(fc.oneof(knownNames, anyUnits), fc.oneof(anyUnits, fc.integer()), {maxKeys: 3}),
)
const jsonLine = fc.dictionary(fc.oneof(knownNames, anyUnits), fieldValue, {maxKeys: 10}).map((object) => JSON.stringify(object))
const logfmtLine = fc
  .array(fc.tuple(fc.oneof(knownNames, fc.string({unit: 'grapheme-ascii', minLength: 1, maxLength: 8})), fc.oneof(anyUnits, fc.constant(''))), {maxLength: 8})
  .map((pairs) => pairs.map(([k, v]) => `${k}=${v.length % 2 ? JSON.stringify(v) : v}`).join(' '))
const kafkaTimestamp = fc.oneof(
  fc.integer({min: 0, max: 4e12}).map(String),
  fc.constantFrom('-1', '', 'abc', '1e400', String(KAFKA_MS)),
  fc.string({maxLength: 20}),
)
const header = fc.oneof(fc.constant(undefined), anyUnits, anyBytes, fc.array(fc.oneof(anyUnits, anyBytes), {maxLength: 2}))
const anyRecord = fc.record({
  value: fc.oneof(
    {weight: 1, arbitrary: fc.constant(null)},
    {weight: 3, arbitrary: anyBytes},
    {weight: 3, arbitrary: anyText.map((text) => Buffer.from(text))},
    {weight: 4, arbitrary: jsonLine.map((text) => Buffer.from(text))},
    {weight: 2, arbitrary: logfmtLine.map((text) => Buffer.from(text))},
    {weight: 1, arbitrary: jsonLine.chain((text) => fc.nat(text.length).map((cut) => Buffer.from(text.slice(0, cut))))},
  ),
  key: fc.oneof(fc.constant(null), anyBytes, anyUnits.map((text) => Buffer.from(text))),
  headers: fc.record({service: header}, {requiredKeys: []}),
  timestamp: kafkaTimestamp,
})

function sourceOf(input: {value: Buffer | null; key: Buffer | null; headers: IHeaders; timestamp: string}): SourceRecord {
  return {topic: 'logs', partition: 1, offset: '42', ...input}
}

function assertStorable(outcome: DecodeOutcome<LogLine>): void {
  if (!outcome.ok) {
    expect(ERROR_CLASSES).toContain(outcome.errorClass)
    expect(outcome.message).toMatch(/\.$/)
    return
  }
  const line = outcome.value
  expect(LOG_LINE_LEVELS).toContain(line.level)
  expect(Number.isFinite(line.tsMs) && Number.isInteger(line.tsMs)).toBe(true)
  expect(Number.isNaN(new Date(line.tsMs).getTime())).toBe(false)
  expect(typeof line.service).toBe('string')
  expect(line.service.length).toBeGreaterThan(0)
  expect(line.service.length).toBeLessThanOrEqual(MAX_FIELD_LENGTH)
  expect(typeof line.message).toBe('string')
  if (line.correlationId !== null) expect(line.correlationId.length).toBeLessThanOrEqual(MAX_FIELD_LENGTH)
  expect(Object.getPrototypeOf(line.attrs)).toBe(Object.prototype)
  expect(findUnstorableText({service: line.service, message: line.message, correlationId: line.correlationId, attrs: line.attrs})).toBeUndefined()
  // What the store sends as the jsonb parameter must be JSON without \u0000 or lone surrogates.
  const attrsJson = JSON.stringify(line.attrs)
  // (An escaped backslash before `u0000` is harmless text: count the backslashes.)
  expect(attrsJson).not.toMatch(/(?:^|[^\\])(?:\\\\)*\\u(?:0000|d[89a-f])/i)
}

describe('parseLogRecord: properties', () => {
  it('never throws, always classifies, and returns storable text, over arbitrary records', () => {
    fc.assert(
      fc.property(anyRecord, (input) => {
        assertStorable(parseLogRecord(sourceOf(input), {maxBytes: 300}))
      }),
      {numRuns: 3000},
    )
  })

  it('is deterministic: the same record gives the same result', () => {
    fc.assert(
      fc.property(anyRecord, (input) => {
        const first = parseLogRecord(sourceOf(input), {maxBytes: MAX})
        const copy = sourceOf({...input, value: input.value && Buffer.from(input.value), key: input.key && Buffer.from(input.key)})
        expect(parseLogRecord(copy, {maxBytes: MAX})).toStrictEqual(first)
      }),
      {numRuns: 1000},
    )
  })

  it('stores every UTF-8 text without NULs as a log line, message and all', () => {
    fc.assert(
      fc.property(fc.string({unit: 'binary', maxLength: 200}).filter((text) => !text.includes('\0')), (text) => {
        const outcome = parseLogRecord(record(text), {maxBytes: MAX})
        expect(outcome.ok).toBe(true)
      }),
      {numRuns: 2000},
    )
  })

  it('reads back any time written as ISO-8601, with or without an offset', () => {
    fc.assert(
      fc.property(fc.integer({min: 86_400_000, max: KAFKA_MS}), fc.integer({min: -14 * 60, max: 14 * 60}), (ms, offset) => {
        const iso = new Date(ms).toISOString()
        expect(isoToMs(iso)).toBe(ms)
        expect(isoToMs(iso.slice(0, -1))).toBe(ms)
        const local = new Date(ms + offset * 60_000).toISOString().slice(0, -1)
        const zone = `${offset < 0 ? '-' : '+'}${String(Math.floor(Math.abs(offset) / 60)).padStart(2, '0')}:${String(Math.abs(offset) % 60).padStart(2, '0')}`
        expect(isoToMs(local + zone)).toBe(ms)
        expect(parse(json({time: local + zone, msg: 'x'})).tsMs).toBe(ms)
      }),
    )
  })

  it('reads back any epoch in seconds, milliseconds, microseconds and nanoseconds', () => {
    fc.assert(
      fc.property(fc.integer({min: 100_000_000_000, max: KAFKA_MS}), (ms) => {
        expect(parse(json({ts: ms, msg: 'x'})).tsMs).toBe(ms)
        expect(parse(json({ts: ms / 1000, msg: 'x'})).tsMs).toBe(ms)
        expect(parse(json({ts: `${ms}000`, msg: 'x'})).tsMs).toBe(ms)
        expect(parse(json({ts: `${ms}000000`, msg: 'x'})).tsMs).toBe(ms)
      }),
    )
  })

  it('logfmt: reads back the pairs an encoder wrote', () => {
    const key = fc.string({unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz_.-@/0123456789'.split('')), minLength: 1, maxLength: 10})
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(key, anyUnits), {selector: ([k]) => k, minLength: 1, maxLength: 6}), (pairs) => {
        const line = pairs.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')
        expect(parseLogfmt(line)).toEqual(Object.fromEntries(pairs))
      }),
    )
  })
})
