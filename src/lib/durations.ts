/**
 * Durations (`500ms`, `30s`, `12h`, `7d`) and sizes (`512KiB`, `1GiB`): parsed in one place.
 * Plain integers are accepted as milliseconds / bytes, as Kafka's own configs are written.
 */
const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
}

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  tb: 1000 ** 4,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
}

export class ParseError extends Error {}

/** Parses a duration into milliseconds; throws ParseError with a sentence naming the value. */
export function parseDuration(input: string | number): number {
  if (typeof input === 'number') {
    if (Number.isInteger(input) && input >= 0) return safe(input, input, 'duration')
    throw new ParseError(`"${input}" is not a duration: use a whole number with a unit such as 500ms, 30s, 12h or 7d`)
  }
  const text = input.trim()
  if (/^\d+$/.test(text)) return safe(Number(text), input, 'duration')
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/i.exec(text)
  if (!match) {
    throw new ParseError(`"${input}" is not a duration: use a number with a unit such as 500ms, 30s, 12h or 7d`)
  }
  const value = Number(match[1]) * DURATION_UNITS[match[2]!.toLowerCase()]!
  if (!Number.isSafeInteger(Math.round(value))) throw new ParseError(`"${input}" is too large a duration`)
  return Math.round(value)
}

/** Parses a size into bytes (`512KiB`, `1GiB`, `10MB`, `1048576`). */
export function parseSize(input: string | number): number {
  if (typeof input === 'number') {
    if (Number.isInteger(input) && input >= 0) return safe(input, input, 'size')
    throw new ParseError(`"${input}" is not a size: use a whole number of bytes or a unit such as 512KiB or 1GiB`)
  }
  const text = input.trim()
  if (/^\d+$/.test(text)) return safe(Number(text), input, 'size')
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)$/i.exec(text)
  if (!match) throw new ParseError(`"${input}" is not a size: use a number with a unit such as 512KiB, 100MB or 1GiB`)
  const value = Number(match[1]) * SIZE_UNITS[match[2]!.toLowerCase()]!
  if (!Number.isSafeInteger(Math.round(value))) throw new ParseError(`"${input}" is too large a size`)
  return Math.round(value)
}

/**
 * Plain numbers past 2^53 lose their last digits, and a long run of digits becomes Infinity:
 * either would become a timeout or limit nobody asked for, so it is refused like a unit product.
 */
function safe(value: number, input: string | number, what: 'duration' | 'size'): number {
  if (!Number.isSafeInteger(value)) throw new ParseError(`"${input}" is too large a ${what}`)
  return value
}

/** Formats milliseconds in the largest unit that divides them exactly: 604800000 → "7d". */
export function formatDuration(ms: number): string {
  if (ms < 0) return String(ms)
  if (ms === 0) return '0ms'
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = DURATION_UNITS[unit]!
    if (ms % size === 0) return `${ms / size}${unit}`
  }
  return `${ms}ms`
}

/** A compact human duration for dashboards: 1234 → "1.2s", 93_000 → "1m33s". */
export function humanDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '-'
  if (ms < 1000) return `${Math.round(ms)}ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m${Math.floor((ms % 60_000) / 1000)}s`
  if (ms < 86_400_000) return `${Math.floor(ms / 3_600_000)}h${Math.floor((ms % 3_600_000) / 60_000)}m`
  return `${Math.floor(ms / 86_400_000)}d${Math.floor((ms % 86_400_000) / 3_600_000)}h`
}
