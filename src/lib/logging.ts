/**
 * The logger factory: JSON lines on stderr (stdout stays data), level from configuration,
 * secrets redacted wherever they appear as fields or inside URLs (DESIGN §4).
 */
import {destination as pinoDestination, pino, stdTimeFunctions, type DestinationStream, type Logger} from 'pino'

import {redactUrl, type LogLevel} from './config.js'

export type {Logger} from 'pino'

const SECRET_FIELDS = ['password', 'passwd', 'secret', 'token', 'apiKey', 'authorization', 'sasl']
const URL_FIELDS = ['url', 'pgUrl', 'redisUrl', 'connectionString']

export interface LoggerOptions {
  level: LogLevel
  name?: string
  /** Where lines go; stderr by default (tests pass a stream). */
  destination?: NodeJS.WritableStream | number
  base?: Record<string, unknown>
}

export function createLogger(options: LoggerOptions): Logger {
  const paths = [...SECRET_FIELDS, ...SECRET_FIELDS.map((f) => `*.${f}`), ...URL_FIELDS, ...URL_FIELDS.map((f) => `*.${f}`)]
  const destination =
    typeof options.destination === 'object' ? options.destination : pinoDestination({dest: options.destination ?? 2, sync: true})
  return pino(
    {
      name: options.name ?? 'kpipe',
      level: options.level,
      base: {pid: process.pid, ...options.base},
      timestamp: stdTimeFunctions.isoTime,
      formatters: {level: (label) => ({level: label})},
      redact: {
        paths,
        censor: (value: unknown, path: string[]) =>
          URL_FIELDS.includes(path.at(-1) ?? '') && typeof value === 'string' ? redactUrl(value) : '[redacted]',
      },
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

/** Redacts the passwords of every URL inside a text. */
export function redactUrlsIn(text: string): string {
  return text.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:[^\s@/]*@/gi, (match) => redactUrl(match))
}
