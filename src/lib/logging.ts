/**
 * The logger factory: JSON lines on stderr (stdout stays data), level from configuration,
 * secrets redacted wherever they appear as fields or inside URLs (DESIGN §4).
 */
import {destination as pinoDestination, pino, stdTimeFunctions, type DestinationStream, type Logger} from 'pino'

import {redactUrl, redactUrlsIn, type LogLevel} from './config.js'

export type {Logger} from 'pino'
export {redactUrlsIn}

const SECRET_FIELDS = new Set(['password', 'passwd', 'secret', 'token', 'apikey', 'authorization', 'sasl', 'sslpassword', 'privatekey', 'key_password'])
const URL_FIELDS = new Set(['url', 'pgurl', 'redisurl', 'connectionstring', 'redis', 'postgres'])
/** Deeper than this, a log field is summarised rather than walked (no log line is that deep on purpose). */
const MAX_DEPTH = 8

export interface LoggerOptions {
  level: LogLevel
  name?: string
  /** Where lines go; stderr by default (tests pass a stream). */
  destination?: NodeJS.WritableStream | number
  base?: Record<string, unknown>
}

export function createLogger(options: LoggerOptions): Logger {
  const destination =
    typeof options.destination === 'object' ? options.destination : pinoDestination({dest: options.destination ?? 2, sync: true})
  return pino(
    {
      name: options.name ?? 'kpipe',
      level: options.level,
      base: {pid: process.pid, ...options.base},
      timestamp: stdTimeFunctions.isoTime,
      // pino's own redact takes fixed paths (two levels here would miss `err.config.password`):
      // the fields are walked instead, at any depth, which costs little at a worker's log rate.
      formatters: {level: (label) => ({level: label}), log: (object) => redactFields(object) as Record<string, unknown>},
      hooks: {
        // Messages sometimes quote a connection string (driver errors do): take the password out.
        logMethod(args, method) {
          const redacted = args.map((a) => (typeof a === 'string' ? redactUrlsIn(a) : a)) as Parameters<typeof method>
          return method.apply(this, redacted)
        },
      },
    },
    destination as DestinationStream,
  )
}

/** A copy of a log line's fields with secrets replaced, at any depth; cycles are cut. */
export function redactFields(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (typeof value === 'string') return redactUrlsIn(value)
  if (value === null || typeof value !== 'object') return value
  if (seen.has(value)) return '[circular]'
  if (depth >= MAX_DEPTH) return '[too deep]'
  seen.add(value)
  if (value instanceof Error) {
    const error: Record<string, unknown> = {type: value.name, message: redactUrlsIn(value.message)}
    if (value.stack) error.stack = redactUrlsIn(value.stack)
    for (const [k, v] of Object.entries(value)) error[k] = redactEntry(k, v, depth, seen)
    return error
  }
  if (Array.isArray(value)) return value.map((item) => redactFields(item, depth + 1, seen))
  if (Buffer.isBuffer(value)) return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) out[k] = redactEntry(k, v, depth, seen)
  return out
}

function redactEntry(key: string, value: unknown, depth: number, seen: WeakSet<object>): unknown {
  const name = key.toLowerCase()
  if (SECRET_FIELDS.has(name)) return value === null || value === undefined ? value : '[redacted]'
  if (URL_FIELDS.has(name) && typeof value === 'string') return redactUrl(value)
  return redactFields(value, depth + 1, seen)
}
