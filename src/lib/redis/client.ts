/**
 * The one place an ioredis client is built from kpipe's configuration. Redis is a cache
 * (DESIGN §3): a worker must never wait on it, so commands fail fast while it is away
 * (no offline queue, one retry, a short command timeout) and the client reconnects by itself.
 */
import {Redis, type RedisOptions} from 'ioredis'

import type {KpipeConfig} from '../config.js'
import {redactUrl} from '../config.js'
import {tlsCertificateProblem} from '../error-classify.js'
import {DependencyError} from '../errors.js'

export interface RedisClientOptions {
  /** Per-command timeout; a worker keeps it short. */
  commandTimeoutMs?: number
  /** Commands fail at once while disconnected instead of queueing (workers: true). */
  failFast?: boolean
}

export function createRedis(redis: KpipeConfig['redis'], options: RedisClientOptions = {}): Redis {
  const failFast = options.failFast ?? true
  const settings: RedisOptions = {
    lazyConnect: true,
    connectTimeout: 2000,
    commandTimeout: options.commandTimeoutMs ?? 2000,
    enableOfflineQueue: !failFast,
    maxRetriesPerRequest: failFast ? 1 : 3,
    // Reconnect forever, at most every 2 s: Redis coming back is noticed within seconds.
    retryStrategy: (times) => Math.min(100 * times, 2000),
    enableAutoPipelining: false,
  }
  return new Redis(redis.url, settings)
}

/** Connects and pings; throws a DependencyError (exit 3) if Redis cannot be reached. */
export async function connectRedis(client: Redis, url: string): Promise<void> {
  // ioredis reports why a connection failed (a refused AUTH, a TLS verification) only as an
  // 'error' event; connect() then rejects with a bare "Connection is closed".
  let reason: unknown
  const onError = (error: unknown) => {
    reason ??= error
  }
  client.on('error', onError)
  try {
    if (client.status === 'wait' || client.status === 'end') await client.connect()
    await client.ping()
  } catch (error) {
    throw redisConnectError(reason ?? error, url)
  } finally {
    client.off('error', onError)
  }
}

/**
 * A refusal that waiting will not mend (a wrong password, an untrusted certificate), in one
 * sentence; undefined when Redis is merely unreachable.
 */
export function redisRefusal(error: unknown, url: string): DependencyError | undefined {
  const message = (error as Error | undefined)?.message ?? String(error)
  if (/^(WRONGPASS|NOAUTH)/.test(message)) {
    return new DependencyError('redis', `Redis at ${redactUrl(url)} refused authentication: ${message.replace(/\.$/, '')}.`, {
      hint: 'Check the user name and password in --redis-url / KPIPE_REDIS_URL.',
      cause: error,
    })
  }
  const untrusted = tlsCertificateProblem(error)
  if (untrusted) {
    return new DependencyError('redis', `Redis's TLS certificate at ${redactUrl(url)} is not trusted (${untrusted}).`, {
      hint: "Point NODE_EXTRA_CA_CERTS at the CA's PEM file that signed the Redis server certificate (rediss:// URLs verify it).",
      cause: error,
    })
  }
  return undefined
}

/** Why a connection to Redis failed, in one sentence: a refused password, an untrusted certificate, or unreachable. */
export function redisConnectError(error: unknown, url: string): DependencyError {
  return (
    redisRefusal(error, url) ??
    new DependencyError('redis', `Redis is unreachable at ${redactUrl(url)} (${(error as Error | undefined)?.message ?? String(error)}).`, {
      hint: 'Check --redis-url / KPIPE_REDIS_URL, or start the local stack with ./scripts/stack up.',
      cause: error,
    })
  )
}
