/**
 * Keeps the Redis projections in step with what the worker wrote to PostgreSQL, without ever
 * holding the worker up (DESIGN §3): a projection update that fails (Redis down, slow) marks the
 * offset range stale instead of failing the batch; a background catch-up rebuilds stale ranges
 * from PostgreSQL, the truth, once Redis answers again. Projections are idempotent and
 * order-independent, so a catch-up may run beside live updates.
 */
import type {Redis} from 'ioredis'

import {errorMessage} from '../errors.js'
import type {Logger} from '../logging.js'
import type {WorkerMetrics} from '../metrics/worker-metrics.js'
import {applyProjections, type ProjectedEvent} from './projections.js'
import {StaleRanges, type OffsetRange} from './stale-ranges.js'

/** Reads back what PostgreSQL holds for an offset range (see projection-source.ts). */
export interface ProjectionSource {
  /** Events of [from, to] on one partition with offsets above `after`, oldest first, at most `limit`. */
  readOffsets(topic: string, partition: number, range: OffsetRange, after: bigint | null, limit: number): Promise<{events: ProjectedEvent[]; lastOffset: bigint | null}>
}

export interface ProjectorOptions {
  redis: Redis
  source: ProjectionSource
  logger: Logger
  metrics?: WorkerMetrics
  catchUpIntervalMs?: number
  catchUpPageSize?: number
}

export class Projector {
  private readonly stale = new StaleRanges()
  private timer?: NodeJS.Timeout
  private catchingUp?: Promise<void>
  private redisUp = true

  constructor(private readonly options: ProjectorOptions) {}

  get isStale(): boolean {
    return this.stale.isStale
  }

  staleRanges(): ReturnType<StaleRanges['snapshot']> {
    return this.stale.snapshot()
  }

  /** Starts the background catch-up. */
  start(): void {
    this.timer ??= setInterval(() => void this.catchUp(), this.options.catchUpIntervalMs ?? 2000)
    this.timer.unref()
  }

  /**
   * Projects a batch that PostgreSQL has acknowledged (offsets [from, to] of one partition).
   * Never throws: a failure marks the range stale. Returns whether Redis took it.
   */
  async project(events: ProjectedEvent[], topic: string, partition: number, range: OffsetRange): Promise<boolean> {
    const {redis} = this.options
    if (redis.status !== 'ready') {
      this.markStale(topic, partition, range, `Redis is ${redis.status}`)
      return false
    }
    try {
      await applyProjections(redis, events)
      this.setRedisUp(true)
      return true
    } catch (error) {
      this.markStale(topic, partition, range, errorMessage(error))
      return false
    }
  }

  /** Rebuilds stale ranges from PostgreSQL if Redis is back; one pass at a time. */
  catchUp(): Promise<void> {
    if (!this.stale.isStale || this.options.redis.status !== 'ready') return Promise.resolve()
    this.catchingUp ??= this.runCatchUp().finally(() => {
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
    const {logger, source, redis, metrics} = this.options
    const pageSize = this.options.catchUpPageSize ?? 5000
    for (const {topic, partition, ranges} of this.stale.snapshot()) {
      for (const range of ranges) {
        const startedAt = Date.now()
        let after: bigint | null = null
        let projected = 0
        try {
          for (;;) {
            const page = await source.readOffsets(topic, partition, range, after, pageSize)
            if (page.events.length > 0) await applyProjections(redis, page.events)
            projected += page.events.length
            if (page.lastOffset === null || page.events.length < pageSize) break
            after = page.lastOffset
          }
        } catch (error) {
          logger.warn({topic, partition, from: String(range.from), to: String(range.to), err: errorMessage(error)}, 'projection catch-up failed; will retry')
          return
        }
        this.stale.remove(topic, partition, range)
        metrics?.projectionCatchUps.inc()
        logger.info(
          {topic, partition, from: String(range.from), to: String(range.to), events: projected, durationMs: Date.now() - startedAt},
          'caught up Redis projections from PostgreSQL',
        )
      }
    }
    if (!this.stale.isStale) {
      this.setRedisUp(true)
      metrics?.redisStale.set(0)
      logger.info('Redis projections are current again')
    }
  }

  private markStale(topic: string, partition: number, range: OffsetRange, reason: string): void {
    const wasStale = this.stale.isStale
    this.stale.add(topic, partition, range.from, range.to)
    this.options.metrics?.redisStale.set(1)
    this.setRedisUp(false)
    if (!wasStale) {
      this.options.logger.warn({topic, partition, reason}, 'Redis projections are stale: events keep going to PostgreSQL and will be projected when Redis answers')
    }
  }

  private setRedisUp(up: boolean): void {
    if (this.redisUp === up) return
    this.redisUp = up
    this.options.metrics?.redisUp.set(up ? 1 : 0)
  }
}
