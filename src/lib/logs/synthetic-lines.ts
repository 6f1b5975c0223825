/**
 * Deterministic mixed log records for the demo, the end-to-end test and the benchmark: JSON in
 * the dialects of pino, bunyan, winston, zap, ECS, logrus, structlog and Google Cloud, logfmt of
 * go-kit, logrus, log15 and slog, plain text (log4j, Python, nginx, syslog, klog, with and
 * without a level word or a timestamp), JSON lines cut short, and a few dead letters.
 *
 * Each record carries what the parser should make of it, from the generator's own knowledge of
 * what it wrote (never from calling the parser), so a test can compare the stored rows with it.
 * Pure: the same arguments always give the same records.
 */
import type {ErrorClass} from '../workers/types.js'
import type {LogLineLevel} from './log-line.js'

export interface SyntheticLogOptions {
  /** Prefixes every service name (`${scope}-checkout`) and correlation id, so a test can find its rows. */
  scope: string
  /** Seeds the choices; default 1. */
  seed?: number
  /** Time of the first line; default 2026-01-01T00:00:00Z. */
  startMs?: number
  /** Time between consecutive lines; default 10 ms. */
  spacingMs?: number
}

export type SyntheticLogExpectation =
  | {
      deadLetter: false
      level: LogLineLevel
      service: string
      correlationId: string | null
      message: string
      /**
       * The time the line states, as the parser will read it (syslog and nginx keep whole
       * seconds); null when the line states none and the Kafka timestamp is its time. Syslog and
       * klog lines carry no year: their time assumes Kafka received them within a year.
       */
      tsMs: number | null
    }
  | {deadLetter: true; errorClass: ErrorClass}

export interface SyntheticLogRecord {
  key: string | null
  value: Buffer | null
  headers?: Record<string, string>
  /** Which shape was written (`pino`, `logfmt-log15`, `plain-syslog`, …): for coverage and debugging. */
  dialect: string
  expected: SyntheticLogExpectation
}

export const SYNTHETIC_SERVICES = ['checkout', 'payments', 'inventory', 'search', 'auth', 'mailer'] as const

/** The field names under which the generator writes correlation ids (all the parser reads). */
export const SYNTHETIC_CORRELATION_FIELDS = ['correlationId', 'correlation_id', 'traceId', 'trace_id', 'trace.id', 'requestId', 'request_id'] as const

// Messages hold no level word, so a plain-text line without one stays at info.
const MESSAGES = [
  'order placed',
  'payment authorised for order 4711',
  'cache miss for key user:42',
  'request completed in 12ms',
  'retrying connection to db-1 (attempt 2)',
  'user 1337 signed in',
  'disk "almost" full on /var/lib/data',
  'query took 250ms: SELECT * FROM orders WHERE id = $1',
  'Zahlung bestätigt ✓',
  'shipment label created, carrier=dhl',
  'rate limit reached for tenant acme',
  'backslash \\ and tab\tinside',
] as const

type Dialect = (line: LineSpec) => Written

interface LineSpec {
  i: number
  ms: number
  level: LogLineLevel
  /** How this dialect writes `level` (`30`, `WARNING`, `eror`, `[warn]`, …). */
  spelling: string | number
  service: string
  correlationId: string
  message: string
  random: () => number
}

interface Written {
  /** The value as text, or raw bytes for dead letters. */
  text?: string
  bytes?: Buffer | null
  /** Whether the line names its service in a field (else only the key or header does). */
  serviceInLine: boolean
  correlationId: string | null
  /** The message the parser should find; the whole text when absent (plain text). */
  message?: string
  tsMs: number | null
  errorClass?: ErrorClass
}

const LEVELS: readonly LogLineLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal']

/** How each dialect spells each level it has; a dialect without a level never gets it. */
type Spellings = Partial<Record<LogLineLevel, readonly (string | number)[]>>

const PINO: Spellings = {trace: [10], debug: [20], info: [30], warn: [40], error: [50], fatal: [60]}
const WINSTON: Spellings = {trace: ['silly'], debug: ['debug', 'verbose'], info: ['info'], warn: ['warn'], error: ['error'], fatal: ['crit', 'emerg']}
const ZAP: Spellings = {debug: ['debug'], info: ['info'], warn: ['warn'], error: ['error', 'dpanic'], fatal: ['panic', 'fatal']}
const ECS: Spellings = {trace: ['trace'], debug: ['debug'], info: ['info'], warn: ['warn'], error: ['error'], fatal: ['fatal']}
const LOGRUS: Spellings = {trace: ['trace'], debug: ['debug'], info: ['info'], warn: ['warning'], error: ['error'], fatal: ['fatal', 'panic']}
const STRUCTLOG: Spellings = {debug: ['debug'], info: ['info'], warn: ['warning'], error: ['error'], fatal: ['critical']}
const GCP: Spellings = {debug: ['DEBUG'], info: ['INFO', 'NOTICE'], warn: ['WARNING'], error: ['ERROR'], fatal: ['CRITICAL', 'ALERT', 'EMERGENCY']}
const GENERIC: Spellings = {trace: ['TRACE', 'Trace'], debug: ['DEBUG', 'dbg'], info: ['INFO', 'Information'], warn: ['WARN', 'Warning'], error: ['ERROR', 'err'], fatal: ['FATAL', 'Critical']}
const GO_KIT: Spellings = {debug: ['debug'], info: ['info'], warn: ['warn'], error: ['error']}
const LOG15: Spellings = {debug: ['dbug'], info: ['info'], warn: ['warn'], error: ['eror'], fatal: ['crit']}
const SLOG: Spellings = {debug: ['DEBUG', 'DEBUG-4'], info: ['INFO', 'INFO+2'], warn: ['WARN'], error: ['ERROR', 'ERROR+4']}
const LOG4J: Spellings = {trace: ['TRACE'], debug: ['DEBUG'], info: ['INFO'], warn: ['WARN'], error: ['ERROR'], fatal: ['FATAL']}
const PYTHON: Spellings = {debug: ['DEBUG'], info: ['INFO'], warn: ['WARNING'], error: ['ERROR'], fatal: ['CRITICAL']}
const NGINX: Spellings = {debug: ['debug'], info: ['info', 'notice'], warn: ['warn'], error: ['error'], fatal: ['crit', 'alert', 'emerg']}
const SYSLOG: Spellings = {debug: [7], info: [6, 5], warn: [4], error: [3], fatal: [2, 1, 0]}
const KLOG: Spellings = {info: ['I'], warn: ['W'], error: ['E'], fatal: ['F']}
const WORD: Spellings = {trace: ['TRACE'], debug: ['[debug]'], info: ['INFO'], warn: ['WARNING:', '[warn]'], error: ['ERROR', 'error:'], fatal: ['panic:', 'FATAL']}
const NONE: Spellings = {info: ['']}

interface DialectEntry {
  name: string
  weight: number
  /** Undefined for dead letters, which have no level. */
  spellings: Spellings | undefined
  write: Dialect
}

/** Generates `n` records; see the file comment. */
export function syntheticLogRecords(n: number, options: SyntheticLogOptions): SyntheticLogRecord[] {
  const random = mulberry32(options.seed ?? 1)
  const startMs = options.startMs ?? Date.UTC(2026, 0, 1)
  const spacingMs = options.spacingMs ?? 10
  const totalWeight = DIALECTS.reduce((sum, d) => sum + d.weight, 0)
  const records: SyntheticLogRecord[] = []
  for (let i = 0; i < n; i++) {
    let pick = random() * totalWeight
    let dialect = DIALECTS[DIALECTS.length - 1]!
    for (const entry of DIALECTS) {
      if ((pick -= entry.weight) < 0) {
        dialect = entry
        break
      }
    }
    const spellings = dialect.spellings ?? NONE
    const level = choose(random, LEVELS.filter((candidate) => spellings[candidate]))
    const spec: LineSpec = {
      i,
      ms: startMs + i * spacingMs,
      level,
      spelling: choose(random, spellings[level]!),
      service: `${options.scope}-${choose(random, SYNTHETIC_SERVICES)}`,
      // A request spans a few lines, as correlation ids do.
      correlationId: `${options.scope}-req-${Math.floor(i / 3)}`,
      message: choose(random, MESSAGES),
      random,
    }
    records.push(recordOf(dialect.name, spec, dialect.write(spec), options.scope))
  }
  return records
}

/**
 * Logs are keyed by service (DESIGN §1); some producers send no key and a `service` header
 * instead, and a shipper may key by its own name, which a service named in the line overrides.
 */
function recordOf(dialect: string, spec: LineSpec, written: Written, scope: string): SyntheticLogRecord {
  const value = written.bytes !== undefined ? written.bytes : Buffer.from(written.text!, 'utf8')
  const roll = spec.random()
  const key = roll < 0.7 ? spec.service : written.serviceInLine && roll < 0.85 ? `${scope}-collector` : null
  const headers = key === null ? {service: spec.service} : undefined
  if (written.errorClass) return {key, value, headers, dialect, expected: {deadLetter: true, errorClass: written.errorClass}}
  return {
    key,
    value,
    headers,
    dialect,
    expected: {
      deadLetter: false,
      level: spec.level,
      service: spec.service,
      correlationId: written.correlationId,
      message: written.message ?? written.text!,
      tsMs: written.tsMs,
    },
  }
}

/** A JSON line: `fields`, the service under `serviceField` in 60% of lines, a correlation id in two thirds. */
function json(spec: LineSpec, fields: Record<string, unknown>, serviceField: string, tsMs: number, correlationFields: readonly string[] = SYNTHETIC_CORRELATION_FIELDS): Written {
  const object: Record<string, unknown> = {...fields}
  const serviceInLine = spec.random() < 0.6
  if (serviceInLine) setPath(spec, object, serviceField, spec.service)
  const correlationField = spec.random() < 2 / 3 ? choose(spec.random, correlationFields) : undefined
  if (correlationField) setPath(spec, object, correlationField, spec.correlationId)
  return {text: JSON.stringify(object), serviceInLine, correlationId: correlationField ? spec.correlationId : null, message: spec.message, tsMs}
}

/** A logfmt line from preformatted `key=value` parts, with service and correlation as for JSON. */
function logfmt(spec: LineSpec, parts: string[], serviceField: string, tsMs: number): Written {
  const serviceInLine = spec.random() < 0.6
  if (serviceInLine) parts.push(`${serviceField}=${logfmtValue(spec.service)}`)
  const correlationField = spec.random() < 2 / 3 ? choose(spec.random, SYNTHETIC_CORRELATION_FIELDS) : undefined
  if (correlationField) parts.push(`${correlationField}=${logfmtValue(spec.correlationId)}`)
  parts.push(`duration=${Math.floor(spec.random() * 900)}ms`)
  return {text: parts.join(' '), serviceInLine, correlationId: correlationField ? spec.correlationId : null, message: spec.message, tsMs}
}

/** Sets a dotted name either nested (`{"trace":{"id":…}}`, as ECS writes it) or as one key, at random. */
function setPath(spec: LineSpec, object: Record<string, unknown>, path: string, value: unknown): void {
  const dot = path.indexOf('.')
  if (dot < 0 || spec.random() < 0.5) {
    object[path] = value
    return
  }
  const parent = path.slice(0, dot)
  const existing = object[parent]
  const nested = typeof existing === 'object' && existing !== null ? (existing as Record<string, unknown>) : {}
  nested[path.slice(dot + 1)] = value
  object[parent] = nested
}

/** A plain-text line: the whole text is the message; no service or correlation in it. */
function plain(text: string, tsMs: number | null): Written {
  return {text, serviceInLine: false, correlationId: null, tsMs}
}

function dead(bytes: Buffer | null, errorClass: ErrorClass): Written {
  return {bytes, serviceInLine: false, correlationId: null, tsMs: null, errorClass}
}

const iso = (ms: number) => new Date(ms).toISOString()
const pad = (value: number, width = 2) => String(value).padStart(width, '0')
const MONTH_NAMES = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const clock = (d: Date) => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
const wholeSeconds = (ms: number) => Math.floor(ms / 1000) * 1000
// Quoted only when needed, as go-logfmt encodes.
const logfmtValue = (text: string) => (/^[^\s"=\\]+$/.test(text) ? text : JSON.stringify(text))

const DIALECTS: readonly DialectEntry[] = [
  {
    name: 'pino',
    weight: 14,
    spellings: PINO,
    write: (s) => json(s, {level: s.spelling, time: s.ms, pid: 4242, hostname: 'web-1', msg: s.message}, 'name', s.ms),
  },
  {
    name: 'bunyan',
    weight: 6,
    spellings: PINO,
    write: (s) => json(s, {hostname: 'web-2', pid: 7, level: s.spelling, msg: s.message, time: iso(s.ms), v: 0}, 'name', s.ms),
  },
  {
    name: 'winston',
    weight: 10,
    spellings: WINSTON,
    write: (s) => json(s, {level: s.spelling, message: s.message, timestamp: iso(s.ms)}, 'service', s.ms),
  },
  {
    name: 'zap',
    weight: 8,
    spellings: ZAP,
    // Epoch seconds as a float.
    write: (s) => json(s, {level: s.spelling, ts: s.ms / 1000, caller: 'server/handler.go:88', msg: s.message}, 'svc', s.ms),
  },
  {
    name: 'ecs',
    weight: 8,
    spellings: ECS,
    write: (s) => {
      const level = s.i % 2 ? {'log.level': s.spelling} : {log: {level: s.spelling, logger: 'app'}}
      return json(s, {'@timestamp': iso(s.ms), ...level, message: s.message, 'ecs.version': '8.11.0'}, 'service.name', s.ms, ['trace.id', 'traceId', 'correlationId'])
    },
  },
  {
    name: 'logrus-json',
    weight: 4,
    spellings: LOGRUS,
    // Local time at +01:00, as logrus writes it on a machine in that zone.
    write: (s) => json(s, {level: s.spelling, msg: s.message, time: `${iso(s.ms + 3_600_000).slice(0, -1)}+01:00`}, 'app', s.ms),
  },
  {
    name: 'structlog',
    weight: 4,
    spellings: STRUCTLOG,
    // Zone-less ISO with microseconds, read as UTC.
    write: (s) => json(s, {event: s.message, level: s.spelling, timestamp: `${iso(s.ms).slice(0, -1)}456`}, 'service', s.ms),
  },
  {
    name: 'gcp',
    weight: 4,
    spellings: GCP,
    write: (s) => json(s, {severity: s.spelling, message: s.message, time: `${iso(s.ms).slice(0, -1)}000000Z`}, 'service', s.ms),
  },
  {
    name: 'generic-json',
    weight: 4,
    spellings: GENERIC,
    // Epoch nanoseconds as a string under `t`, level under `lvl`: the parser's less common names.
    write: (s) => json(s, {t: `${s.ms}000000`, lvl: s.spelling, msg: s.message}, 'app', s.ms),
  },
  {
    name: 'logfmt-gokit',
    weight: 8,
    spellings: GO_KIT,
    write: (s) => logfmt(s, [`ts=${iso(s.ms)}`, 'caller=main.go:42', `level=${s.spelling}`, `msg=${logfmtValue(s.message)}`], 'service', s.ms),
  },
  {
    name: 'logfmt-logrus',
    weight: 4,
    spellings: LOGRUS,
    write: (s) => logfmt(s, [`time=${JSON.stringify(iso(s.ms))}`, `level=${s.spelling}`, `msg=${logfmtValue(s.message)}`], 'app', s.ms),
  },
  {
    name: 'logfmt-log15',
    weight: 3,
    spellings: LOG15,
    write: (s) => logfmt(s, [`t=${iso(s.ms).replace('Z', '+0000')}`, `lvl=${s.spelling}`, `msg=${logfmtValue(s.message)}`], 'svc', s.ms),
  },
  {
    name: 'logfmt-slog',
    weight: 3,
    spellings: SLOG,
    write: (s) => logfmt(s, [`time=${iso(s.ms)}`, `level=${s.spelling}`, `msg=${logfmtValue(s.message)}`, 'retry'], 'service.name', s.ms),
  },
  {
    name: 'plain-log4j',
    weight: 4,
    spellings: LOG4J,
    write: (s) => plain(`${iso(s.ms).replace('T', ' ').slice(0, -1)} ${String(s.spelling).padEnd(5)} [main] c.e.Handler - ${s.message}`, s.ms),
  },
  {
    name: 'plain-python',
    weight: 3,
    spellings: PYTHON,
    write: (s) => plain(`${iso(s.ms).replace('T', ' ').slice(0, -1).replace('.', ',')} - app.module - ${s.spelling} - ${s.message}`, s.ms),
  },
  {
    name: 'plain-nginx',
    weight: 2,
    spellings: NGINX,
    write: (s) => {
      const d = new Date(s.ms)
      const stamp = `${d.getUTCFullYear()}/${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())} ${clock(d)}`
      return plain(`${stamp} [${s.spelling}] 31#31: *7 ${s.message}`, wholeSeconds(s.ms))
    },
  },
  {
    name: 'plain-syslog',
    weight: 3,
    spellings: SYSLOG,
    write: (s) => {
      const d = new Date(s.ms)
      // Facility 1 (user) or 16 (local0): PRI = facility × 8 + severity.
      const priority = (s.i % 2 ? 8 : 128) + Number(s.spelling)
      const day = String(d.getUTCDate()).padStart(2, ' ')
      return plain(`<${priority}>${MONTH_NAMES[d.getUTCMonth()]} ${day} ${clock(d)} host-3 app[812]: ${s.message}`, wholeSeconds(s.ms))
    },
  },
  {
    name: 'plain-klog',
    weight: 3,
    spellings: KLOG,
    write: (s) => {
      const d = new Date(s.ms)
      const stamp = `${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())} ${clock(d)}.${pad(d.getUTCMilliseconds(), 3)}000`
      return plain(`${s.spelling}${stamp}    1234 controller.go:118] ${s.message}`, s.ms)
    },
  },
  {name: 'plain-word', weight: 3, spellings: WORD, write: (s) => plain(`${s.spelling} ${s.message}`, null)},
  {name: 'plain-timestamp-only', weight: 2, spellings: NONE, write: (s) => plain(`${iso(s.ms)} ${s.message}`, s.ms)},
  {name: 'plain-bare', weight: 2, spellings: NONE, write: (s) => plain(s.message, null)},
  {
    name: 'json-truncated',
    weight: 2,
    spellings: ECS,
    write: (s) => {
      const whole = JSON.stringify({level: s.spelling, msg: s.message, time: iso(s.ms), service: s.service})
      // Cut two characters into the message: the level member is whole, the rest is lost.
      return plain(whole.slice(0, whole.indexOf('"msg":"') + 9), null)
    },
  },
  {name: 'dead-null', weight: 1, spellings: undefined, write: () => dead(null, 'decode')},
  {
    name: 'dead-invalid-utf8',
    weight: 1,
    spellings: undefined,
    write: (s) => dead(Buffer.concat([Buffer.from(`{"level":"info","msg":"${s.i} `), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')]), 'decode'),
  },
  {name: 'dead-utf16', weight: 0.5, spellings: undefined, write: (s) => dead(Buffer.from(`ERROR ${s.message}`, 'utf16le'), 'decode')},
]

function choose<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!
}

// mulberry32: a tiny, well-mixed 32-bit PRNG; reproducible across platforms.
function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
