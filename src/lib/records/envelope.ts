/**
 * The pipeline's event envelope (DESIGN §3) and its validation. Pure and on the hot path of the
 * events worker: plain typeof checks, one anchored regular expression for the timestamp, and
 * limits that keep a record from failing the PostgreSQL write of a whole batch later.
 */

export interface EventEnvelope {
  /** Unique id; the sink keeps the first write of each. */
  eventId: string
  /** e.g. `user.signup`. */
  type: string
  /** The service that emitted it. */
  source: string
  /** ISO-8601 with a time zone, e.g. `2024-05-01T12:00:00.000Z`. */
  occurredAt: string
  /** Entity id; also the Kafka key. */
  key: string
  correlationId: string | null
  /** Version of the payload's own shape for this `type`. */
  schemaVersion: number
  payload: Record<string, unknown>
}

export type ValidationResult = {ok: true; event: EventEnvelope} | {ok: false; errorClass: 'validation'; message: string}

/**
 * Longest id-like field, in UTF-16 code units. These columns are indexed, and a B-tree entry
 * above ~2.7 kB makes PostgreSQL refuse the whole INSERT; 512 units stay below it in UTF-8.
 */
export const MAX_FIELD_LENGTH = 512

const MAX_INT32 = 2_147_483_647

// Date and time with a zone, as PostgreSQL's timestamptz and Date.parse both read it.
const ISO_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):?(\d{2}))$/
const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
// The instant itself, in UTC, within years 1-9999: BigQuery's TIMESTAMP range, and what
// toISOString writes back in this form (Avro carries occurredAt as milliseconds).
const MIN_INSTANT_MS = Date.parse('0001-01-01T00:00:00Z')
const MAX_INSTANT_MS = Date.parse('9999-12-31T23:59:59.999Z')

/** Checks that `value` is an event envelope; returns a copy holding only the envelope's fields. */
export function validateEnvelope(value: unknown): ValidationResult {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return invalid(`the record is ${describe(value)}, not a JSON object with the event envelope's fields.`)
  }
  const record = value as Record<string, unknown>

  const eventId = record.eventId
  let problem = idField('eventId', eventId)
  if (problem) return invalid(problem)
  const type = record.type
  if ((problem = idField('type', type))) return invalid(problem)
  const source = record.source
  if ((problem = idField('source', source))) return invalid(problem)
  const key = record.key
  if ((problem = idField('key', key))) return invalid(problem)

  const occurredAt = record.occurredAt
  if (occurredAt === undefined) return invalid('field occurredAt is missing.')
  if (typeof occurredAt !== 'string') return invalid(`field occurredAt must be an ISO-8601 timestamp string, not ${describe(occurredAt)}.`)
  if (!isIsoTimestamp(occurredAt)) {
    return invalid(`field occurredAt "${clip(occurredAt)}" is not an ISO-8601 timestamp with a time zone, such as 2024-05-01T12:00:00Z.`)
  }

  // Absent, null and "" all mean "no correlation id": producers write each of them.
  let correlationId = record.correlationId
  if (correlationId === undefined || correlationId === '') correlationId = null
  else if (correlationId !== null && (problem = idField('correlationId', correlationId))) return invalid(problem)

  const schemaVersion = record.schemaVersion
  if (schemaVersion === undefined) return invalid('field schemaVersion is missing.')
  if (typeof schemaVersion !== 'number' || !Number.isInteger(schemaVersion) || schemaVersion < 1 || schemaVersion > MAX_INT32) {
    return invalid(`field schemaVersion must be a positive whole number, not ${describe(schemaVersion)}.`)
  }

  const payload = record.payload
  if (payload === undefined) return invalid('field payload is missing.')
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    return invalid(`field payload must be a JSON object, not ${describe(payload)}.`)
  }

  return {
    ok: true,
    event: {
      eventId: eventId as string,
      type: type as string,
      source: source as string,
      occurredAt,
      key: key as string,
      correlationId: correlationId as string | null,
      schemaVersion,
      payload: payload as Record<string, unknown>,
    },
  }
}

/**
 * True for `YYYY-MM-DDTHH:MM[:SS[.fraction]]` followed by `Z` or an offset, on a real calendar
 * day, at an instant between years 1 and 9999 UTC: what Date.parse, PostgreSQL's timestamptz and
 * BigQuery's TIMESTAMP all accept, so a valid event never fails a batch insert, and what the
 * Avro encoding carries back unchanged.
 */
export function isIsoTimestamp(text: string): boolean {
  const match = ISO_TIMESTAMP.exec(text)
  if (!match) return false
  const year = Number(match[1])
  const month = Number(match[2])
  const day = Number(match[3])
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > DAYS_IN_MONTH[month - 1]!) return false
  if (month === 2 && day === 29 && !(year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0))) return false
  if (Number(match[4]) > 23 || Number(match[5]) > 59 || Number(match[6] ?? 0) > 59) return false
  // PostgreSQL refuses zone offsets of 16 hours or more (real ones span -12:00 to +14:00).
  if (Number(match[7] ?? 0) > 15 || Number(match[8] ?? 0) > 59) return false
  // A zone offset can carry 0001-01-01 or 9999-12-31 across the edge of that range.
  const ms = Date.parse(text)
  return ms >= MIN_INSTANT_MS && ms <= MAX_INSTANT_MS
}

/**
 * Text PostgreSQL cannot store: NUL (`\u0000`) in text or jsonb, and unpaired UTF-16 surrogates,
 * which JSON escapes can carry but UTF-8 cannot. Returns the dotted path of the first offender.
 * Callers only need it when the JSON text contains a `\u` escape, the only way these arrive.
 */
export function findUnstorableText(value: unknown, path = ''): string | undefined {
  if (typeof value === 'string') return value.includes('\0') || !isWellFormed(value) ? path || '(value)' : undefined
  if (typeof value !== 'object' || value === null) return undefined
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findUnstorableText(value[i], `${path}[${i}]`)
      if (found) return found
    }
    return undefined
  }
  for (const [name, child] of Object.entries(value)) {
    const childPath = path ? `${path}.${name}` : name
    if (name.includes('\0') || !isWellFormed(name)) return childPath
    const found = findUnstorableText(child, childPath)
    if (found) return found
  }
  return undefined
}

/**
 * Deepest JSON nesting accepted. JSON.parse copes with any depth, but JSON.stringify (run again
 * when the payload is written to jsonb) overflows the stack a few thousand levels down, and
 * PostgreSQL's jsonb parser gives up too: such a record must be dead-lettered, not crash a batch.
 */
export const MAX_JSON_DEPTH = 512

/** True when the (valid) JSON text nests objects and arrays deeper than `max` levels. */
export function jsonDepthExceeds(text: string, max: number = MAX_JSON_DEPTH): boolean {
  // Each level takes an opening and a closing bracket: short texts cannot be too deep.
  if (text.length < 2 * (max + 1)) return false
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true
    } else if (c === 0x7d || c === 0x5d) depth--
  }
  return false
}

export function tooDeepMessage(field: string): string {
  return `${field} nests JSON objects and arrays deeper than ${MAX_JSON_DEPTH} levels.`
}

export function unstorableTextMessage(path: string): string {
  return `field ${path} holds a NUL character or an unpaired UTF-16 surrogate, which PostgreSQL cannot store.`
}

// String#isWellFormed is ES2024 (Node ≥ 20); the project's lib setting stops at ES2023.
function isWellFormed(text: string): boolean {
  return (text as unknown as {isWellFormed(): boolean}).isWellFormed()
}

function idField(name: string, value: unknown): string | undefined {
  if (value === undefined) return `field ${name} is missing.`
  if (typeof value !== 'string') return `field ${name} must be a string, not ${describe(value)}.`
  if (value.length === 0) return `field ${name} must not be empty.`
  if (value.length > MAX_FIELD_LENGTH) return `field ${name} is ${value.length} characters long; the limit is ${MAX_FIELD_LENGTH}.`
  return undefined
}

function invalid(message: string): {ok: false; errorClass: 'validation'; message: string} {
  return {ok: false, errorClass: 'validation', message}
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  switch (typeof value) {
    case 'string':
      return `the string "${clip(value)}"`
    case 'number':
    case 'boolean':
      return `${typeof value} ${String(value)}`
    case 'object':
      return 'an object'
    default:
      return typeof value
  }
}

function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text
}
