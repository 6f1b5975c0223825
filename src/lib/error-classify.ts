/**
 * Turns whatever a command threw into a KpipeError: the one place where errors of oclif,
 * kafkajs, node-postgres, ioredis, @google-cloud/bigquery and Node's own sockets are recognised
 * and given an exit code.
 *
 * A bare socket error ("connect ECONNREFUSED 127.0.0.1:6379") does not say whose socket it was:
 * it is matched by address against the endpoints of the resolved configuration, never guessed
 * from words in the message, so a refused Redis is not blamed on PostgreSQL.
 */
import {ConfigError, DependencyError, InternalError, KpipeError, UsageError, errorMessage, type Dependency} from './errors.js'

interface ErrorLike {
  name?: string
  message?: string
  code?: string
  parse?: unknown
  cause?: unknown
  originalError?: unknown
  errors?: unknown[]
  retriable?: boolean
  type?: string
  syscall?: string
  address?: string
  port?: number
  severity?: string
}

/** Where each dependency listens, from the resolved configuration. */
export interface Endpoints {
  kafka?: string[]
  postgres?: string
  redis?: string
  bigquery?: string
}

export function classifyError(error: unknown, context: {endpoints?: Endpoints} = {}): KpipeError {
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

  return (
    kafkaError(error) ??
    postgresError(error) ??
    redisError(error) ??
    bigqueryError(error, context.endpoints?.bigquery) ??
    listenError(error) ??
    socketError(error, context.endpoints ?? {}) ??
    new InternalError(`Unexpected error: ${message}`, {cause: error})
  )
}

function cleanParseMessage(message: string): string {
  const parsing = /^Parsing --([\w-]+)\s*\n\t([\s\S]*?)(\nSee more help with --help)?$/.exec(message)
  if (parsing) return `--${parsing[1]}: ${parsing[2]!.trim()}`
  // Flag-relation failures (exclusive, dependsOn) come as a heading and one indented line each.
  const listed = /^The following errors? occurred:\s*\n([\s\S]*?)(\nSee more help with --help)?$/.exec(message)
  if (listed) {
    return listed[1]!
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean)
      .join('; ')
  }
  return message.replace(/\nSee more help with --help/, '').split('\n')[0]!.trim()
}

// ---------------------------------------------------------------------------------------------
// Kafka

/** kafkajs errors that mean "the cluster cannot be reached, refused us, or refused the request". */
export function kafkaDependencyError(error: unknown): KpipeError | undefined {
  return kafkaError(error)
}

function kafkaError(error: unknown): KpipeError | undefined {
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
  // CreateTopics answers per topic: kafkajs' KafkaJSCreateTopicError names it.
  const createRefused = chain.find((e) => e.name === 'KafkaJSCreateTopicError' && /AUTHORIZATION_FAILED$/.test(e.type ?? '')) as (ErrorLike & {topic?: string}) | undefined
  if (createRefused?.topic) {
    const described = kafkaAccessError(createRefused, {topic: {name: createRefused.topic, operation: 'CREATE'}, cluster: {operation: 'CREATE'}})
    if (described) return new DependencyError('kafka', described.message, {hint: described.hint, cause: error})
  }
  const refusal = chain.find((e) => PROTOCOL_ERRORS.has(e.name ?? '') && typeof e.type === 'string')
  if (refusal) {
    const described = kafkaRefusal(refusal.type!, refusal.message ?? '', error)
    if (described) return described
  }
  if (names.includes('KafkaJSConnectionClosedError')) {
    return new DependencyError(
      'kafka',
      'The Kafka broker closed the connection: it may expect TLS or SASL, or not accept the protocol versions kpipe speaks.',
      {hint: 'Check KPIPE_KAFKA_SSL and the SASL settings; kpipe supports Apache Kafka 3.x and 4.x brokers.', cause: error},
    )
  }
  // The broker's TLS alert about the client's side of the handshake (a listener with
  // ssl.client.auth=required): no client certificate, or one of a CA the broker does not trust.
  const alert = messages.map((m) => /ssl\/tls alert (certificate unknown|bad certificate|unknown ca|certificate required|certificate expired|certificate revoked|access denied)/i.exec(m)?.[1]).find(Boolean)
  if (alert) {
    return new DependencyError('kafka', `Kafka refused kpipe's client certificate in the TLS handshake (TLS alert "${alert}"): the brokers require one signed by a CA they trust.`, {
      hint: 'Set KPIPE_KAFKA_CERT_FILE and KPIPE_KAFKA_KEY_FILE to a certificate and key (PEM) signed by a CA in the brokers\' ssl.truststore.',
      cause: error,
    })
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

/**
 * What a client was doing when Kafka refused it as not authorised: the permission each kind of
 * refusal means there (a consumer's TOPIC_AUTHORIZATION_FAILED is READ on its topic, a producer's
 * is WRITE). Kafka's refusal names neither the operation nor the resource; the caller knows both.
 */
/** kafkajs' errors that carry a broker's error name (`type`). */
const PROTOCOL_ERRORS = new Set(['KafkaJSProtocolError', 'KafkaJSCreateTopicError'])

export interface KafkaAccess {
  /** `User:<name>` (SASL), or undefined when Kafka derives it (a client certificate). */
  principal?: string
  topic?: KafkaResourceAccess
  group?: KafkaResourceAccess
  transactionalId?: KafkaResourceAccess
  cluster?: {operation: string}
}

/** `prefix`: the name is one of many made at run time, granted by a PREFIXED ACL. */
export interface KafkaResourceAccess {
  name: string
  operation: string
  prefix?: string
}

function accessOn(kind: string, flag: string, access: KafkaResourceAccess | undefined) {
  if (!access) return undefined
  const {name, prefix} = access
  return {
    ...access,
    on: prefix ? `${kind} ${name} (an ACL on the prefix ${prefix})` : `${kind} ${name}`,
    flag: prefix ? `--resource-pattern-type prefixed ${flag} ${prefix}` : `${flag} ${name}`,
  }
}

const ACCESS_BY_REFUSAL = {
  TOPIC_AUTHORIZATION_FAILED: (a: KafkaAccess) => accessOn('topic', '--topic', a.topic),
  GROUP_AUTHORIZATION_FAILED: (a: KafkaAccess) => accessOn('group', '--group', a.group),
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: (a: KafkaAccess) => accessOn('transactional id', '--transactional-id', a.transactionalId),
  CLUSTER_AUTHORIZATION_FAILED: (a: KafkaAccess) => a.cluster && {...a.cluster, on: 'the cluster', flag: '--cluster'},
} as const

/**
 * A refusal as not authorised, in one sentence naming the principal, the missing permission and
 * the resource; undefined when the error is no such refusal, or one the access does not explain.
 */
export function kafkaAccessError(error: unknown, access: KafkaAccess): DependencyError | undefined {
  const refusal = causeChain(error).find((e) => PROTOCOL_ERRORS.has(e.name ?? '') && (e.type ?? '') in ACCESS_BY_REFUSAL)
  if (!refusal) return undefined
  const type = refusal.type as keyof typeof ACCESS_BY_REFUSAL
  const needed = ACCESS_BY_REFUSAL[type](access)
  if (!needed) return undefined
  const who = access.principal ?? "kpipe's principal"
  // kafka-acls spells operations in CamelCase: READ -> Read, IDEMPOTENT_WRITE -> IdempotentWrite.
  const aclOperation = needed.operation
    .toLowerCase()
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('')
  return new DependencyError('kafka', `Kafka refused ${who} (${type}): it lacks ${needed.operation} on ${needed.on}.`, {
    hint: `Grant it, e.g. kafka-acls --add --allow-principal ${access.principal ?? 'User:<principal>'} --operation ${aclOperation} ${needed.flag}; see the README's ACL table.`,
    cause: error,
  })
}

/** A broker's refusal of a request, by Kafka's error name (kafkajs' `type`). */
function kafkaRefusal(type: string, message: string, cause: unknown): KpipeError | undefined {
  const reason = `${type}: ${message.replace(/\.$/, '')}`
  if (/AUTHORIZATION_FAILED$/.test(type)) {
    return new DependencyError('kafka', `Kafka refused the request as not authorised (${reason}).`, {
      hint: "Grant kpipe's principal the ACLs it needs on the topic and consumer group (Write on dead-letter topics, Read on the consumed topic and group).",
      cause,
    })
  }
  if (type === 'LEADER_NOT_AVAILABLE' || type === 'NOT_LEADER_FOR_PARTITION' || type === 'NOT_LEADER_OR_FOLLOWER') {
    // kafkajs 2.2 fails a whole metadata request on one leaderless partition (tulios/kafkajs#639).
    return new DependencyError('kafka', `Kafka has a partition without a leader, and its client cannot read the cluster's metadata meanwhile (${reason}).`, {
      hint: 'Run kpipe health: it reads the cluster without that client and names the offline partitions and missing brokers.',
      cause,
    })
  }
  if (type === 'MESSAGE_TOO_LARGE' || type === 'RECORD_LIST_TOO_LARGE') {
    return new ConfigError(`Kafka refused a record batch as too large (${reason}).`, {
      hint: "Raise the topic's max.message.bytes (kpipe topic create --config max.message.bytes=…, or in kpipe.yaml), or send smaller records.",
      cause,
    })
  }
  if (type === 'UNKNOWN_TOPIC_OR_PARTITION') {
    return new ConfigError(`Kafka has no such topic or partition (${reason}).`, {hint: 'Create the topic with `kpipe topics apply` or `kpipe topic create`.', cause})
  }
  if (type === 'OUT_OF_ORDER_SEQUENCE_NUMBER' || type === 'UNKNOWN_PRODUCER_ID' || type === 'INVALID_PRODUCER_EPOCH') {
    // kafkajs' idempotent producer does not reset its sequence numbers when a leader dies with
    // batches in flight, as Java's does; the broker then refuses what follows. Not a kpipe bug:
    // a cluster event the producer cannot recover from by itself.
    return new DependencyError('kafka', `Kafka refused the idempotent producer's next batch after a leader change (${reason}).`, {
      hint: 'What was acknowledged before it is written; run the command again.',
      cause,
    })
  }
  if (type === 'UNSUPPORTED_VERSION') {
    return new DependencyError('kafka', `The Kafka broker does not accept a protocol version kpipe speaks (${reason}).`, {
      hint: 'kpipe supports Apache Kafka 3.x and 4.x brokers.',
      cause,
    })
  }
  if (['INVALID_RECORD', 'POLICY_VIOLATION', 'INVALID_CONFIG', 'INVALID_REQUEST', 'CORRUPT_MESSAGE', 'INVALID_REPLICATION_FACTOR', 'INVALID_PARTITIONS'].includes(type)) {
    return new ConfigError(`Kafka refused the request (${reason}).`, {hint: "Check the topic's configuration and what is sent to it.", cause})
  }
  return undefined
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

// ENOENT: a Unix socket that is not there (PostgreSQL's ?host=/run/postgresql with no server).
const NETWORK_CODES = new Set(['ENOENT', 'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE'])
const PG_AUTH = new Set(['28P01', '28000'])
/** SQLSTATEs of a server that is going away or not taking connections. */
const PG_UNAVAILABLE = /^(08...|57P0[1-4]|53300)$/
/** SQLSTATEs of a server that is up but out of resources for now: 53100 disk_full, 53200 out_of_memory. */
export const PG_OUT_OF_RESOURCES = new Set(['53100', '53200'])
/** Missing schema objects: the schema was never migrated, or was dropped under a running worker. */
const PG_SCHEMA_MISSING = new Set(['42P01', '42703', '3F000', '42883'])

/**
 * node-postgres errors that mean "PostgreSQL cannot be reached, refused us, or lacks the schema".
 * `fromPostgres`: the caller knows the error came from a PostgreSQL client, so a bare socket
 * error is PostgreSQL's too (pgDependencyError in pool.ts says so).
 */
export function postgresDependencyError(error: unknown, options: {fromPostgres?: boolean} = {}): KpipeError | undefined {
  return postgresError(error, options.fromPostgres ?? false)
}

function postgresError(error: unknown, fromPostgres = false): KpipeError | undefined {
  for (const err of causeChain(error)) {
    const code = err.code ?? ''
    // A server error from node-postgres carries a SQLSTATE and a severity.
    const isServerError = typeof err.severity === 'string' && /^[0-9A-Z]{5}$/.test(code)
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
    if (isServerError && PG_SCHEMA_MISSING.has(code)) {
      return new ConfigError(`PostgreSQL lacks part of kpipe's schema (${err.message}): it was never migrated, or was dropped while kpipe ran.`, {
        hint: 'Run `kpipe db migrate`, then start again.',
        cause: error,
      })
    }
    if (isServerError && code === '42501') {
      return new DependencyError('postgres', `PostgreSQL refused permission: ${err.message}.`, {
        hint: "Grant kpipe's database user the privileges on schema pipeline (or run kpipe db migrate as its owner).",
        cause: error,
      })
    }
    if (isServerError && PG_OUT_OF_RESOURCES.has(code)) {
      return new DependencyError('postgres', `PostgreSQL is out of ${code === '53100' ? 'disk space' : 'memory'}: ${err.message}.`, {
        hint: code === '53100' ? "Free space on the database server's disk (or grow it); kpipe's workers retry until writes succeed again." : "Check the database server's memory settings and load.",
        cause: error,
      })
    }
    if ((isServerError || fromPostgres) && PG_UNAVAILABLE.test(code)) {
      return new DependencyError('postgres', `PostgreSQL is unavailable (${err.message}).`, {
        hint: 'Check that the server is up and accepting connections (--pg-url / KPIPE_PG_URL).',
        cause: error,
      })
    }
    if (fromPostgres && NETWORK_CODES.has(code)) {
      return new DependencyError('postgres', `PostgreSQL is unreachable (${err.message}).`, {
        hint: 'Check --pg-url / KPIPE_PG_URL, or start the local stack with ./scripts/stack up.',
        cause: error,
      })
    }
  }
  return undefined
}

// ---------------------------------------------------------------------------------------------
// Redis

function redisError(error: unknown): KpipeError | undefined {
  for (const err of causeChain(error)) {
    if (err.name === 'ReplyError' && /^(NOAUTH|WRONGPASS)/.test(err.message ?? '')) {
      return new DependencyError('redis', `Redis refused authentication: ${err.message}.`, {hint: 'Check the user and password in --redis-url / KPIPE_REDIS_URL.', cause: error})
    }
    if (err.name === 'MaxRetriesPerRequestError' || /^(Connection is closed|Command timed out|Stream isn't writeable)/.test(err.message ?? '')) {
      return new DependencyError('redis', `Redis is unreachable (${err.message?.replace(/\.$/, '')}).`, {
        hint: 'Check --redis-url / KPIPE_REDIS_URL, or start the local stack with ./scripts/stack up.',
        cause: error,
      })
    }
  }
  return undefined
}

// ---------------------------------------------------------------------------------------------
// BigQuery (@google-cloud/bigquery: googleapis' ApiError, node-fetch's FetchError, google-auth)

interface GoogleApiErrorLike extends ErrorLike {
  errors?: {reason?: string; message?: string}[]
  response?: unknown
}

const GOOGLE_URL = /\b(https?:\/\/[^\s/]+)(?:\/[^\s]*)?\/bigquery\/v2\//

/**
 * Errors of the BigQuery client that mean "BigQuery cannot be reached, refused us, or the
 * configuration names something it does not have". `endpoint` names where it was asked (the
 * configured emulator; unset means Google's).
 */
export function bigqueryDependencyError(error: unknown, endpoint?: string): KpipeError | undefined {
  return bigqueryError(error, endpoint)
}

function bigqueryError(error: unknown, endpoint?: string): KpipeError | undefined {
  const where = (url?: string) => url ?? endpoint ?? 'https://bigquery.googleapis.com'
  for (const err of causeChain(error) as GoogleApiErrorLike[]) {
    const message = err.message ?? ''
    if (/Could not load the default credentials|Could not refresh access token|invalid_grant|unauthorized_client/i.test(message)) {
      return new DependencyError('bigquery', `BigQuery needs credentials kpipe could not find or use (${firstLine(message)}).`, {
        hint: 'Set GOOGLE_APPLICATION_CREDENTIALS to a service account key file (or run `gcloud auth application-default login`); for the local emulator set --bq-endpoint / KPIPE_BQ_ENDPOINT.',
        cause: error,
      })
    }
    const url = GOOGLE_URL.exec(message)?.[1]
    // node-fetch's FetchError quotes the URL it failed to reach: that says it was BigQuery.
    if (url && (err.name === 'FetchError' || NETWORK_CODES.has(err.code ?? '')) ) {
      const reason = /reason: (.*)$/.exec(message)?.[1] ?? (err.type === 'request-timeout' ? 'no answer before the timeout' : (err.code ?? message))
      return new DependencyError('bigquery', `BigQuery is unreachable at ${url} (${reason}).`, {
        hint: 'Check --bq-endpoint / KPIPE_BQ_ENDPOINT (unset means Google\'s), or start the local stack with ./scripts/stack up.',
        cause: error,
      })
    }
    const status = typeof err.code === 'number' ? err.code : undefined
    if (status === undefined || !Array.isArray(err.errors) || !('response' in err)) continue
    const reasons = err.errors.map((e) => e?.reason ?? '')
    const detail = firstLine(message).replace(/\.$/, '')
    if (reasons.some((r) => /quotaExceeded|rateLimitExceeded/.test(r))) {
      return new DependencyError('bigquery', `BigQuery refused the request over a quota or rate limit (${detail}).`, {hint: 'Wait and retry, or raise the quota in the Google Cloud console.', cause: error})
    }
    if (status === 401 || status === 403) {
      return new DependencyError('bigquery', `BigQuery refused kpipe's credentials or permissions at ${where()} (HTTP ${status}: ${detail}).`, {
        hint: "Grant kpipe's service account BigQuery Data Editor on the dataset (and BigQuery User on the project to create it), or check GOOGLE_APPLICATION_CREDENTIALS.",
        cause: error,
      })
    }
    if (status === 404 && /project/i.test(message)) {
      return new ConfigError(`BigQuery has no such project (${detail}).`, {hint: 'Check --bq-project / KPIPE_BQ_PROJECT (bigquery.project in kpipe.yaml).', cause: error})
    }
    if (status === 404) {
      return new ConfigError(`BigQuery has no such dataset or table (${detail}).`, {hint: 'Check --bq-dataset / KPIPE_BQ_DATASET and --table.', cause: error})
    }
    if (status === 400 && /dataset|table|project/i.test(message)) {
      return new ConfigError(`BigQuery refused a name from the configuration (${detail}).`, {
        hint: 'Check --bq-project, --bq-dataset / --dataset and --table (KPIPE_BQ_PROJECT, KPIPE_BQ_DATASET).',
        cause: error,
      })
    }
    if (status >= 500) {
      return new DependencyError('bigquery', `BigQuery is unavailable at ${where()} (HTTP ${status}: ${detail}).`, {hint: 'Retry later; check the endpoint with --bq-endpoint / KPIPE_BQ_ENDPOINT.', cause: error})
    }
  }
  return undefined
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.trim()
}

// ---------------------------------------------------------------------------------------------
// Sockets

/** A server of kpipe's own (the metrics endpoint) could not listen: an operator's choice, exit 2. */
function listenError(error: unknown): KpipeError | undefined {
  const err = causeChain(error).find((e) => e.syscall === 'listen' && (e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL'))
  if (!err) return undefined
  const where = err.port !== undefined ? `${err.address ?? ''}:${err.port}` : 'the configured address'
  const why = err.code === 'EADDRINUSE' ? 'is already in use (another worker on this host?)' : err.code === 'EACCES' ? 'needs privileges kpipe lacks' : 'is not an address of this host'
  return new ConfigError(`Cannot listen on ${where} for /metrics: the address ${why}.`, {
    hint: 'Give each worker its own --metrics-port (KPIPE_METRICS_PORT), or 0 to turn the endpoint off; --metrics-host sets the address.',
    cause: error,
  })
}

/** A socket error matched by address to the dependency configured there. */
function socketError(error: unknown, endpoints: Endpoints): KpipeError | undefined {
  const err = causeChain(error).find((e) => NETWORK_CODES.has(e.code ?? '') && (e.syscall === 'connect' || e.syscall === 'getaddrinfo' || e.syscall === 'read' || e.syscall === 'write'))
  if (!err) return undefined
  const dependency = dependencyAt(err, endpoints)
  const detail = err.message ?? err.code
  if (!dependency) {
    return new KpipeError('unreachable', `A network connection failed (${detail}), to an address that is none of the configured services.`, {
      hint: 'Run `kpipe config show` to see where kpipe connects; rerun with --debug for the stack trace.',
      cause: error,
    })
  }
  const name = {kafka: 'Kafka', postgres: 'PostgreSQL', redis: 'Redis', bigquery: 'BigQuery'}[dependency]
  const setting = {kafka: '--brokers / KPIPE_BROKERS', postgres: '--pg-url / KPIPE_PG_URL', redis: '--redis-url / KPIPE_REDIS_URL', bigquery: '--bq-endpoint / KPIPE_BQ_ENDPOINT'}[dependency]
  return new DependencyError(dependency, `${name} is unreachable (${detail}).`, {hint: `Check ${setting}, or start the local stack with ./scripts/stack up.`, cause: error})
}

const DEFAULT_PORTS: Record<string, number> = {'postgres:': 5432, 'postgresql:': 5432, 'redis:': 6379, 'rediss:': 6379, 'http:': 80, 'https:': 443}

function dependencyAt(err: ErrorLike, endpoints: Endpoints): Dependency | undefined {
  const port = err.port
  const host = err.address ?? hostFromMessage(err.message ?? '')
  const candidates: [Dependency, {host: string; port: number}[]][] = [
    ['postgres', endpoints.postgres ? [urlEndpoint(endpoints.postgres)].filter(isDefined) : []],
    ['redis', endpoints.redis ? [urlEndpoint(endpoints.redis)].filter(isDefined) : []],
    ['bigquery', endpoints.bigquery ? [urlEndpoint(endpoints.bigquery)].filter(isDefined) : []],
    ['kafka', (endpoints.kafka ?? []).map(brokerEndpoint).filter(isDefined)],
  ]
  for (const [dependency, list] of candidates) {
    for (const endpoint of list) {
      if (port !== undefined ? endpoint.port === port && sameHost(endpoint.host, host) : sameHost(endpoint.host, host)) return dependency
    }
  }
  return undefined
}

function urlEndpoint(url: string): {host: string; port: number} | undefined {
  try {
    const parsed = new URL(url)
    return {host: parsed.hostname || 'localhost', port: parsed.port ? Number(parsed.port) : (DEFAULT_PORTS[parsed.protocol] ?? 0)}
  } catch {
    return undefined
  }
}

function brokerEndpoint(broker: string): {host: string; port: number} | undefined {
  const match = /^(.*):(\d+)$/.exec(broker)
  return match ? {host: match[1]!, port: Number(match[2])} : undefined
}

function hostFromMessage(message: string): string | undefined {
  return /(?:ENOTFOUND|EAI_AGAIN)\s+(\S+)/.exec(message)?.[1]
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]', '0.0.0.0'])

function sameHost(a: string, b: string | undefined): boolean {
  if (b === undefined) return false
  const x = a.replace(/^\[|\]$/g, '').toLowerCase()
  const y = b.replace(/^\[|\]$/g, '').replace(/^::ffff:/, '').toLowerCase()
  return x === y || (LOOPBACK.has(x) && LOOPBACK.has(y))
}

function isDefined<T>(value: T | undefined): value is T {
  return value !== undefined
}

/** Node's TLS verification failures (tls.connect's error codes). */
const TLS_CERT_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
])

/** A server certificate Node did not trust, anywhere in the error's causes, as its message. */
export function tlsCertificateProblem(error: unknown): string | undefined {
  const found = causeChain(error).find((e) => TLS_CERT_CODES.has(e.code ?? ''))
  return found ? (found.message ?? found.code!).replace(/; if the root CA is installed locally.*$/, '') : undefined
}

function causeChain(error: unknown): ErrorLike[] {
  const chain: ErrorLike[] = []
  const queue: unknown[] = [error]
  const seen = new Set<unknown>()
  while (queue.length > 0 && chain.length < 16) {
    const current = queue.shift()
    if (!current || typeof current !== 'object' || seen.has(current)) continue
    seen.add(current)
    const e = current as ErrorLike
    chain.push(e)
    queue.push(e.cause, e.originalError)
    // kafkajs' KafkaJSAggregateError and Node's AggregateError (one failure per broker or address).
    if (Array.isArray(e.errors)) queue.push(...e.errors)
  }
  return chain
}
