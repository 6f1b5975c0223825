/**
 * The one place an ioredis client is built from kpipe's configuration. Redis is a cache
 * (DESIGN §3): a worker must never wait on it, so commands fail fast while it is away
 * (no offline queue, one retry, a short command timeout) and the client reconnects by itself.
 */
import {Redis, type RedisOptions} from 'ioredis'

import type {KpipeConfig} from '../config.js'
import {redactUrl} from '../config.js'
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
  try {
    if (client.status === 'wait' || client.status === 'end') await client.connect()
    await client.ping()
  } catch (error) {
    throw new DependencyError('redis', `Redis is unreachable at ${redactUrl(url)} (${(error as Error).message}).`, {
      hint: 'Check --redis-url / KPIPE_REDIS_URL, or start the local stack with ./scripts/stack up.',
      cause: error,
    })
  }
}
