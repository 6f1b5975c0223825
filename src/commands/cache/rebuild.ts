import {Flags} from '@oclif/core'

import {BaseCommand} from '../../lib/base-command.js'
import {postgresFlags, redisFlags} from '../../lib/flags.js'
import {assertSchemaCurrent} from '../../lib/postgres/migrations.js'
import {createPgPool, pgDependencyError} from '../../lib/postgres/pool.js'
import {PgProjectionBacklog} from '../../lib/postgres/projection-backlog.js'
import {connectRedis, createRedis} from '../../lib/redis/client.js'
import {PgProjectionSource} from '../../lib/redis/projection-source.js'
import {rebuildProjections, type CacheRebuildResult} from '../../lib/redis/rebuild.js'

export default class CacheRebuild extends BaseCommand<typeof CacheRebuild> {
  static override summary = 'Rebuild the Redis projections from PostgreSQL'
  static override description =
    'Redis is a cache; PostgreSQL is the truth. Deletes the projection keys (kpipe:entity:*, kpipe:counts:*, ' +
    'kpipe:count-buckets:*) and rebuilds the latest state per entity and the per-minute counts per event type from ' +
    'pipeline.events, then clears the stale ranges workers recorded in pipeline.projection_backlog before it started. ' +
    'Safe while workers run: projections are idempotent and order-independent.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --no-flush --json',
    'KPIPE_REDIS_URL=redis://cache:6379 <%= config.bin %> <%= command.id %>',
  ]
  static override flags = {
    ...postgresFlags,
    ...redisFlags,
    flush: Flags.boolean({description: 'Delete the existing projection keys first (--no-flush merges into them)', default: true, allowNo: true}),
    'page-size': Flags.integer({description: 'Events read from PostgreSQL per round trip', default: 5000, min: 100, max: 100_000}),
  }

  async run(): Promise<CacheRebuildResult> {
    const {config} = this.kpipeConfig
    const pool = createPgPool(config.postgres, {applicationName: 'kpipe cache rebuild', max: 1})
    const redis = createRedis(config.redis, {failFast: false, commandTimeoutMs: 30_000})
    redis.on('error', () => undefined)
    try {
      return await this.rebuild(pool, redis)
    } catch (error) {
      // Any PostgreSQL failure on the way (also one without a SQLSTATE, such as a connection
      // cut mid-read) is PostgreSQL's; the classifier names Redis's own failures.
      throw pgDependencyError(error, config.postgres.url) ?? error
    } finally {
      redis.disconnect()
      await pool.end().catch(() => undefined)
    }
  }

  private async rebuild(pool: ReturnType<typeof createPgPool>, redis: ReturnType<typeof createRedis>): Promise<CacheRebuildResult> {
    const {config} = this.kpipeConfig
    await assertSchemaCurrent(pool)
    await connectRedis(redis, config.redis.url)
    // Ranges workers could not project before now are covered by this rebuild.
    const backlog = new PgProjectionBacklog(pool)
    const backlogWatermark = await backlog.watermark()
    let lastNote = Date.now()
    const result = await rebuildProjections({
      source: new PgProjectionSource(pool),
      redis,
      flush: this.flags.flush,
      pageSize: this.flags['page-size'],
      onProgress: (events) => {
        if (Date.now() - lastNote < 2000) return
        lastNote = Date.now()
        this.note(`… ${events} events projected`)
      },
    })
    await backlog.clearThrough(backlogWatermark)
    this.log(
      `Rebuilt the Redis projections from ${result.events} events: ${result.countBuckets} per-minute count buckets; ` +
        `${result.flushedKeys} old keys deleted first (${(result.durationMs / 1000).toFixed(1)}s).`,
    )
    return result
  }
}
