/**
 * `kpipe cache rebuild`: rebuilds the Redis projections from PostgreSQL, the truth. Because the
 * projections are idempotent and order-independent, the result equals what the workers built.
 */
import type {Redis} from 'ioredis'

import {BUCKET_INDEX_PREFIX, COUNT_PREFIX, ENTITY_PREFIX, SENTINEL_KEY, applyProjections, countBuckets, latestPerEntity} from './projections.js'
import type {ProjectionSource} from './projector.js'

export interface CacheRebuildOptions {
  source: ProjectionSource
  redis: Redis
  /** Delete the existing projection keys first (a rebuild from scratch). */
  flush: boolean
  pageSize?: number
  onProgress?(events: number): void
}

export interface CacheRebuildResult {
  flushedKeys: number
  events: number
  /** Entity hashes written or confirmed (an entity spanning pages is counted once per page). */
  entityUpdates: number
  countBuckets: number
  durationMs: number
}

export async function rebuildProjections(options: CacheRebuildOptions): Promise<CacheRebuildResult> {
  const startedAt = Date.now()
  const pageSize = options.pageSize ?? 5000
  const flushedKeys = options.flush ? await deleteProjectionKeys(options.redis) : 0
  let events = 0
  let entityUpdates = 0
  const buckets = new Set<string>()
  let after: string | null = null
  for (;;) {
    const page = await options.source.readAll(after, pageSize)
    if (page.events.length === 0) break
    await applyProjections(options.redis, page.events)
    events += page.events.length
    entityUpdates += latestPerEntity(page.events).length
    for (const key of countBuckets(page.events).keys()) buckets.add(key)
    options.onProgress?.(events)
    if (page.events.length < pageSize) break
    after = page.lastEventId
  }
  await options.redis.set(SENTINEL_KEY, new Date().toISOString())
  return {flushedKeys, events, entityUpdates, countBuckets: buckets.size, durationMs: Date.now() - startedAt}
}

/** Deletes every projection key (SCAN + UNLINK, never KEYS: Redis stays responsive). */
export async function deleteProjectionKeys(redis: Redis): Promise<number> {
  let deleted = 0
  await redis.del(SENTINEL_KEY)
  for (const prefix of [ENTITY_PREFIX, COUNT_PREFIX, BUCKET_INDEX_PREFIX]) {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) deleted += await redis.unlink(...keys)
    } while (cursor !== '0')
  }
  return deleted
}
