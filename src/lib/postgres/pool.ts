/**
 * The one place a node-postgres pool is built from kpipe's configuration: bounded connect time,
 * `application_name` so operators can find kpipe in pg_stat_activity, and TLS as the URL's
 * `sslmode` asks with libpq's meaning (node-postgres alone treats `require` as `verify-full`,
 * which refuses the self-signed certificates `require` exists to accept).
 */
import {userInfo} from 'node:os'
import pg from 'pg'

import type {KpipeConfig} from '../config.js'
import {redactUrl} from '../config.js'
import {PG_OUT_OF_RESOURCES, postgresDependencyError, tlsCertificateProblem} from '../error-classify.js'
import {ConfigError, DependencyError, KpipeError} from '../errors.js'

export interface PgPoolOptions {
  /** Shown in pg_stat_activity; `kpipe` by default (e.g. `kpipe worker events`). */
  applicationName?: string
  /** Connections in the pool; 4 by default. */
  max?: number
  /** How long to wait for a connection, in ms; 3 s by default, so a dead server is an error soon. */
  connectTimeoutMs?: number
  /** Server-side limit per statement, in ms; none by default. */
  statementTimeoutMs?: number
  /**
   * Errors of idle pooled connections (the server restarted, the network dropped). node-postgres
   * emits them on the pool, and an unhandled 'error' event would end the process; the pool
   * replaces such a connection by itself. Ignored by default.
   */
  onIdleError?: (error: Error) => void
}

export const DEFAULT_PG_CONNECT_TIMEOUT_MS = 3000

/** Creates a pool; no connection is made until the first query. */
export function createPgPool(postgres: KpipeConfig['postgres'], options: PgPoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: pgConnectionString(postgres.url),
    application_name: options.applicationName ?? 'kpipe',
    max: options.max ?? 4,
    connectionTimeoutMillis: options.connectTimeoutMs ?? DEFAULT_PG_CONNECT_TIMEOUT_MS,
    statement_timeout: options.statementTimeoutMs ?? false,
    keepAlive: true,
  })
  pool.on('error', (error) => options.onIdleError?.(error))
  // pg-pool listens for a client's errors only while it is idle in the pool. One checked out
  // (pool.connect()) whose server ends it between two queries — a restart or `pg_ctl stop -m
  // fast` sends FATAL 57P01 to every backend — would emit an 'error' nobody hears, which ends the
  // process. The client is unusable afterwards: its next query fails, the caller's retry
  // releases it and the pool replaces it.
  pool.on('connect', (client) => {
    client.on('error', () => undefined)
  })
  return pool
}

/**
 * The URL as node-postgres should read it to behave as psql does with the same URL:
 * - `uselibpqcompat=true` is added when there is an `sslmode`, so that `require` encrypts without
 *   verifying (unless `sslrootcert` is given), `verify-ca` checks the chain, `verify-full` also
 *   the host name, and `disable` turns TLS off;
 * - with no user in the URL nor PGUSER, the operating-system user is filled in (node-postgres
 *   reads only $USER, which services and containers often lack).
 */
export function pgConnectionString(url: string, env: NodeJS.ProcessEnv = process.env): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new ConfigError(`postgres.url "${redactUrl(url)}" is not a URL.`, {hint: 'Write it as postgres://user@host:5432/database.'})
  }
  if (!/^postgres(ql)?:$/.test(parsed.protocol)) {
    throw new ConfigError(`postgres.url "${redactUrl(url)}" must start with postgres:// or postgresql://.`)
  }
  let changed = false
  if (parsed.searchParams.has('sslmode') && !parsed.searchParams.has('uselibpqcompat')) {
    parsed.searchParams.set('uselibpqcompat', 'true')
    changed = true
  }
  if (!parsed.username && !parsed.searchParams.has('user') && !env.PGUSER && !env.USER) {
    const user = osUser()
    if (user) {
      parsed.username = encodeURIComponent(user)
      changed = true
    }
  }
  return changed ? parsed.toString() : url
}

function osUser(): string | undefined {
  try {
    return userInfo().username
  } catch {
    return undefined
  }
}

/**
 * Turns a node-postgres failure into DependencyError (exit 3) when it means "PostgreSQL cannot be
 * reached or refused us"; otherwise returns undefined. The pool's own connect timeout is
 * recognised here too, since node-postgres reports it with a bare message and no code.
 */
export function pgDependencyError(error: unknown, url: string): KpipeError | undefined {
  // Classified already (another dependency's failure, such as Redis's, met on the way).
  if (error instanceof KpipeError) return error
  const known = postgresDependencyError(error, {fromPostgres: true})
  if (known) return known
  const message = error instanceof Error ? error.message : String(error)
  if (/timeout exceeded when trying to connect|connection timeout/i.test(message)) {
    return postgresDependencyError(Object.assign(new Error(`postgres at ${hostOf(url)}: no connection within the connect timeout`, {cause: error}), {code: 'ETIMEDOUT'}), {fromPostgres: true})
  }
  if (/Connection terminated unexpectedly/i.test(message)) {
    return postgresDependencyError(Object.assign(new Error(`postgres at ${hostOf(url)} closed the connection`, {cause: error}), {code: 'ECONNRESET'}), {fromPostgres: true})
  }
  const untrusted = tlsCertificateProblem(error)
  if (untrusted) {
    return new DependencyError('postgres', `PostgreSQL's TLS certificate at ${hostOf(url)} is not trusted (${untrusted}).`, {
      hint: "Add sslrootcert=<the CA's PEM file> to --pg-url / KPIPE_PG_URL (sslmode=verify-full checks the chain and the host name); sslmode=require encrypts without verifying.",
      cause: error,
    })
  }
  if (/The server does not support SSL connections/i.test(message)) {
    return new DependencyError('postgres', `PostgreSQL at ${hostOf(url)} does not accept TLS, which the URL's sslmode asks for.`, {
      hint: 'Enable TLS on the server, or remove sslmode from --pg-url / KPIPE_PG_URL if the network is trusted.',
      cause: error,
    })
  }
  return undefined
}

/** Runs `fn` with a pooled client, mapping connection failures to DependencyError. */
export async function withPgClient<T>(pool: pg.Pool, url: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  let client: pg.PoolClient
  try {
    client = await pool.connect()
  } catch (error) {
    throw pgDependencyError(error, url) ?? error
  }
  let failed: Error | undefined
  try {
    return await fn(client)
  } catch (error) {
    failed = error as Error
    throw pgDependencyError(error, url) ?? error
  } finally {
    // A connection that broke mid-use is destroyed rather than returned to the pool.
    client.release(failed !== undefined && isConnectionError(failed) ? failed : undefined)
  }
}

function isConnectionError(error: Error): boolean {
  // A full disk or exhausted memory is the server's state, not this connection's.
  if (PG_OUT_OF_RESOURCES.has((error as {code?: string}).code ?? '')) return false
  return postgresDependencyError(error, {fromPostgres: true}) instanceof DependencyError || /Connection terminated|ECONNRESET|EPIPE/i.test(error.message)
}

function hostOf(url: string): string {
  try {
    const parsed = new URL(url)
    return parsed.port ? `${parsed.hostname}:${parsed.port}` : parsed.hostname
  } catch {
    return 'the configured address'
  }
}
