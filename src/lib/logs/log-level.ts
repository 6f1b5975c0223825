/**
 * Level names and numbers of the common logging libraries → the six stored levels. Pure; the
 * parser (log-parse.ts) calls it once per record, so it is a Map lookup on a short lower-cased
 * string, never a regular expression.
 */
import type {LogLineLevel} from './log-line.js'

// Every alias maps to the nearest stored level without ever inverting a library's own order
// (winston's verbose sits above debug, Serilog's below it: debug keeps both monotone).
const ALIASES: ReadonlyArray<readonly [LogLineLevel, readonly string[]]> = [
  // logrus' text formatter cuts names to four letters (TRAC, DEBU, ERRO, FATA, PANI); zerolog's
  // console writer uses three (TRC, DBG, INF, WRN, ERR, FTL, PNC); .NET's console formatter
  // four (trce, dbug, info, warn, fail, crit); log15 writes dbug and eror.
  ['trace', ['trace', 'trac', 'trc', 'trce', 'silly', 'finest', 'finer', 'all']],
  ['debug', ['debug', 'debu', 'dbg', 'dbug', 'verbose', 'fine', 'config', 'http']],
  ['info', ['info', 'inf', 'information', 'informational', 'notice', 'default', 'log']],
  ['warn', ['warn', 'warning', 'wrn']],
  // zap's dpanic panics only in development; in production it is an error that goes on.
  ['error', ['error', 'erro', 'err', 'eror', 'fail', 'severe', 'dpanic']],
  ['fatal', ['fatal', 'fata', 'ftl', 'panic', 'pani', 'pnc', 'crit', 'critical', 'alert', 'emerg', 'emergency']],
]

const LEVEL_BY_NAME = new Map<string, LogLineLevel>()
for (const [level, names] of ALIASES) for (const name of names) LEVEL_BY_NAME.set(name, level)
// One letter: klog, glog, logcat and some JSON encoders (zap's CapitalLevelEncoder does not, but
// custom ones do). Only accepted as a whole level value, never as a word in free text.
for (const [letter, level] of [['t', 'trace'], ['d', 'debug'], ['v', 'debug'], ['i', 'info'], ['w', 'warn'], ['e', 'error'], ['f', 'fatal'], ['c', 'fatal']] as const) {
  LEVEL_BY_NAME.set(letter, level)
}

// Names that are also ordinary English or config words: a level only as a field value
// (`"level":"log"`), never when found as a word in a plain-text line.
const NOT_IN_TEXT = new Set(['all', 'config', 'default', 'fine', 'finer', 'finest', 'http', 'log', 'silly'])
const TEXT_WORDS = new Map([...LEVEL_BY_NAME].filter(([name]) => name.length >= 3 && !NOT_IN_TEXT.has(name)))

/** Syslog severities 0–7 (RFC 5424 §6.2.1). */
export const SYSLOG_LEVELS: readonly LogLineLevel[] = ['fatal', 'fatal', 'fatal', 'error', 'warn', 'info', 'info', 'debug']
/** pino and bunyan: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal (custom levels in between round down). */
const NUMERIC_LEVELS: readonly LogLineLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal']

/** Longest level value worth lower-casing; anything longer is not a level name. */
const MAX_NAME = 16

/**
 * A level field's value (string or number) → a stored level, or undefined when it names no level
 * the parser knows (the caller keeps it as `info` with the original in attrs.originalLevel).
 * Accepts any letter case, surrounding blanks, numeric strings, and slog's offsets (`WARN+2`).
 */
export function levelFromValue(value: string | number): LogLineLevel | undefined {
  if (typeof value === 'number') return levelFromNumber(value)
  let name = value
  if (name.length > MAX_NAME) name = name.trim()
  if (name.length === 0 || name.length > MAX_NAME) return undefined
  const direct = LEVEL_BY_NAME.get(name) ?? LEVEL_BY_NAME.get(name.toLowerCase())
  if (direct) return direct
  const first = name.charCodeAt(0)
  if (first >= 48 && first <= 57) return isDigits(name) ? levelFromNumber(Number(name)) : undefined
  const trimmed = name.trim()
  if (trimmed !== name) return levelFromValue(trimmed)
  // slog writes levels between the named ones as the name below plus an offset: INFO+2, WARN-1.
  const sign = Math.max(name.indexOf('+'), name.indexOf('-'))
  if (sign > 0 && isDigits(name.slice(sign + 1))) return LEVEL_BY_NAME.get(name.slice(0, sign).toLowerCase())
  return undefined
}

function levelFromNumber(value: number): LogLineLevel | undefined {
  if (!Number.isInteger(value)) return undefined
  if (value >= 0 && value <= 7) return SYSLOG_LEVELS[value]
  if (value >= 10 && value < 70) return NUMERIC_LEVELS[Math.floor(value / 10) - 1]
  return undefined
}

function isDigits(text: string): boolean {
  if (text.length === 0 || text.length > 3) return false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 48 || c > 57) return false
  }
  return true
}

/**
 * A level word inside a plain-text line, looked for in the first four words from `from` (tokens
 * made only of punctuation, like `-` or `|`, do not count). To keep "no error found" an info
 * line, a word counts only in a form that marks it as a level: all capitals (`ERROR`, `WARN`),
 * bracketed (`[warn]`, `<error>`), followed by a colon (`error:`, `Warning:`,
 * `production.ERROR:`, `ERROR:root:…`), or, after a timestamp, as the first word in any case
 * (`2026-01-01 10:00:00 error …`). Only the first line of a multi-line message is searched.
 */
export function levelWordIn(text: string, from: number, afterTimestamp: boolean): LogLineLevel | undefined {
  const n = text.length
  let p = from
  let words = 0
  while (p < n && words < 4) {
    let c = text.charCodeAt(p)
    if (c === 32 || c === 9) {
      p++
      continue
    }
    if (c === 10 || c === 13) return undefined
    const start = p
    while (p < n && (c = text.charCodeAt(p)) !== 32 && c !== 9 && c !== 10 && c !== 13) p++
    let a = start
    let b = p
    let bracketed = false
    let colon = false
    while (a < b && isOpening(text.charCodeAt(a))) {
      a++
      bracketed = true
    }
    // `ERROR:root:message` (Python's basicConfig format) is one token: look before its first colon.
    for (let i = a; i < b; i++) {
      if (text.charCodeAt(i) === 58) {
        b = i
        colon = true
        break
      }
    }
    while (b > a && isClosing(text.charCodeAt(b - 1))) {
      if (isClosingBracket(text.charCodeAt(b - 1))) bracketed = true
      b--
    }
    if (!hasAlphanumeric(text, a, b)) continue
    words++
    // Monolog's `channel.LEVEL:`: the name after the last dot, only in that colon form.
    if (colon) {
      const dot = text.lastIndexOf('.', b - 1)
      if (dot >= a) a = dot + 1
    }
    const length = b - a
    if (length < 3 || length > 13) continue
    let upper = true
    let letters = true
    for (let i = a; i < b; i++) {
      const ch = text.charCodeAt(i)
      if (ch >= 97 && ch <= 122) upper = false
      else if (ch < 65 || ch > 90) {
        letters = false
        break
      }
    }
    if (!letters) continue
    if (!(upper || bracketed || colon || (afterTimestamp && words === 1))) continue
    const level = TEXT_WORDS.get(text.slice(a, b).toLowerCase())
    if (level) return level
  }
  return undefined
}

// [ ( < {
function isOpening(c: number): boolean {
  return c === 91 || c === 40 || c === 60 || c === 123
}

// ] ) > } , ; |
function isClosing(c: number): boolean {
  return isClosingBracket(c) || c === 44 || c === 59 || c === 124
}

function isClosingBracket(c: number): boolean {
  return c === 93 || c === 41 || c === 62 || c === 125
}

function hasAlphanumeric(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i)
    if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57)) return true
  }
  return false
}
