/**
 * Kafka record → one row of pipeline.logs (time, service, level, message, correlation id, attrs).
 * Pure, deterministic (never reads the clock) and on the logs worker's hot path: one shared fatal
 * TextDecoder, at most one JSON.parse, character scanners instead of regular expressions.
 *
 * Almost everything is a log line: JSON objects in the common dialects (pino, bunyan, winston,
 * zap, logrus, slog, ECS, structlog, Google Cloud), logfmt, and anything else as plain text —
 * truncated JSON included. Only a tombstone, bytes that are not UTF-8, binary data and values
 * over the size limit are dead letters. What PostgreSQL cannot store (NUL, lone surrogates) is
 * replaced by U+FFFD, so the sink never refuses a row this parser produced.
 */
import {findUnstorableText, jsonDepthExceeds, MAX_FIELD_LENGTH} from '../records/envelope.js'
import type {DecodeOutcome, RecordDecoder, SourceRecord} from '../workers/types.js'
import {levelFromValue, levelWordIn, SYSLOG_LEVELS} from './log-level.js'
import type {LogLine, LogLineLevel} from './log-line.js'
import {isPlausibleTime, textTimestampAt, timeFromValue} from './log-time.js'
import {parseLogfmt} from './logfmt.js'

export interface LogParseOptions {
  /** Values longer than this are dead letters (`oversize`) before any parsing. */
  maxBytes: number
}

/**
 * Field names, in order of precedence: the first that holds a usable value is mapped to its
 * column and leaves attrs; the others stay in attrs under their own names. Dotted names are
 * looked up both as one key (`"log.level"`) and nested (`{"log": {"level": …}}`).
 */
export const TIME_FIELDS = ['ts', 'time', 'timestamp', '@timestamp', 't'] as const
export const LEVEL_FIELDS = ['level', 'severity', 'lvl', 'levelname', 'log.level'] as const
/** `event` is structlog's message; it is only taken when none of the others is there. */
export const MESSAGE_FIELDS = ['msg', 'message', 'log', 'event'] as const
export const CORRELATION_FIELDS = ['correlationId', 'correlation_id', 'traceId', 'trace_id', 'trace.id', 'requestId', 'request_id'] as const
export const SERVICE_FIELDS = ['service', 'service.name', 'svc', 'app', 'name'] as const

/** The service of a line that names none, has no key and no `service` header. */
export const UNKNOWN_SERVICE = 'unknown'

// fatal: malformed UTF-8 throws instead of becoming U+FFFD, so it is a decode error. It also
// drops a leading byte order mark.
const utf8 = new TextDecoder('utf-8', {fatal: true})

/** The logs worker's decode step. */
export function logDecoder(maxBytes: number): RecordDecoder<LogLine> {
  const options: LogParseOptions = {maxBytes}
  return (record) => parseLogRecord(record, options)
}

export function parseLogRecord(record: SourceRecord, options: LogParseOptions): DecodeOutcome<LogLine> {
  try {
    return parseValue(record, options.maxBytes)
  } catch (error) {
    // Every known failure is a result below; this keeps an unforeseen one a dead letter, not a crash.
    return {ok: false, errorClass: 'decode', message: `the value could not be parsed: ${sentence(error)}`}
  }
}

function parseValue(record: SourceRecord, maxBytes: number): DecodeOutcome<LogLine> {
  const value = record.value
  if (value === null || value === undefined) return {ok: false, errorClass: 'decode', message: 'the record has no value (a tombstone).'}
  if (value.length > maxBytes) {
    return {ok: false, errorClass: 'oversize', message: `the value is ${value.length} bytes, over the limit of ${maxBytes}.`}
  }
  let text: string
  try {
    text = utf8.decode(value)
  } catch {
    return {ok: false, errorClass: 'decode', message: 'the value is not valid UTF-8 text.'}
  }
  // Trailing NULs are C-string padding; the line ends where they and the newline start.
  text = trimLineEnd(text, true)
  if (text.includes('\0')) {
    if (looksBinary(text)) {
      return {ok: false, errorClass: 'decode', message: 'the value holds NUL bytes among many control characters: binary data, not a log line.'}
    }
    // A stray NUL in text (a C bug, a bad join) costs that character, not the line.
    text = text.replaceAll('\0', '\uFFFD')
  }
  const kafkaMs = kafkaTime(record.timestamp)
  const line = fromJson(text, record, kafkaMs) ?? fromLogfmt(text, record, kafkaMs) ?? fromPlainText(text, record, kafkaMs)
  return {ok: true, value: line}
}

/** Text whose NULs come with more than one control character in eight is binary (or UTF-16). */
function looksBinary(text: string): boolean {
  let control = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    // Tab, newline, carriage return and ESC (colour codes) are ordinary in log text.
    if (c < 32 && c !== 9 && c !== 10 && c !== 13 && c !== 27) control++
  }
  return control * 8 > text.length
}

function fromJson(text: string, record: SourceRecord, kafkaMs: number): LogLine | undefined {
  let start = 0
  while (start < text.length && isJsonSpace(text.charCodeAt(start))) start++
  if (text.charCodeAt(start) !== 123) return undefined
  let end = text.length - 1
  while (end > start && isJsonSpace(text.charCodeAt(end))) end--
  // A line cut short cannot parse: skip the exception (and its cost) and read it as plain text.
  if (text.charCodeAt(end) !== 125) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined
  // Too deep for JSON.stringify and jsonb to take back: keep the line as text instead.
  if (jsonDepthExceeds(text)) return undefined
  // NUL and lone surrogates can only arrive in JSON text as \u escapes; skip the walk without one.
  if (text.includes('\\u') && findUnstorableText(parsed) !== undefined) parsed = storable(parsed)
  return fromFields(parsed as Record<string, unknown>, text, record, kafkaMs)
}

function fromLogfmt(text: string, record: SourceRecord, kafkaMs: number): LogLine | undefined {
  const fields = parseLogfmt(text)
  if (fields === undefined) return undefined
  const clean = text.includes('\\u') ? (storable(fields) as Record<string, unknown>) : fields
  return fromFields(clean, text, record, kafkaMs)
}

/** Maps the fields of a JSON or logfmt line; `line` is the message when no field holds one. */
function fromFields(fields: Record<string, unknown>, line: string, record: SourceRecord, kafkaMs: number): LogLine {
  let timeField: string | undefined
  let tsMs = Number.NaN
  for (const name of TIME_FIELDS) {
    const value = fields[name]
    if (value === undefined) continue
    const ms = timeFromValue(value)
    if (!Number.isNaN(ms)) {
      timeField = name
      tsMs = ms
      break
    }
  }

  let levelField: string | undefined
  let levelNested = false
  let levelValue: string | number | undefined
  for (const name of LEVEL_FIELDS) {
    const value = fields[name]
    if (typeof value === 'string' || typeof value === 'number') {
      levelField = name
      levelValue = value
      break
    }
  }
  if (levelField === undefined) {
    const log = fields.log
    if (isPlainObject(log) && (typeof log.level === 'string' || typeof log.level === 'number')) {
      levelNested = true
      levelValue = log.level
    }
  }

  let messageField: string | undefined
  let message = line
  for (const name of MESSAGE_FIELDS) {
    const value = fields[name]
    if (typeof value === 'string') {
      messageField = name
      message = trimLineEnd(value, false)
      break
    }
  }

  let correlationField: string | undefined
  let correlationNested = false
  let correlationId: string | null = null
  for (const name of CORRELATION_FIELDS) {
    const id = correlationFrom(fields[name])
    if (id !== undefined) {
      correlationField = name
      correlationId = id
      break
    }
    if (name === 'trace.id') {
      const trace = fields.trace
      const nested = isPlainObject(trace) ? correlationFrom(trace.id) : undefined
      if (nested !== undefined) {
        correlationNested = true
        correlationId = nested
        break
      }
    }
  }

  let serviceField: string | undefined
  let serviceNested = false
  let service: string | undefined
  for (const name of SERVICE_FIELDS) {
    service = nameFrom(fields[name])
    if (service !== undefined) {
      serviceField = name
      break
    }
    if (name === 'service.name') {
      const parent = fields.service
      service = isPlainObject(parent) ? nameFrom(parent.name) : undefined
      if (service !== undefined) {
        serviceNested = true
        break
      }
    }
  }

  const attrs: Record<string, unknown> = {}
  for (const key in fields) {
    if (key === timeField || key === levelField || key === messageField || key === correlationField || key === serviceField) continue
    let value = fields[key]
    if (levelNested && key === 'log') value = without(value, 'level')
    else if (serviceNested && key === 'service') value = without(value, 'name')
    else if (correlationNested && key === 'trace') value = without(value, 'id')
    if (value !== undefined) setAttr(attrs, key, value)
  }

  if (!Number.isNaN(tsMs) && !isPlausibleTime(tsMs, kafkaMs)) {
    setAttr(attrs, 'originalTime', fields[timeField!])
    tsMs = Number.NaN
  }
  let level: LogLineLevel = 'info'
  if (levelValue !== undefined) {
    const known = levelFromValue(levelValue)
    if (known) level = known
    else setAttr(attrs, 'originalLevel', levelValue)
  }
  return {
    tsMs: Number.isNaN(tsMs) ? fallbackTime(kafkaMs) : tsMs,
    service: service ?? serviceOfRecord(record),
    level,
    message,
    correlationId,
    attrs,
  }
}

/**
 * Plain text: the whole line is the message. A leading syslog priority (`<11>`, RFC 3164 and
 * 5424), a leading timestamp (optionally in brackets) and a level word are recognised where
 * present; failing a level word, a `level=` / `lvl=` / `severity=` pair or, in a JSON line cut
 * short, a `"level":"…"` member anywhere in the line gives the level.
 */
function fromPlainText(line: string, record: SourceRecord, kafkaMs: number): LogLine {
  const attrs: Record<string, unknown> = {}
  const n = line.length
  let p = 0
  while (p < n && isBlank(line.charCodeAt(p))) p++
  let level: LogLineLevel | undefined
  if (line.charCodeAt(p) === 60) {
    let q = p + 1
    let priority = 0
    while (q < n && q < p + 4 && isDigit(line.charCodeAt(q))) priority = priority * 10 + line.charCodeAt(q++) - 48
    if (q > p + 1 && line.charCodeAt(q) === 62 && priority <= 191) {
      level = SYSLOG_LEVELS[priority % 8]
      p = q + 1
      // RFC 5424's version after the priority: `<34>1 2026-…`.
      if (line.charCodeAt(p) === 49 && line.charCodeAt(p + 1) === 32) p += 2
    }
  }
  const at = line.charCodeAt(p) === 91 ? p + 1 : p
  const stamp = textTimestampAt(line, at, kafkaMs)
  let tsMs = Number.NaN
  if (stamp) {
    level ??= stamp.level
    p = stamp.end
    if (!Number.isNaN(stamp.ms)) {
      if (isPlausibleTime(stamp.ms, kafkaMs)) tsMs = stamp.ms
      else setAttr(attrs, 'originalTime', line.slice(at, stamp.end))
    }
  }
  level ??= levelWordIn(line, p, stamp !== undefined)
  if (level === undefined) {
    const named = levelNamedIn(line)
    if (named !== undefined) {
      level = levelFromValue(named)
      if (level === undefined) setAttr(attrs, 'originalLevel', named)
    }
  }
  return {
    tsMs: Number.isNaN(tsMs) ? fallbackTime(kafkaMs) : tsMs,
    service: serviceOfRecord(record),
    level: level ?? 'info',
    message: line,
    correlationId: null,
    attrs,
  }
}

const TEXT_LEVEL_PAIRS = ['level=', 'lvl=', 'severity='] as const
const TEXT_LEVEL_MEMBERS = ['"level"', '"severity"', '"lvl"', '"levelname"', '"log.level"'] as const

/** The value of a level pair or JSON member found in plain text (a logfmt or JSON line cut short). */
function levelNamedIn(line: string): string | undefined {
  for (const pair of TEXT_LEVEL_PAIRS) {
    let at = line.indexOf(pair)
    // Only at a word start: `loglevel=` is something else.
    while (at > 0 && !isBlank(line.charCodeAt(at - 1))) at = line.indexOf(pair, at + 1)
    if (at < 0) continue
    let start = at + pair.length
    let end: number
    if (line.charCodeAt(start) === 34) {
      end = line.indexOf('"', ++start)
      if (end < 0) continue
    } else {
      end = start
      while (end < line.length && line.charCodeAt(end) > 32) end++
    }
    if (end > start) return line.slice(start, end)
  }
  if (line.trimStart().charCodeAt(0) !== 123) return undefined
  for (const member of TEXT_LEVEL_MEMBERS) {
    const at = line.indexOf(member)
    if (at < 0) continue
    let p = at + member.length
    while (isJsonSpace(line.charCodeAt(p))) p++
    if (line.charCodeAt(p++) !== 58) continue
    while (isJsonSpace(line.charCodeAt(p))) p++
    if (line.charCodeAt(p) === 34) {
      const end = line.indexOf('"', p + 1)
      const backslash = line.indexOf('\\', p + 1)
      if (end > p + 1 && (backslash < 0 || backslash > end)) return line.slice(p + 1, end)
    } else {
      let end = p
      while (isDigit(line.charCodeAt(end))) end++
      // A number at the very end may have lost digits to the cut: `"level":3` of `"level":30`.
      const next = line.charCodeAt(end)
      if (end > p && (next === 44 || next === 125 || isJsonSpace(next))) return line.slice(p, end)
    }
  }
  return undefined
}

/** The record's key, else its `service` header, else `unknown`. */
function serviceOfRecord(record: SourceRecord): string {
  const key = record.key
  if (key && key.length > 0 && key.length <= 4 * MAX_FIELD_LENGTH) {
    const name = nameFromBytes(key)
    if (name !== undefined) return name
  }
  const header = record.headers?.service
  const first = Array.isArray(header) ? header[0] : header
  if (first !== undefined && first !== null) {
    const name = typeof first === 'string' ? nameFrom(first) : nameFromBytes(first)
    if (name !== undefined) return name
  }
  return UNKNOWN_SERVICE
}

function nameFromBytes(bytes: Buffer): string | undefined {
  try {
    return nameFrom(utf8.decode(bytes))
  } catch {
    return undefined
  }
}

/**
 * A service name: a string, trimmed, not empty, at most MAX_FIELD_LENGTH long (the column is
 * indexed and PostgreSQL refuses a B-tree entry above ~2.7 kB).
 */
function nameFrom(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined
  const name = value.trim()
  if (name.length === 0 || name.length > MAX_FIELD_LENGTH) return undefined
  return storableText(name)
}

/** A correlation id: a non-empty string within MAX_FIELD_LENGTH (indexed too), or a safe integer. */
function correlationFrom(value: unknown): string | undefined {
  if (typeof value === 'string') return value.length > 0 && value.length <= MAX_FIELD_LENGTH ? value : undefined
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value)
  return undefined
}

/** The Kafka timestamp in milliseconds, or NaN when the record has none (-1) or it is garbled. */
function kafkaTime(timestamp: string): number {
  // Number('') and Number(' ') are 0, not "no timestamp".
  if (typeof timestamp !== 'string' || !isDigit(timestamp.charCodeAt(0))) return Number.NaN
  const ms = Number(timestamp)
  return Number.isFinite(ms) && ms >= 0 ? Math.floor(ms) : Number.NaN
}

/** The time of a line without a usable one of its own: Kafka's, or the epoch when there is none. */
function fallbackTime(kafkaMs: number): number {
  return Number.isNaN(kafkaMs) ? 0 : kafkaMs
}

/** `value` without its `child` member; undefined when nothing else is left. */
function without(value: unknown, child: string): Record<string, unknown> | undefined {
  const source = value as Record<string, unknown>
  let rest: Record<string, unknown> | undefined
  for (const key in source) {
    if (key === child) continue
    rest ??= {}
    setAttr(rest, key, source[key])
  }
  return rest
}

/** A copy of a JSON value with NUL and lone surrogates replaced by U+FFFD, in keys too. */
function storable(value: unknown): unknown {
  if (typeof value === 'string') return storableText(value)
  if (typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) return value.map(storable)
  const out: Record<string, unknown> = {}
  for (const key in value) setAttr(out, storableText(key), storable((value as Record<string, unknown>)[key]))
  return out
}

function storableText(text: string): string {
  const clean = text.includes('\0') ? text.replaceAll('\0', '\uFFFD') : text
  return isWellFormed(clean) ? clean : toWellFormed(clean)
}

// `__proto__` is an ordinary key in a log line, not a prototype to set.
function setAttr(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, {value, enumerable: true, writable: true, configurable: true})
  else target[key] = value
}

/** Drops the line end: CR and LF, and with `nul` also NUL padding after them or before. */
function trimLineEnd(text: string, nul: boolean): string {
  let end = text.length
  while (end > 0) {
    const c = text.charCodeAt(end - 1)
    if (c !== 10 && c !== 13 && !(nul && c === 0)) break
    end--
  }
  return end === text.length ? text : text.slice(0, end)
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isBlank(c: number): boolean {
  return c === 32 || c === 9
}

function isJsonSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57
}

// String#isWellFormed and #toWellFormed are ES2024 (Node ≥ 20); the project's lib stops at ES2023.
function isWellFormed(text: string): boolean {
  return (text as unknown as {isWellFormed(): boolean}).isWellFormed()
}

function toWellFormed(text: string): string {
  return (text as unknown as {toWellFormed(): string}).toWellFormed()
}

function sentence(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  return message.endsWith('.') ? message : `${message}.`
}
