import {describe, expect, it} from 'vitest'

import type {EventRow} from '../../../src/lib/postgres/events-store.js'
import type {EventEnvelope} from '../../../src/lib/records/envelope.js'
import type {Projector} from '../../../src/lib/redis/projector.js'
import {EventsSink, firstPerEventId, isDataError, type EventStore} from '../../../src/lib/workers/events-sink.js'
import type {DecodedRecord} from '../../../src/lib/workers/types.js'

function record(i: number, eventId = `e-${i}`): DecodedRecord<EventEnvelope> {
  return {
    source: {topic: 'events', partition: 0, offset: String(i), key: null, value: null, headers: {}, timestamp: '0'},
    value: {eventId, type: 't', source: 's', occurredAt: '2026-01-01T00:00:00Z', key: 'k', correlationId: null, schemaVersion: 1, payload: {i}},
  }
}

/** A store that refuses, like PostgreSQL, any statement holding a poisoned row (SQLSTATE 22P05). */
class RefusingStore implements EventStore {
  statements = 0
  readonly stored = new Set<string>()
  constructor(private readonly poisoned: Set<string>) {}
  async upsert(rows: EventRow[]): Promise<{inserted: number}> {
    this.statements++
    if (rows.some((r) => this.poisoned.has(r.eventId))) throw Object.assign(new Error('unsupported Unicode escape sequence'), {code: '22P05'})
    let inserted = 0
    for (const row of rows) if (!this.stored.has(row.eventId) && this.stored.add(row.eventId)) inserted++
    return {inserted}
  }
}

const context = {topic: 'events', partition: 0, heartbeat: async () => undefined}

describe('EventsSink', () => {
  it('writes a clean batch in one statement', async () => {
    const store = new RefusingStore(new Set())
    const result = await new EventsSink({store}).write(Array.from({length: 100}, (_, i) => record(i)), context)
    expect(result).toEqual({rejected: [], inserted: 100})
    expect(store.statements).toBe(1)
  })

  it('isolates the rows PostgreSQL refuses by bisection and rejects only those, as sink errors', async () => {
    const store = new RefusingStore(new Set(['e-13', 'e-77']))
    const result = await new EventsSink({store}).write(Array.from({length: 100}, (_, i) => record(i)), context)
    expect(result.rejected.map((r) => r.record.value.eventId).sort()).toEqual(['e-13', 'e-77'])
    expect(result.rejected[0]!.errorClass).toBe('sink')
    expect(result.rejected[0]!.message).toContain('SQLSTATE 22P05')
    expect(result.inserted).toBe(98)
    expect(store.stored.size).toBe(98)
    expect(store.statements).toBeLessThan(30) // log2 splits, not a statement per row
  })

  it('throws (for the engine to retry) when the failure is not about the data', async () => {
    const store: EventStore = {upsert: async () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), {code: 'ECONNREFUSED'}))}
    const sink = new EventsSink({store})
    await expect(sink.write([record(1)], context)).rejects.toThrow(/ECONNREFUSED/)
    expect(sink.isRetriable(Object.assign(new Error('x'), {code: 'ECONNREFUSED'}))).toBe(true)
    expect(sink.isRetriable(Object.assign(new Error('relation does not exist'), {code: '42P01'}))).toBe(false)
    expect(sink.isRetriable(new TypeError('bug'))).toBe(false)
  })
})

describe('EventsSink with projections', () => {
  it('leaves the projection of what PostgreSQL accepted to a follow-up, for the engine to run before committing', async () => {
    const projected: {ids: string[]; partition: number; from: bigint; to: bigint}[] = []
    const projector = {
      project: async (events: {eventId: string}[], _topic: string, partition: number, range: {from: bigint; to: bigint}) => {
        projected.push({ids: events.map((e) => e.eventId), partition, ...range})
        return true
      },
    } as unknown as Projector
    const store = new RefusingStore(new Set(['e-2']))
    const result = await new EventsSink({store, projector}).write([record(1), record(2), record(3)], context)
    expect(projected).toEqual([]) // not yet: it may overlap the next slice's write
    expect(result.followUp).toBeTypeOf('function')
    await result.followUp!()
    expect(projected).toEqual([{ids: ['e-1', 'e-3'], partition: 0, from: 1n, to: 3n}])
  })
})

describe('firstPerEventId', () => {
  it('keeps the first record of each eventId', () => {
    const kept = firstPerEventId([record(1, 'a'), record(2, 'b'), record(3, 'a')])
    expect(kept.map((r) => r.source.offset)).toEqual(['1', '2'])
  })
})

describe('isDataError', () => {
  it('blames the data for SQLSTATE classes 22, 23 and 54 only', () => {
    expect(isDataError({code: '22P05'})).toBe(true)
    expect(isDataError({code: '23502'})).toBe(true)
    expect(isDataError({code: '54000'})).toBe(true)
    expect(isDataError({code: '57P01'})).toBe(false)
    expect(isDataError({code: 'ECONNRESET'})).toBe(false)
    expect(isDataError(new Error('x'))).toBe(false)
  })
})
