/**
 * logfmt (`ts=… level=warn msg="disk \"almost\" full" key=value bare`), the text shape of Go
 * services: go-kit/log, logrus' text formatter, slog's TextHandler, log15.
 *
 * Hand-written because no logfmt package is among the project's dependencies and the ones on
 * npm are unmaintained, build an array of pairs per line, and throw on what a log line may
 * legitimately hold; the grammar is a dozen lines. Semantics follow go-logfmt's decoder: a key
 * is any run of characters above space other than `=` and `"`; a value is quoted (JSON-style
 * escapes) or runs to the next blank; a key without `=` (a bare key) is `true`; a later
 * duplicate key wins, as in JSON.parse. Values stay strings: logfmt has no types.
 */

export type LogfmtFields = Record<string, string | true>

/**
 * The fields of a logfmt line, or undefined when the line is not logfmt: it must start with
 * `key=`, close every quote, and hold more `key=value` pairs than bare keys, so prose such as
 * `user=bob logged in` stays plain text. Control characters other than tab (a multi-line value
 * outside quotes) also mean plain text.
 */
export function parseLogfmt(line: string): LogfmtFields | undefined {
  const n = line.length
  let p = 0
  while (p < n && isBlank(line.charCodeAt(p))) p++
  if (!startsWithPair(line, p)) return undefined
  const fields: LogfmtFields = {}
  let pairs = 0
  let bare = 0
  while (p < n) {
    const keyStart = p
    let c = 0
    while (p < n && (c = line.charCodeAt(p)) > 32 && c !== 61 && c !== 34) p++
    if (p === keyStart) return undefined // `=value` or a quote where a key should be
    const key = line.slice(keyStart, p)
    if (p < n && c === 61) {
      p++
      let value: string
      if (p < n && line.charCodeAt(p) === 34) {
        const end = closingQuote(line, p + 1)
        if (end < 0) return undefined
        value = unquote(line, p + 1, end)
        p = end + 1
        if (p < n && !isBlank(line.charCodeAt(p))) return undefined
      } else {
        const valueStart = p
        // Lenient where go-logfmt is strict: `=` and `"` inside an unquoted value are kept.
        while (p < n && (c = line.charCodeAt(p)) > 32) p++
        if (p < n && !isBlank(c)) return undefined
        value = line.slice(valueStart, p)
      }
      setField(fields, key, value)
      pairs++
    } else {
      if (p < n && !isBlank(c)) return undefined
      setField(fields, key, true)
      bare++
    }
    while (p < n && isBlank(line.charCodeAt(p))) p++
  }
  return pairs > bare ? fields : undefined
}

/** A quick look before any allocation: a key, then `=`, before the first blank. */
function startsWithPair(line: string, p: number): boolean {
  const start = p
  let c = 0
  while (p < line.length && (c = line.charCodeAt(p)) > 32 && c !== 61 && c !== 34) p++
  return p > start && c === 61
}

/** Index of the quote that closes a value opened just before `from`, or -1. */
function closingQuote(line: string, from: number): number {
  for (let i = from; i < line.length; i++) {
    const c = line.charCodeAt(i)
    if (c === 92) i++
    else if (c === 34) return i
  }
  return -1
}

const SIMPLE_ESCAPES: Record<string, string> = {'"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t'}

/** The text between quotes with its escapes resolved; an unknown escape is kept as written. */
function unquote(line: string, from: number, to: number): string {
  let backslash = line.indexOf('\\', from)
  if (backslash < 0 || backslash >= to) return line.slice(from, to)
  let out = ''
  let chunk = from
  while (backslash >= 0 && backslash < to) {
    out += line.slice(chunk, backslash)
    const letter = line[backslash + 1]!
    const simple = SIMPLE_ESCAPES[letter]
    if (simple !== undefined) {
      out += simple
      chunk = backslash + 2
    } else if (letter === 'u' && isHex4(line, backslash + 2)) {
      // A lone surrogate can result; the parser replaces those before storing.
      out += String.fromCharCode(Number.parseInt(line.slice(backslash + 2, backslash + 6), 16))
      chunk = backslash + 6
    } else {
      out += '\\' + letter
      chunk = backslash + 2
    }
    backslash = line.indexOf('\\', chunk)
  }
  return out + line.slice(chunk, to)
}

function isHex4(line: string, at: number): boolean {
  for (let i = at; i < at + 4; i++) {
    const c = line.charCodeAt(i)
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70))) return false
  }
  return true
}

function isBlank(c: number): boolean {
  return c === 32 || c === 9
}

// `__proto__` is an ordinary key in a log line, not a prototype to set.
function setField(fields: LogfmtFields, key: string, value: string | true): void {
  if (key === '__proto__') Object.defineProperty(fields, key, {value, enumerable: true, writable: true, configurable: true})
  else fields[key] = value
}
