import type {Redis} from 'ioredis'
import {describe, expect, it} from 'vitest'

import {createLogger} from '../../../src/lib/logging.js'
import type {BacklogRange, ProjectionBacklog} from '../../../src/lib/postgres/projection-backlog.js'
import {Projector, type ProjectionSource} from '../../../src/lib/redis/projector.js'

/** An in-memory backlog that can be made to fail like an unreachable PostgreSQL. */
class MemoryBacklog implements ProjectionBacklog {
  rows: BacklogRange[] = []
  failing = false
  private next = 1
  async mark(topic: string, partition: number, from: bigint, to: bigint): Promise<BacklogRange> {
    if (this.failing) throw Object.assign(new Error('connect ECONNREFUSED'), {code: 'ECONNREFUSED'})
    const row = {id: String(this.next++), topic, partition, from, to}
    this.rows.push(row)
    return row
  }
  async pending(): Promise<BacklogRange[]> {
    return [...this.rows]
  }
  async clear(ids: readonly string[]): Promise<void> {
    this.rows = this.rows.filter((r) => !ids.includes(r.id))
  }
}

const source: ProjectionSource = {
  readOffsets: async () => ({events: [], lastOffset: null}),
  readAll: async () => ({events: [], lastEventId: null}),
}
const logger = createLogger({level: 'silent', base: {}})
const unreachableRedis = {status: 'reconnecting'} as unknown as Redis

describe('Projector with a durable backlog', () => {
  it('records a range Redis missed in the backlog before project() resolves', async () => {
    const backlog = new MemoryBacklog()
    const projector = new Projector({redis: unreachableRedis, source, logger, backlog})
    expect(await projector.project([], 'events', 2, {from: 10n, to: 19n})).toBe(false)
    expect(backlog.rows).toEqual([{id: '1', topic: 'events', partition: 2, from: 10n, to: 19n}])
    expect(projector.isStale).toBe(true)
  })

  it('throws when the range cannot be recorded, so the batch is not committed', async () => {
    const backlog = new MemoryBacklog()
    backlog.failing = true
    const projector = new Projector({redis: unreachableRedis, source, logger, backlog})
    await expect(projector.project([], 'events', 0, {from: 0n, to: 9n})).rejects.toThrow(/ECONNREFUSED/)
  })

  it('starts stale when an earlier worker left ranges behind', async () => {
    const backlog = new MemoryBacklog()
    await backlog.mark('events', 1, 0n, 99n)
    const projector = new Projector({redis: unreachableRedis, source, logger, backlog})
    expect(projector.isStale).toBe(false)
    expect(await projector.loadBacklog()).toBe(1)
    expect(projector.isStale).toBe(true)
    expect(projector.staleRanges()).toEqual([{topic: 'events', partition: 1, ranges: [{from: 0n, to: 99n}]}])
  })
})

describe('Projector catch-up', () => {
  it('re-projects the backlog from PostgreSQL once Redis answers, then clears it', async () => {
    const backlog = new MemoryBacklog()
    await backlog.mark('events', 1, 0n, 99n)
    const read: string[] = []
    const recording: ProjectionSource = {
      ...source,
      readOffsets: async (topic, partition, range) => {
        read.push(`${topic}/${partition}:${range.from}-${range.to}`)
        return {events: [], lastOffset: null}
      },
    }
    const redis = {status: 'ready', exists: async () => 1} as unknown as Redis
    const projector = new Projector({redis, source: recording, logger, backlog})
    await projector.loadBacklog()
    await projector.catchUp()
    expect(read).toEqual(['events/1:0-99'])
    expect(backlog.rows).toEqual([])
    expect(projector.isStale).toBe(false)
  })
})
