/**
 * Global set-up of the integration and end-to-end projects (vitest.config.ts): the shared stack
 * is reachable, its pipeline schema is current, and its Redis holds complete projections.
 *
 * The last one matters for a stack whose Redis has just started (a fresh clone, a restart):
 * without the sentinel key, the first worker of the run rebuilds every projection from
 * PostgreSQL under a lock, and a worker killed meanwhile (the crash tests do that) leaves the
 * lock to expire while the workers of other tests exit with stale projections. Done once here,
 * before any test starts, the rebuild races nothing. Both projects run this; it is idempotent
 * (migrations take an advisory lock, projections are merged).
 */
import {Redis} from 'ioredis'
import pg from 'pg'

import {migrate} from '../../src/lib/postgres/migrations.js'
import {PgProjectionSource} from '../../src/lib/redis/projection-source.js'
import {SENTINEL_KEY} from '../../src/lib/redis/projections.js'
import {rebuildProjections} from '../../src/lib/redis/rebuild.js'
import {STACK_PG_URL} from './services.js'

export async function setup(): Promise<void> {
  const pool = new pg.Pool({connectionString: STACK_PG_URL, max: 1, connectionTimeoutMillis: 5000})
  const redis = new Redis(process.env.KPIPE_REDIS_URL ?? 'redis://localhost:6379', {lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null})
  redis.on('error', () => undefined)
  try {
    const client = await pool.connect().catch((error: unknown) => {
      throw new Error(`The tests need the local stack and its PostgreSQL does not answer (${(error as Error).message}): run ./scripts/stack up --secure, then eval "$(./scripts/stack env)".`, {cause: error})
    })
    try {
      await migrate(client)
    } finally {
      client.release()
    }
    await redis.connect().catch((error: unknown) => {
      throw new Error(`The tests need the local stack and its Redis does not answer (${(error as Error).message}): run ./scripts/stack up --secure.`, {cause: error})
    })
    if ((await redis.exists(SENTINEL_KEY)) === 0) {
      await rebuildProjections({source: new PgProjectionSource(pool), redis, flush: false})
    }
  } finally {
    redis.disconnect()
    await pool.end()
  }
}
