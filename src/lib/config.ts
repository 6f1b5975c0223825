/**
 * One configuration story: flags over KPIPE_* environment over kpipe.yaml over defaults that
 * point at the local stack (DESIGN §2). Every resolved leaf remembers where it came from, so
 * `kpipe config show` can say so. Validation names the key and the file.
 */
import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {parse as parseYaml, YAMLParseError} from 'yaml'
import {z} from 'zod'

import {checkDataset} from './bigquery/names.js'
import {parseDuration, parseSize} from './durations.js'
import {ConfigError} from './errors.js'

export const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const
export type SaslMechanism = (typeof SASL_MECHANISMS)[number]
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/** Desired settings of one topic, as written in kpipe.yaml (before defaults are applied). */
export interface TopicSettings {
  partitions?: number
  replicationFactor?: number
  /** retention.ms, in milliseconds. */
  retentionMs?: number
  /** retention.bytes, in bytes. */
  retentionBytes?: number
  /** Any topic config, passed through to Kafka as strings. */
  config: Record<string, string>
}

export interface KpipeConfig {
  kafka: {
    brokers: string[]
    clientId: string
    ssl: boolean
    caFile?: string
    /** Mutual TLS: the client certificate (PEM) and its private key (PEM). */
    certFile?: string
    keyFile?: string
    sasl?: {mechanism: SaslMechanism; username: string; password: string}
    connectionTimeoutMs: number
    requestTimeoutMs: number
  }
  postgres: {url: string}
  redis: {url: string}
  bigquery: {project: string; dataset: string; endpoint?: string}
  log: {level: LogLevel}
  metrics: {port: number; host: string}
  /** Stored logs (pipeline.logs): day partitions older than the retention are dropped. */
  logs: {retentionMs: number}
  topics: Record<string, TopicSettings>
}

export type ConfigSource = 'default' | `file ${string}` | `env ${string}` | `flag --${string}`

export interface ResolvedConfig {
  config: KpipeConfig
  /** Dotted leaf path (e.g. `kafka.brokers`, `topics.events`) → where its value came from. */
  sources: Record<string, ConfigSource>
  /** The kpipe.yaml that was read, if any. */
  file?: string
}

const DAY = 86_400_000

/** The pipeline's topics (DESIGN §1); kpipe.yaml merges over them topic by topic. */
export const DEFAULT_TOPICS: Record<string, TopicSettings> = {
  events: {partitions: 6, retentionMs: 7 * DAY, config: {}},
  logs: {partitions: 3, retentionMs: 30 * DAY, config: {}},
  analytics: {partitions: 3, retentionMs: 3 * DAY, config: {}},
  'events.dlq': {partitions: 1, retentionMs: 30 * DAY, config: {}},
  'logs.dlq': {partitions: 1, retentionMs: 30 * DAY, config: {}},
  'analytics.dlq': {partitions: 1, retentionMs: 30 * DAY, config: {}},
}

export function defaultConfig(): KpipeConfig {
  return {
    kafka: {
      brokers: ['localhost:9092'],
      clientId: 'kpipe',
      ssl: false,
      connectionTimeoutMs: 3000,
      requestTimeoutMs: 30_000,
    },
    postgres: {url: 'postgres://localhost:5432/kpipe'},
    redis: {url: 'redis://localhost:6379'},
    bigquery: {project: 'local', dataset: 'analytics', endpoint: 'http://localhost:9050'},
    log: {level: 'info'},
    // Loopback by default: /metrics is unauthenticated; a container exposing it sets 0.0.0.0.
    metrics: {port: 9464, host: '127.0.0.1'},
    logs: {retentionMs: 30 * DAY},
    topics: structuredClone(DEFAULT_TOPICS),
  }
}

// ---------------------------------------------------------------------------------------------
// kpipe.yaml schema: strict, so a misspelt key is an error naming it.

const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  try {
    return parseDuration(value)
  } catch (error) {
    ctx.addIssue({code: 'custom', message: (error as Error).message})
    return z.NEVER
  }
})
const size = z.union([z.string(), z.number()]).transform((value, ctx) => {
  try {
    return parseSize(value)
  } catch (error) {
    ctx.addIssue({code: 'custom', message: (error as Error).message})
    return z.NEVER
  }
})
const positiveInt = z.number().int().positive()
const topicName = z.string().regex(/^[a-zA-Z0-9._-]{1,249}$/, 'a topic name uses only letters, digits, ".", "_" and "-"')

const topicSchema = z.strictObject({
  partitions: positiveInt.optional(),
  replicationFactor: positiveInt.optional(),
  retention: duration.optional(),
  retentionBytes: size.optional(),
  config: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
})

const fileSchema = z.strictObject({
  kafka: z
    .strictObject({
      brokers: z.union([z.array(z.string().min(1)).min(1), z.string().min(1)]).optional(),
      clientId: z.string().min(1).optional(),
      ssl: z.boolean().optional(),
      caFile: z.string().min(1).optional(),
      certFile: z.string().min(1).optional(),
      keyFile: z.string().min(1).optional(),
      sasl: z
        .strictObject({
          mechanism: z.enum(SASL_MECHANISMS),
          username: z.string().min(1),
          passwordFile: z.string().min(1).optional(),
        })
        .optional(),
      connectionTimeout: duration.optional(),
      requestTimeout: duration.optional(),
    })
    .optional(),
  postgres: z.strictObject({url: z.string().min(1).optional()}).optional(),
  redis: z.strictObject({url: z.string().min(1).optional()}).optional(),
  bigquery: z
    .strictObject({
      project: z.string().min(1).optional(),
      dataset: z.string().regex(/^\w{1,1024}$/, 'a dataset name uses only letters, digits and "_"').optional(),
      endpoint: z.string().url().optional(),
    })
    .optional(),
  log: z.strictObject({level: z.enum(LOG_LEVELS).optional()}).optional(),
  metrics: z.strictObject({port: z.number().int().min(0).max(65535).optional(), host: z.string().min(1).optional()}).optional(),
  logs: z.strictObject({retention: duration.optional()}).optional(),
  topics: z.record(topicName, topicSchema.nullable()).optional(),
})
type FileConfig = z.infer<typeof fileSchema>

// ---------------------------------------------------------------------------------------------
// Environment and flags: each variable or flag names one leaf.

type Leaf =
  | 'kafka.brokers'
  | 'kafka.clientId'
  | 'kafka.ssl'
  | 'kafka.caFile'
  | 'kafka.certFile'
  | 'kafka.keyFile'
  | 'kafka.sasl.mechanism'
  | 'kafka.sasl.username'
  | 'kafka.sasl.password'
  | 'postgres.url'
  | 'redis.url'
  | 'bigquery.project'
  | 'bigquery.dataset'
  | 'bigquery.endpoint'
  | 'log.level'
  | 'metrics.port'
  | 'metrics.host'

export const ENV_VARS: Record<string, Leaf> = {
  KPIPE_BROKERS: 'kafka.brokers',
  KPIPE_CLIENT_ID: 'kafka.clientId',
  KPIPE_KAFKA_SSL: 'kafka.ssl',
  KPIPE_KAFKA_CA_FILE: 'kafka.caFile',
  KPIPE_KAFKA_CERT_FILE: 'kafka.certFile',
  KPIPE_KAFKA_KEY_FILE: 'kafka.keyFile',
  KPIPE_KAFKA_SASL_MECHANISM: 'kafka.sasl.mechanism',
  KPIPE_KAFKA_USERNAME: 'kafka.sasl.username',
  KPIPE_KAFKA_PASSWORD: 'kafka.sasl.password',
  KPIPE_PG_URL: 'postgres.url',
  KPIPE_REDIS_URL: 'redis.url',
  KPIPE_BQ_PROJECT: 'bigquery.project',
  KPIPE_BQ_DATASET: 'bigquery.dataset',
  KPIPE_BQ_ENDPOINT: 'bigquery.endpoint',
  KPIPE_LOG_LEVEL: 'log.level',
  KPIPE_METRICS_PORT: 'metrics.port',
  KPIPE_METRICS_HOST: 'metrics.host',
}

/** Values given on the command line, keyed by leaf, with the flag's name for `config show`. */
export type FlagOverrides = Partial<Record<Leaf, {flag: string; value: string | number | boolean}>>

export interface LoadOptions {
  /** --config; otherwise KPIPE_CONFIG; otherwise ./kpipe.yaml if it exists. */
  configPath?: string
  env?: NodeJS.ProcessEnv
  flags?: FlagOverrides
  cwd?: string
}

/** Finds, reads and validates kpipe.yaml, then layers environment and flags over it. */
export function loadConfig(options: LoadOptions = {}): ResolvedConfig {
  const env = options.env ?? process.env
  const cwd = options.cwd ?? process.cwd()
  let file: {path: string; text: string} | undefined
  const explicit = options.configPath ?? env.KPIPE_CONFIG
  if (explicit) {
    const resolved = path.resolve(cwd, explicit)
    const origin = options.configPath ? '--config' : 'KPIPE_CONFIG'
    if (!existsSync(resolved)) {
      throw new ConfigError(`The configuration file ${explicit} (from ${origin}) does not exist.`, {
        hint: 'Check the path, or leave it out to use ./kpipe.yaml and the defaults.',
      })
    }
    file = {path: resolved, text: readConfigFile(resolved, explicit, origin)}
  } else {
    const local = path.join(cwd, 'kpipe.yaml')
    if (existsSync(local)) file = {path: local, text: readConfigFile(local, 'kpipe.yaml', 'the working directory')}
  }
  return resolveConfig({file, env, flags: options.flags ?? {}})
}

/** A path that exists can still be a directory or unreadable: that is the user's to fix, exit 2. */
function readConfigFile(resolved: string, given: string, origin: string): string {
  try {
    return readFileSync(resolved, 'utf8')
  } catch (error) {
    throw new ConfigError(`The configuration file ${given} (from ${origin}) cannot be read: ${(error as Error).message}.`, {
      hint: 'Point it at a readable kpipe.yaml, or leave it out to use ./kpipe.yaml and the defaults.',
    })
  }
}

/** Pure: layers file text, environment and flags over the defaults and validates the result. */
export function resolveConfig(input: {
  file?: {path: string; text: string}
  env: NodeJS.ProcessEnv
  flags: FlagOverrides
}): ResolvedConfig {
  const config = defaultConfig()
  const sources: Record<string, ConfigSource> = {}
  for (const leaf of Object.values(ENV_VARS)) sources[leaf] = 'default'
  for (const name of Object.keys(config.topics)) sources[`topics.${name}`] = 'default'
  sources['kafka.connectionTimeout'] = 'default'
  sources['kafka.requestTimeout'] = 'default'
  sources['logs.retention'] = 'default'

  let passwordFile: string | undefined
  if (input.file) {
    const parsed = parseFile(input.file.path, input.file.text)
    const from: ConfigSource = `file ${input.file.path}`
    passwordFile = applyFile(config, sources, parsed, from)
  }
  if (passwordFile) {
    setLeaf(config, 'kafka.sasl.password', readSecretFile(passwordFile, 'kafka.sasl.passwordFile', input.file?.path))
    sources['kafka.sasl.password'] = `file ${passwordFile} (kafka.sasl.passwordFile)`
  }

  for (const [name, leaf] of Object.entries(ENV_VARS)) {
    const raw = input.env[name]
    if (raw === undefined) continue
    if (raw === '') {
      // KPIPE_BQ_ENDPOINT= (empty) means Google's own endpoint rather than the local emulator.
      if (leaf === 'bigquery.endpoint') {
        delete config.bigquery.endpoint
        sources[leaf] = `env ${name}`
      }
      continue
    }
    setLeaf(config, leaf, parseLeaf(leaf, raw, `environment variable ${name}`))
    sources[leaf] = `env ${name}`
  }
  // The *_FILE convention of containers and systemd credentials: the password from a file, so it
  // is in no environment a process listing or a crash report could show.
  const passwordFromEnvFile = input.env.KPIPE_KAFKA_PASSWORD_FILE
  if (passwordFromEnvFile) {
    if (input.env.KPIPE_KAFKA_PASSWORD) {
      throw new ConfigError('KPIPE_KAFKA_PASSWORD and KPIPE_KAFKA_PASSWORD_FILE are both set; set one.', {hint: 'Keep KPIPE_KAFKA_PASSWORD_FILE and unset KPIPE_KAFKA_PASSWORD.'})
    }
    let password: string
    try {
      password = readFileSync(passwordFromEnvFile, 'utf8').trim()
    } catch {
      throw new ConfigError(`KPIPE_KAFKA_PASSWORD_FILE points at ${passwordFromEnvFile}, which cannot be read.`)
    }
    setLeaf(config, 'kafka.sasl.password', password)
    sources['kafka.sasl.password'] = 'env KPIPE_KAFKA_PASSWORD_FILE'
  }
  for (const [leaf, given] of Object.entries(input.flags) as [Leaf, {flag: string; value: string | number | boolean}][]) {
    if (given === undefined || given.value === undefined) continue
    setLeaf(config, leaf, parseLeaf(leaf, String(given.value), `flag --${given.flag}`))
    sources[leaf] = `flag --${given.flag}`
  }
  validateSasl(config)
  validateClientCertificate(config)
  return {config, sources, file: input.file?.path}
}

function parseFile(filePath: string, text: string): FileConfig {
  let raw: unknown
  try {
    // logLevel error: an unknown tag is left to the schema check below, not a Node warning on stderr.
    raw = parseYaml(text, {logLevel: 'error'}) ?? {}
  } catch (error) {
    const where = error instanceof YAMLParseError && error.linePos ? ` at line ${error.linePos[0].line}` : ''
    throw new ConfigError(`${filePath} is not valid YAML${where}: ${(error as Error).message.split('\n')[0]}.`)
  }
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(`${filePath} must be a YAML mapping with sections such as kafka:, postgres: and topics:.`)
  }
  if (raw && typeof raw === 'object' && 'kafka' in raw) {
    const sasl = (raw as {kafka?: {sasl?: Record<string, unknown>}}).kafka?.sasl
    if (sasl && typeof sasl === 'object' && 'password' in sasl) {
      throw new ConfigError(`${filePath}: key "kafka.sasl.password" is not allowed: secrets are never kept in kpipe.yaml.`, {
        hint: 'Set KPIPE_KAFKA_PASSWORD, or point kafka.sasl.passwordFile at a file holding the password.',
      })
    }
  }
  const result = fileSchema.safeParse(raw)
  if (!result.success) throw new ConfigError(describeIssue(filePath, result.error.issues[0]!))
  return result.data
}

function describeIssue(filePath: string, issue: z.core.$ZodIssue): string {
  const key = issue.path.map(String).join('.')
  if (issue.code === 'unrecognized_keys') {
    const names = issue.keys.map((k) => (key ? `${key}.${k}` : k))
    return `${filePath}: unknown key "${names.join('", "')}"; check its spelling against the configuration reference.`
  }
  if (issue.code === 'invalid_key') {
    return `${filePath}: key "${key}" is invalid: ${issue.issues[0]?.message ?? issue.message}.`
  }
  if (issue.code === 'invalid_type') {
    return `${filePath}: key "${key}" should be ${issue.expected}.`
  }
  if (issue.code === 'invalid_value' && 'values' in issue) {
    return `${filePath}: key "${key}" must be one of ${issue.values.map(String).join(', ')}.`
  }
  return `${filePath}: key "${key}" is invalid: ${issue.message}.`.replace(/\.\.$/, '.')
}

function applyFile(config: KpipeConfig, sources: Record<string, ConfigSource>, file: FileConfig, from: ConfigSource): string | undefined {
  const set = (leaf: Leaf, value: unknown) => {
    if (value === undefined) return
    setLeaf(config, leaf, value)
    sources[leaf] = from
  }
  const k = file.kafka
  if (k) {
    set('kafka.brokers', typeof k.brokers === 'string' ? splitList(k.brokers) : k.brokers)
    set('kafka.clientId', k.clientId)
    set('kafka.ssl', k.ssl)
    set('kafka.caFile', k.caFile)
    set('kafka.certFile', k.certFile)
    set('kafka.keyFile', k.keyFile)
    set('kafka.sasl.mechanism', k.sasl?.mechanism)
    set('kafka.sasl.username', k.sasl?.username)
    if (k.connectionTimeout !== undefined) {
      config.kafka.connectionTimeoutMs = k.connectionTimeout
      sources['kafka.connectionTimeout'] = from
    }
    if (k.requestTimeout !== undefined) {
      config.kafka.requestTimeoutMs = k.requestTimeout
      sources['kafka.requestTimeout'] = from
    }
  }
  set('postgres.url', file.postgres?.url)
  set('redis.url', file.redis?.url)
  set('bigquery.project', file.bigquery?.project)
  set('bigquery.dataset', file.bigquery?.dataset)
  set('bigquery.endpoint', file.bigquery?.endpoint)
  set('log.level', file.log?.level)
  set('metrics.port', file.metrics?.port)
  set('metrics.host', file.metrics?.host)
  if (file.logs?.retention !== undefined) {
    config.logs.retentionMs = file.logs.retention
    sources['logs.retention'] = from
  }
  for (const [name, topic] of Object.entries(file.topics ?? {})) {
    if (topic === null) {
      // `events: ~` in kpipe.yaml takes a default topic out of kpipe's management.
      delete config.topics[name]
      sources[`topics.${name}`] = from
      continue
    }
    const base = config.topics[name] ?? {config: {}}
    config.topics[name] = {
      partitions: topic.partitions ?? base.partitions,
      replicationFactor: topic.replicationFactor ?? base.replicationFactor,
      retentionMs: topic.retention ?? base.retentionMs,
      retentionBytes: topic.retentionBytes ?? base.retentionBytes,
      config: {...base.config, ...Object.fromEntries(Object.entries(topic.config ?? {}).map(([key, v]) => [key, String(v)]))},
    }
    sources[`topics.${name}`] = from
  }
  return k?.sasl?.passwordFile
}

function readSecretFile(file: string, key: string, configFile?: string): string {
  const resolved = configFile ? path.resolve(path.dirname(configFile), file) : file
  try {
    return readFileSync(resolved, 'utf8').trim()
  } catch {
    throw new ConfigError(`${configFile ?? 'configuration'}: key "${key}" points at ${file}, which cannot be read.`)
  }
}

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
}

function parseLeaf(leaf: Leaf, raw: string, origin: string): unknown {
  switch (leaf) {
    case 'kafka.brokers': {
      const list = splitList(raw)
      for (const broker of list) {
        if (!/^[^\s:]+:\d{1,5}$/.test(broker)) {
          throw new ConfigError(`${origin}: "${broker}" is not a broker address; write host:port, comma-separated.`)
        }
      }
      if (list.length === 0) throw new ConfigError(`${origin}: give at least one broker as host:port.`)
      return list
    }
    case 'kafka.ssl': {
      if (/^(1|true|yes|on)$/i.test(raw)) return true
      if (/^(0|false|no|off)$/i.test(raw)) return false
      throw new ConfigError(`${origin}: "${raw}" is not a boolean; use true or false.`)
    }
    case 'kafka.sasl.mechanism': {
      const value = raw.toLowerCase()
      if (!(SASL_MECHANISMS as readonly string[]).includes(value)) {
        throw new ConfigError(`${origin}: "${raw}" is not a SASL mechanism; use one of ${SASL_MECHANISMS.join(', ')}.`)
      }
      return value
    }
    case 'log.level': {
      const value = raw.toLowerCase()
      if (!(LOG_LEVELS as readonly string[]).includes(value)) {
        throw new ConfigError(`${origin}: "${raw}" is not a log level; use one of ${LOG_LEVELS.join(', ')}.`)
      }
      return value
    }
    case 'metrics.port': {
      const port = Number(raw)
      if (!/^\d+$/.test(raw) || port > 65535) throw new ConfigError(`${origin}: "${raw}" is not a port number (0-65535).`)
      return port
    }
    case 'bigquery.dataset':
      return checkDataset(raw, origin)
    case 'bigquery.endpoint':
    case 'postgres.url':
    case 'redis.url': {
      try {
        new URL(raw)
      } catch {
        throw new ConfigError(`${origin}: "${redactUrl(raw)}" is not a URL.`)
      }
      return raw
    }
    default:
      return raw
  }
}

function setLeaf(config: KpipeConfig, leaf: Leaf, value: unknown): void {
  const [section, key, sub] = leaf.split('.') as [keyof KpipeConfig, string, string | undefined]
  const target = config[section] as unknown as Record<string, unknown>
  if (sub) {
    const nested = (target[key] ?? {}) as Record<string, unknown>
    nested[sub] = value
    target[key] = nested
  } else {
    target[key] = value
  }
}

/** Mutual TLS needs both files, and TLS. */
function validateClientCertificate(config: KpipeConfig): void {
  const {certFile, keyFile} = config.kafka
  if (!certFile && !keyFile) return
  if (!certFile || !keyFile) {
    throw new ConfigError(`Mutual TLS is half configured: kafka.${certFile ? 'keyFile' : 'certFile'} is missing.`, {
      hint: 'Set KPIPE_KAFKA_CERT_FILE and KPIPE_KAFKA_KEY_FILE together (PEM files).',
    })
  }
  if (!config.kafka.ssl) {
    throw new ConfigError('A client certificate is set (kafka.certFile) but TLS is off.', {hint: 'Set KPIPE_KAFKA_SSL=true (kafka.ssl: true) to connect with mutual TLS.'})
  }
}

function validateSasl(config: KpipeConfig): void {
  const sasl = config.kafka.sasl as Partial<NonNullable<KpipeConfig['kafka']['sasl']>> | undefined
  if (!sasl) return
  if (!sasl.mechanism && !sasl.username && !sasl.password) {
    delete config.kafka.sasl
    return
  }
  const missing = (['mechanism', 'username', 'password'] as const).filter((key) => !sasl[key])
  if (missing.length > 0) {
    throw new ConfigError(`SASL is half configured: kafka.sasl.${missing[0]} is missing.`, {
      hint: 'Set KPIPE_KAFKA_SASL_MECHANISM, KPIPE_KAFKA_USERNAME and KPIPE_KAFKA_PASSWORD together.',
    })
  }
}

// ---------------------------------------------------------------------------------------------
// Redaction, for `config show` and logs.

/** Query parameters that carry secrets in connection URLs (libpq's password and sslpassword, tokens). */
const SECRET_PARAMS = /([?&](?:password|sslpassword|passwd|pass|secret|token|access_token|api_key|apikey)=)[^&#\s]*/gi

/** Replaces the password of a URL with ***: in `user:pass@` and in `?password=` alike. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)([^@/]*)@/i, '$1***@').replace(SECRET_PARAMS, '$1***')
}

/** Redacts the passwords of every URL inside a text (driver errors sometimes quote one). */
export function redactUrlsIn(text: string): string {
  return text.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:[^\s@/]*@/gi, (match) => redactUrl(match)).replace(SECRET_PARAMS, '$1***')
}

/** The configuration as leaves with their sources, secrets redacted. */
export function describeConfig(resolved: ResolvedConfig): {key: string; value: unknown; source: ConfigSource}[] {
  const {config, sources} = resolved
  const rows: {key: string; value: unknown; source: ConfigSource}[] = []
  const add = (key: string, value: unknown) => rows.push({key, value, source: sources[key] ?? 'default'})
  add('kafka.brokers', config.kafka.brokers)
  add('kafka.clientId', config.kafka.clientId)
  add('kafka.ssl', config.kafka.ssl)
  add('kafka.caFile', config.kafka.caFile ?? null)
  add('kafka.certFile', config.kafka.certFile ?? null)
  add('kafka.keyFile', config.kafka.keyFile ?? null)
  add('kafka.sasl.mechanism', config.kafka.sasl?.mechanism ?? null)
  add('kafka.sasl.username', config.kafka.sasl?.username ?? null)
  add('kafka.sasl.password', config.kafka.sasl?.password ? '***' : null)
  add('kafka.connectionTimeout', config.kafka.connectionTimeoutMs)
  add('kafka.requestTimeout', config.kafka.requestTimeoutMs)
  add('postgres.url', redactUrl(config.postgres.url))
  add('redis.url', redactUrl(config.redis.url))
  add('bigquery.project', config.bigquery.project)
  add('bigquery.dataset', config.bigquery.dataset)
  add('bigquery.endpoint', config.bigquery.endpoint ?? null)
  add('log.level', config.log.level)
  add('metrics.port', config.metrics.port)
  add('metrics.host', config.metrics.host)
  add('logs.retention', config.logs.retentionMs)
  for (const [name, topic] of Object.entries(config.topics)) add(`topics.${name}`, topic)
  return rows
}

