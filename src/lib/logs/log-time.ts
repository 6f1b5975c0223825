/**
 * Timestamps as log lines write them → milliseconds since the epoch. Pure and deterministic: a
 * zone-less time is UTC and a year-less one (syslog, klog) takes its year from the record's Kafka
 * timestamp, never from the clock, so a redelivered record gets the same time. Hand-written
 * character scanners, not Date.parse (which reads zone-less text in the machine's zone) and not
 * regular expressions (one linear pass, nothing to backtrack on a hostile line).
 */
import type {LogLineLevel} from './log-line.js'

export const DAY_MS = 86_400_000
/** Times before 1970-01-02T00:00:00Z are not real log times (0, -1, a counter mistaken for one). */
export const MIN_PLAUSIBLE_MS = DAY_MS
/** The largest time a JavaScript Date can hold. */
const MAX_DATE_MS = 8.64e15

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/**
 * Whether `ms` can be the time of a line Kafka received at `kafkaMs`: after 1970-01-02 and at
 * most a day after the Kafka timestamp (clock skew and zone mistakes stay within that). A
 * missing Kafka timestamp (NaN) only leaves the lower bound.
 */
export function isPlausibleTime(ms: number, kafkaMs: number): boolean {
  if (!(ms >= MIN_PLAUSIBLE_MS && ms <= MAX_DATE_MS)) return false
  return Number.isNaN(kafkaMs) || ms <= kafkaMs + DAY_MS
}

/**
 * Epoch seconds, milliseconds, microseconds or nanoseconds, told apart by magnitude: below 1e11
 * is seconds (1e11 s is the year 5138, 1e11 ms is 1973), below 1e14 milliseconds, below 1e17
 * microseconds, else nanoseconds. Seconds are rounded to the millisecond (a float like
 * 1767225600.123 is 1767225600122.9998 once multiplied), finer units truncated. Nanoseconds are
 * first rounded to the microsecond: a double near 1.7e18 is only exact to 256 ns, so
 * 1767225600123000000 may arrive as …122999936 and must not lose its millisecond.
 */
export function epochToMs(value: number): number {
  if (!Number.isFinite(value)) return Number.NaN
  const magnitude = Math.abs(value)
  if (magnitude < 1e11) return Math.round(value * 1000)
  if (magnitude < 1e14) return Math.floor(value)
  if (magnitude < 1e17) return Math.floor(value / 1e3)
  return Math.floor(Math.round(value / 1e3) / 1e3)
}

/**
 * A time field's value → milliseconds, or NaN when it is not a time: a number or numeric string
 * is an epoch (see epochToMs), a string an ISO-8601 date-time (see isoToMs).
 */
export function timeFromValue(value: unknown): number {
  if (typeof value === 'number') return epochToMs(value)
  if (typeof value !== 'string' || value.length < 1 || value.length > 40) return Number.NaN
  if (isDecimal(value)) return epochToMs(Number(value))
  return isoAt(value, 0, true)
}

/** `-?digits[.digits]`: what an epoch written as a string looks like. */
function isDecimal(text: string): boolean {
  let i = text.charCodeAt(0) === 45 ? 1 : 0
  const start = i
  while (i < text.length && isDigit(text.charCodeAt(i))) i++
  if (i === start) return false
  if (i === text.length) return true
  if (text.charCodeAt(i) !== 46) return false
  const fraction = ++i
  while (i < text.length && isDigit(text.charCodeAt(i))) i++
  return i > fraction && i === text.length
}

/**
 * ISO-8601 / RFC 3339 as loggers write it, the whole string: `2026-01-01T10:00:00Z`, with `T`,
 * `t` or a space between date and time, `-` or `/` between date parts (Go's log, nginx), seconds
 * and a fraction optional (`.` or `,`, any number of digits: Python writes `,123`), a zone `Z`,
 * `+01:00`, `+0100`, `+01`, or ` UTC`/` GMT`, or none (UTC). A date alone is its midnight UTC.
 */
export function isoToMs(text: string): number {
  return isoAt(text, 0, true)
}

// Where the last isoAt() stopped: lets the plain-text prefix parser go on after the timestamp
// without a result object per call.
let isoEnd = 0

function isoAt(text: string, start: number, whole: boolean): number {
  const year = digits(text, start, 4)
  const separator = text.charCodeAt(start + 4)
  if (year < 0 || (separator !== 45 && separator !== 47)) return Number.NaN
  const month = digits(text, start + 5, 2)
  if (month < 1 || month > 12 || text.charCodeAt(start + 7) !== separator) return Number.NaN
  const day = digits(text, start + 8, 2)
  if (day < 1 || day > daysInMonth(year, month)) return Number.NaN
  let p = start + 10
  let hour = 0
  let minute = 0
  let second = 0
  let ms = 0
  const t = text.charCodeAt(p)
  if (t === 84 || t === 116 || t === 32) {
    hour = digits(text, p + 1, 2)
    minute = digits(text, p + 4, 2)
    if (hour < 0 || hour > 23 || text.charCodeAt(p + 3) !== 58 || minute < 0 || minute > 59) return Number.NaN
    p += 6
    if (text.charCodeAt(p) === 58) {
      second = digits(text, p + 1, 2)
      // 60: a leap second, which Date.UTC carries into the next minute.
      if (second < 0 || second > 60) return Number.NaN
      p += 3
      const mark = text.charCodeAt(p)
      if ((mark === 46 || mark === 44) && isDigit(text.charCodeAt(p + 1))) {
        p++
        let scale = 100
        while (p < text.length && isDigit(text.charCodeAt(p))) {
          ms += (text.charCodeAt(p) - 48) * scale
          scale /= 10
          p++
        }
        ms = Math.floor(ms)
      }
    }
  } else if (!whole) return Number.NaN
  let offsetMinutes = 0
  const zone = text.charCodeAt(p)
  if (zone === 90 || zone === 122) p++
  else if ((zone === 43 || zone === 45) && isDigit(text.charCodeAt(p + 1))) {
    const hours = digits(text, p + 1, 2)
    if (hours < 0 || hours > 18) return Number.NaN
    p += 3
    let minutes = 0
    if (text.charCodeAt(p) === 58) {
      minutes = digits(text, p + 1, 2)
      p += 3
    } else if (isDigit(text.charCodeAt(p))) {
      minutes = digits(text, p, 2)
      p += 2
    }
    if (minutes < 0 || minutes > 59) return Number.NaN
    offsetMinutes = (zone === 45 ? -1 : 1) * (hours * 60 + minutes)
  } else {
    const at = text.charCodeAt(p) === 32 ? p + 1 : p
    if (text.startsWith('UTC', at) || text.startsWith('GMT', at)) p = at + 3
  }
  if (whole && p !== text.length) return Number.NaN
  isoEnd = p
  return utc(year, month, day, hour, minute, second, ms) - offsetMinutes * 60_000
}

// Date.UTC reads the years 0–99 as 1900–1999.
function utc(year: number, month: number, day: number, hour: number, minute: number, second: number, ms: number): number {
  if (year >= 100) return Date.UTC(year, month - 1, day, hour, minute, second, ms)
  const date = new Date(Date.UTC(2000, month - 1, day, hour, minute, second, ms))
  return date.setUTCFullYear(year)
}

export interface TextTimestamp {
  /** Milliseconds since the epoch; NaN when the text is a timestamp but its year cannot be inferred. */
  ms: number
  /** Where the timestamp ends in the line. */
  end: number
  /** klog's severity letter (`I0102 …`), the only prefix that carries a level. */
  level?: LogLineLevel
}

const KLOG_LEVELS: Record<number, LogLineLevel> = {73: 'info', 87: 'warn', 69: 'error', 70: 'fatal'}
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec']

/**
 * A timestamp at `start` of a plain-text line: ISO-8601 with a time (`2026-01-01T10:00:00Z`,
 * `2026-01-01 10:00:00,123`, `2026/01/01 10:00:00`), syslog's `Jan  2 15:04:05`, or klog's
 * `I0102 15:04:05.000000`. Syslog and klog write no year: it is the Kafka timestamp's year, or
 * the one before when that would put the line more than a day after Kafka received it (a
 * December line read in January). Undefined when the line does not start with one of these.
 */
export function textTimestampAt(text: string, start: number, kafkaMs: number): TextTimestamp | undefined {
  const c = text.charCodeAt(start)
  if (isDigit(c)) {
    const ms = isoAt(text, start, false)
    return Number.isNaN(ms) ? undefined : {ms, end: isoEnd}
  }
  const klogLevel = KLOG_LEVELS[c]
  if (klogLevel && isDigit(text.charCodeAt(start + 1))) return klogAt(text, start, klogLevel, kafkaMs)
  return syslogAt(text, start, kafkaMs)
}

// Lmmdd hh:mm:ss.uuuuuu
function klogAt(text: string, start: number, level: LogLineLevel, kafkaMs: number): TextTimestamp | undefined {
  const month = digits(text, start + 1, 2)
  const day = digits(text, start + 3, 2)
  if (month < 1 || month > 12 || day < 1 || day > 31 || text.charCodeAt(start + 5) !== 32) return undefined
  return clockAt(text, start + 6, month, day, kafkaMs, level)
}

// Mmm dd hh:mm:ss, the day padded with a space (RFC 3164).
function syslogAt(text: string, start: number, kafkaMs: number): TextTimestamp | undefined {
  if (text.charCodeAt(start + 3) !== 32) return undefined
  const month = MONTHS.indexOf(text.slice(start, start + 3).toLowerCase()) + 1
  if (month === 0) return undefined
  let p = start + 4
  if (text.charCodeAt(p) === 32) p++
  let day = digits(text, p, 2)
  if (day >= 0) p += 2
  else if ((day = digits(text, p, 1)) >= 0) p += 1
  if (day < 1 || day > 31 || text.charCodeAt(p) !== 32) return undefined
  return clockAt(text, p + 1, month, day, kafkaMs, undefined)
}

// hh:mm:ss[.fraction] after a year-less date.
function clockAt(text: string, p: number, month: number, day: number, kafkaMs: number, level: LogLineLevel | undefined): TextTimestamp | undefined {
  const hour = digits(text, p, 2)
  const minute = digits(text, p + 3, 2)
  const second = digits(text, p + 6, 2)
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60) return undefined
  if (text.charCodeAt(p + 2) !== 58 || text.charCodeAt(p + 5) !== 58) return undefined
  let end = p + 8
  let ms = 0
  if (text.charCodeAt(end) === 46 && isDigit(text.charCodeAt(end + 1))) {
    end++
    let scale = 100
    while (end < text.length && isDigit(text.charCodeAt(end))) {
      ms += (text.charCodeAt(end) - 48) * scale
      scale /= 10
      end++
    }
    ms = Math.floor(ms)
  }
  const result: TextTimestamp = {ms: Number.NaN, end, level}
  if (Number.isNaN(kafkaMs)) return result
  let year = new Date(kafkaMs).getUTCFullYear()
  let candidate = Date.UTC(year, month - 1, day, hour, minute, second, ms)
  if (candidate > kafkaMs + DAY_MS) candidate = Date.UTC(--year, month - 1, day, hour, minute, second, ms)
  // Feb 29 of a year that has none is no time at all, not March 1st.
  if (day <= daysInMonth(year, month)) result.ms = candidate
  return result
}

function daysInMonth(year: number, month: number): number {
  if (month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)) return 29
  return DAYS_IN_MONTH[month - 1]!
}

/** The number written in `count` decimal digits at `at`, or -1. */
function digits(text: string, at: number, count: number): number {
  let value = 0
  for (let i = at; i < at + count; i++) {
    const c = text.charCodeAt(i)
    if (!isDigit(c)) return -1
    value = value * 10 + c - 48
  }
  return value
}

// charCodeAt past the end is NaN, which fails both comparisons.
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57
}
