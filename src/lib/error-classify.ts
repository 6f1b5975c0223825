/**
 * Turns whatever a command threw into a KpipeError: the one place where errors of oclif,
 * kafkajs, node-postgres, ioredis and BigQuery are recognised and given an exit code.
 */
import {DependencyError, InternalError, KpipeError, UsageError, errorMessage} from './errors.js'

interface ErrorLike {
  name?: string
  message?: string
  code?: string
  parse?: unknown
  cause?: unknown
  originalError?: unknown
  retryCount?: number
  type?: string
}

export function classifyError(error: unknown): KpipeError {
  const err = (error ?? {}) as ErrorLike
  const message = errorMessage(error)
  if (error instanceof KpipeError) {
    // oclif rewrites the message of an error thrown by a flag's parse function.
    if (/^Parsing --/.test(message)) return new UsageError(cleanParseMessage(message), {hint: error.hint, cause: error})
    return error
  }

  // oclif's parser errors (unknown flag, bad flag value, missing argument).
  if (err.parse !== undefined || /^(Nonexistent|Unexpected argument|Missing \d+ required arg)/i.test(message)) {
    return new UsageError(cleanParseMessage(message), {hint: 'See --help for the flags and examples.', cause: error})
  }
  if (/^Parsing --/.test(message)) {
    return new UsageError(cleanParseMessage(message), {hint: 'See --help for the flags and examples.', cause: error})
  }

  const kafka = kafkaDependencyError(error)
  if (kafka) return kafka

  const postgres = postgresDependencyError(error)
  if (postgres) return postgres

  return new InternalError(`Unexpected error: ${message}`, {cause: error})
}

function cleanParseMessage(message: string): string {
  const parsing = /^Parsing --([\w-]+)\s*\n\t([\s\S]*?)(\nSee more help with --help)?$/.exec(message)
  if (parsing) return `--${parsing[1]}: ${parsing[2]!.trim()}`
  return message.replace(/\nSee more help with --help/, '').split('\n')[0]!.trim()
}

/** kafkajs errors that mean "the cluster cannot be reached or refused us". */
export function kafkaDependencyError(error: unknown): DependencyError | undefined {
  const chain = causeChain(error)
  const names = chain.map((e) => e.name ?? '')
  if (!names.some((n) => n.startsWith('KafkaJS'))) return undefined
  const messages = chain.map((e) => e.message ?? '')
  if (names.includes('KafkaJSSASLAuthenticationError')) {
    return new DependencyError('kafka', `Kafka refused authentication: ${messages[names.indexOf('KafkaJSSASLAuthenticationError')]}.`, {
      hint: 'Check KPIPE_KAFKA_SASL_MECHANISM, KPIPE_KAFKA_USERNAME and KPIPE_KAFKA_PASSWORD.',
      cause: error,
    })
  }
  if (names.includes('KafkaJSConnectionClosedError')) {
    return new DependencyError(
      'kafka',
      'The Kafka broker closed the connection: it may expect TLS or SASL, or not accept the protocol versions kpipe speaks.',
      {hint: 'Check KPIPE_KAFKA_SSL and the SASL settings; kpipe supports Apache Kafka 3.x and 4.x brokers.', cause: error},
    )
  }
  const tls = messages.find((m) => /certificate|self[- ]signed|unable to verify|ERR_TLS|SSL routines|wrong version number/i.test(m))
  if (tls) {
    return new DependencyError('kafka', `Kafka's TLS handshake failed (${tls}).`, {
      hint: 'Set KPIPE_KAFKA_CA_FILE to the CA that signed the broker certificates, or check that the brokers listen with TLS.',
      cause: error,
    })
  }
  const unreachable = names.some((n) =>
    ['KafkaJSConnectionError', 'KafkaJSNumberOfRetriesExceeded', 'KafkaJSBrokerNotFound', 'KafkaJSRequestTimeoutError', 'KafkaJSLockTimeout'].includes(n),
  )
  if (unreachable) {
    const detail = messages.find((m) => /ECONNREFUSED|ENOTFOUND|timeout|timed out|Connection/i.test(m)) ?? messages.at(-1)
    return new DependencyError('kafka', `Kafka is unreachable (${detail}).`, {
      hint: 'Check --brokers / KPIPE_BROKERS, or start the local stack with ./scripts/stack up.',
      cause: error,
    })
  }
  return undefined
}

const PG_UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', '57P01', '57P03'])
const PG_AUTH = new Set(['28P01', '28000'])

/** node-postgres errors that mean "PostgreSQL cannot be reached or refused us". */
export function postgresDependencyError(error: unknown): DependencyError | undefined {
  for (const err of causeChain(error)) {
    const code = err.code ?? ''
    if (PG_AUTH.has(code)) {
      return new DependencyError('postgres', `PostgreSQL refused authentication: ${err.message}.`, {
        hint: 'Check the user and password in --pg-url / KPIPE_PG_URL.',
        cause: error,
      })
    }
    if (code === '3D000') {
      return new DependencyError('postgres', `PostgreSQL has no such database: ${err.message}.`, {
        hint: 'Create it, or point --pg-url / KPIPE_PG_URL at an existing database.',
        cause: error,
      })
    }
    if (PG_UNREACHABLE.has(code) && /postgres|5432|connect/i.test(`${err.message} ${(error as ErrorLike).name}`)) {
      return new DependencyError('postgres', `PostgreSQL is unreachable (${err.message}).`, {
        hint: 'Check --pg-url / KPIPE_PG_URL, or start the local stack with ./scripts/stack up.',
        cause: error,
      })
    }
  }
  return undefined
}

function causeChain(error: unknown): ErrorLike[] {
  const chain: ErrorLike[] = []
  let current: unknown = error
  while (current && typeof current === 'object' && chain.length < 8) {
    chain.push(current as ErrorLike)
    const next = (current as ErrorLike).cause ?? (current as ErrorLike).originalError
    if (next === current) break
    current = next
  }
  return chain
}
