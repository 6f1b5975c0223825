/**
 * Keeps the Redis projections in step with what the worker wrote to PostgreSQL, without ever
 * holding the worker up (DESIGN §3): a projection update that fails (Redis down, slow) marks the
 * offset range stale instead of failing the batch; a background catch-up rebuilds stale ranges
 * from PostgreSQL, the truth, once Redis answers again. Projections are idempotent and
 * order-independent, so a catch-up may run beside live updates.
 *
 * A stale range is also written to PostgreSQL's projection backlog before project() returns,
 * so before the range's offsets are committed: a worker that dies while Redis is unreachable
 * leaves the ranges to the next worker (read at its start-up and with every catch-up).
 */
import {randomUUID} from 'node:crypto'

import type {Redis} from 'ioredis'
import {Counter, Gauge, type Registry} from 'prom-client'

import {errorMessage} from '../errors.js'
import type {BacklogRange, ProjectionBacklog} from '../postgres/projection-backlog.js'
import type {Logger} from '../logging.js'
import {REBUILD_LOCK_KEY, SENTINEL_KEY, applyProjections, type ProjectedEvent} from './projections.js'
import {rebuildProjections} from './rebuild.js'
import {StaleRanges, type OffsetRange} from './stale-ranges.js'

/** Reads back what PostgreSQL holds for an offset range (see projection-source.ts). */
export interface ProjectionSource {
  /** Events of [from, to] on one partition with offsets above `after`, oldest first, at most `limit`. */
  readOffsets(topic: string, partition: number, range: OffsetRange, after: bigint | null, limit: number): Promise<{events: ProjectedEvent[]; lastOffset: bigint | null}>
  /** All events after `afterEventId`, by event_id, at most `limit`. */
  readAll(afterEventId: string | null, limit: number): Promise<{events: ProjectedEvent[]; lastEventId: string | null}>
}

export interface ProjectionMetrics {
  redisUp: Gauge<never>
  redisStale: Gauge<never>
  projectionCatchUps: Counter<never>
}

/**
 * The projector's metrics, beside the worker's on its registry: only a worker that projects to
 * Redis has them, so no other worker claims a Redis it does not use.
 */
export function createProjectionMetrics(registry: Registry): ProjectionMetrics {
  const registers = [registry]
  const metrics: ProjectionMetrics = {
    redisUp: new Gauge({name: 'kpipe_worker_redis_up', help: '1 when Redis answered the last projection update', registers}),
    redisStale: new Gauge({
      name: 'kpipe_worker_redis_projections_stale',
      help: '1 while Redis projections miss events that are in PostgreSQL (caught up automatically)',
      registers,
    }),
    projectionCatchUps: new Counter({
      name: 'kpipe_worker_projection_catch_ups_total',
      help: 'Offset ranges of projections rebuilt from PostgreSQL after a Redis outage',
      registers,
    }),
  }
  metrics.redisUp.set(1)
  metrics.redisStale.set(0)
  return metrics
}

export interface ProjectorOptions {
  redis: Redis
  source: ProjectionSource
  logger: Logger
  metrics?: ProjectionMetrics
  catchUpIntervalMs?: number
  catchUpPageSize?: number
  /** Durable record of stale ranges (PostgreSQL); without it staleness lives in memory only. */
  backlog?: ProjectionBacklog
  /** How often a worker that is not stale itself looks for ranges other workers left. */
  backlogCheckIntervalMs?: number
}

export class Projector {
  private readonly stale = new StaleRanges()
  private timer?: NodeJS.Timeout
  private catchingUp?: Promise<void>
  private redisUp = true
  private reportedStale = false
  /** Backlog rows read into `stale`, deleted once their ranges are re-projected. */
  private readonly loaded = new Map<string, BacklogRange>()
  private nextBacklogCheck = 0

  constructor(private readonly options: ProjectorOptions) {}

  /** True while projections miss events (ranges to catch up, or Redis lost them all). */
  get isStale(): boolean {
    return this.stale.isStale || this.lostAll
  }
  private lostAll = false

  staleRanges(): ReturnType<StaleRanges['snapshot']> {
    return this.stale.snapshot()
  }

  /**
   * Reads the durable backlog (ranges earlier workers could not project) into the stale ranges.
   * At start-up, so a worker that stops when caught up still catches them up before it exits.
   */
  async loadBacklog(): Promise<number> {
    const {backlog} = this.options
    if (!backlog) return 0
    const ranges = await backlog.pending()
    let added = 0
    for (const range of ranges) {
      if (this.loaded.has(range.id)) continue
      this.loaded.set(range.id, range)
      this.stale.add(range.topic, range.partition, range.from, range.to)
      added++
    }
    // A full page means there may be more: look again on the next pass.
    this.nextBacklogCheck = ranges.length >= 10_000 ? 0 : Date.now() + (this.options.backlogCheckIntervalMs ?? 30_000)
    if (added > 0) {
      this.reportedStale = true
      this.options.metrics?.redisStale.set(1)
      this.options.logger.warn({ranges: added}, 'PostgreSQL holds Redis projection updates that an earlier worker could not apply: catching them up')
    }
    return added
  }

  /** Starts the background catch-up. */
  start(): void {
    if (this.timer) return
    this.timer = setInterval(() => void this.catchUp(), this.options.catchUpIntervalMs ?? 2000)
    this.timer.unref()
    void this.catchUp()
  }

  /**
   * Projects a batch that PostgreSQL has acknowledged (offsets [from, to] of one partition).
   * A Redis failure marks the range stale, durably when there is a backlog; resolves with
   * whether Redis took it. Throws only when the stale range could not be recorded in PostgreSQL:
   * then the batch must not be committed (the engine retries it; the upsert is idempotent).
   */
  async project(events: ProjectedEvent[], topic: string, partition: number, range: OffsetRange): Promise<boolean> {
    const {redis} = this.options
    if (redis.status !== 'ready') {
      await this.markStale(topic, partition, range, `Redis is ${redis.status}`)
      return false
    }
    try {
      await applyProjections(redis, events)
      this.setRedisUp(true)
      return true
    } catch (error) {
      await this.markStale(topic, partition, range, errorMessage(error))
      return false
    }
  }

  /**
   * Once Redis answers: if it lost its projections (restarted without persistence, flushed),
   * rebuilds everything from PostgreSQL; otherwise rebuilds the stale ranges. One pass at a time.
   */
  catchUp(): Promise<void> {
    if (this.options.redis.status !== 'ready') return Promise.resolve()
    this.catchingUp ??= this.runCatchUp()
      .catch((error: unknown) => this.options.logger.warn({err: errorMessage(error)}, 'projection catch-up failed; will retry'))
      .finally(() => {
        this.catchingUp = undefined
      })
    return this.catchingUp
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    await this.catchingUp
  }

  private async runCatchUp(): Promise<void> {
    const {redis} = this.options
    if (this.options.backlog && (this.stale.isStale || this.lostAll || Date.now() >= this.nextBacklogCheck)) await this.loadBacklog()
    if ((await redis.exists(SENTINEL_KEY)) === 0) {
      if (!this.lostAll) {
        this.lostAll = true
        this.reportedStale = true
        this.options.metrics?.redisStale.set(1)
      }
      await this.rebuildEverything()
      return
    }
    this.lostAll = false
    if (this.stale.isStale || this.loaded.size > 0) await this.catchUpRanges()
  }

  /** Full rebuild by one worker at a time (a lock with a lease); the others wait for the sentinel. */
  private async rebuildEverything(): Promise<void> {
    const {redis, logger, source, metrics} = this.options
    const owner = randomUUID()
    const lease = 60_000
    if ((await redis.set(REBUILD_LOCK_KEY, owner, 'PX', lease, 'NX')) !== 'OK') return
    // Ranges stale before the rebuild starts are in PostgreSQL already, so the rebuild covers them.
    const covered = this.stale.snapshot()
    const coveredRows = [...this.loaded.keys()]
    const startedAt = Date.now()
    logger.warn('Redis has no complete projections (restarted or flushed): rebuilding them from PostgreSQL')
    try {
      const result = await rebuildProjections({
        source,
        redis,
        flush: false,
        pageSize: this.options.catchUpPageSize ?? 5000,
        onProgress: () => void redis.pexpire(REBUILD_LOCK_KEY, lease).catch(() => undefined),
      })
      for (const {topic, partition, ranges} of covered) for (const range of ranges) this.stale.remove(topic, partition, range)
      await this.clearBacklog(coveredRows)
      metrics?.projectionCatchUps.inc()
      this.lostAll = false
      logger.info({events: result.events, durationMs: Date.now() - startedAt}, 'rebuilt Redis projections from PostgreSQL')
      this.afterCatchUp()
    } finally {
      if ((await redis.get(REBUILD_LOCK_KEY).catch(() => null)) === owner) await redis.del(REBUILD_LOCK_KEY).catch(() => undefined)
    }
  }

  private async catchUpRanges(): Promise<void> {
    const {logger, source, redis, metrics} = this.options
    const pageSize = this.options.catchUpPageSize ?? 5000
    // Every backlog row read so far lies inside this snapshot.
    const coveredRows = [...this.loaded.keys()]
    for (const {topic, partition, ranges} of this.stale.snapshot()) {
      for (const range of ranges) {
        const startedAt = Date.now()
        let after: bigint | null = null
        let projected = 0
        for (;;) {
          const page = await source.readOffsets(topic, partition, range, after, pageSize)
          if (page.events.length > 0) await applyProjections(redis, page.events)
          projected += page.events.length
          if (page.lastOffset === null || page.events.length < pageSize) break
          after = page.lastOffset
        }
        this.stale.remove(topic, partition, range)
        metrics?.projectionCatchUps.inc()
        logger.info(
          {topic, partition, from: String(range.from), to: String(range.to), events: projected, durationMs: Date.now() - startedAt},
          'caught up Redis projections from PostgreSQL',
        )
      }
    }
    await this.clearBacklog(coveredRows)
    this.afterCatchUp()
  }

  private async clearBacklog(ids: string[]): Promise<void> {
    if (ids.length === 0 || !this.options.backlog) return
    await this.options.backlog.clear(ids)
    for (const id of ids) this.loaded.delete(id)
  }

  private afterCatchUp(): void {
    if (this.isStale) return
    this.setRedisUp(true)
    if (this.reportedStale) {
      this.reportedStale = false
      this.options.metrics?.redisStale.set(0)
      this.options.logger.info('Redis projections are current again')
    }
  }

  private async markStale(topic: string, partition: number, range: OffsetRange, reason: string): Promise<void> {
    const wasStale = this.stale.isStale
    this.stale.add(topic, partition, range.from, range.to)
    this.options.metrics?.redisStale.set(1)
    this.reportedStale = true
    this.setRedisUp(false)
    if (!wasStale) {
      this.options.logger.warn({topic, partition, reason}, 'Redis projections are stale: events keep going to PostgreSQL and will be projected when Redis answers')
    }
    // Before the offsets are committed: a crash from here on leaves the range to the next worker.
    const {backlog} = this.options
    if (!backlog) return
    const row = await backlog.mark(topic, partition, range.from, range.to)
    this.loaded.set(row.id, row)
  }

  private setRedisUp(up: boolean): void {
    if (this.redisUp === up) return
    this.redisUp = up
    this.options.metrics?.redisUp.set(up ? 1 : 0)
  }
}
