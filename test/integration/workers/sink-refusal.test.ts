/**
 * A `sink` dead letter from a real PostgreSQL refusal: a valid event that PostgreSQL cannot
 * store. The decoder already keeps out everything a UTF-8 database refuses (NUL, lone
 * surrogates, timestamps outside its range or calendar, over-long indexed fields, too-deep
 * JSON), so the refusal comes from the database itself: one created with the LATIN1 encoding,
 * as older installations are, cannot hold "€" (SQLSTATE 22P05), while it holds "é" well.
 * The worker must isolate the refused rows (bisection), write every other one, and dead-letter
 * exactly those as `sink`.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type pg from 'pg'
import type {Redis} from 'ioredis'

import {createPrivateDatabase, startPrivateRedis, type PrivateDatabase, type PrivateRedis} from '../../helpers/services.js'
import {createTopics, deleteTopics, eventMessage, makeEvents, pgPool, produce, readTopic, rowCounts, runWorkerUntilCaughtUp, uniqueName} from './helpers.js'

describe('worker events: rows PostgreSQL refuses', () => {
  const topic = uniqueName()
  let database: PrivateDatabase
  let redisServer: PrivateRedis
  let pool: pg.Pool
  let redis: Redis

  beforeAll(async () => {
    ;[database, redisServer] = await Promise.all([createPrivateDatabase({encoding: 'LATIN1'}), startPrivateRedis()])
    pool = await pgPool(database.url)
    redis = redisServer.client()
    await createTopics(topic, 2)
  })

  afterAll(async () => {
    redis?.disconnect()
    await pool?.end()
    await deleteTopics(topic)
    await database?.drop()
    await redisServer?.dispose()
  })

  it('dead-letters exactly the refused events as sink, with the original record, and writes the rest', async () => {
    const events = makeEvents(400, topic, {entities: 40})
    const refused = [events[57]!, events[301]!]
    for (const event of refused) {
      event.payload = {price: '12 €'}
      event.key = `${event.eventId}-own-entity` // its entity has no other event
    }
    const accented = events[123]!
    accented.payload = {city: 'Besançon, Orléans'}
    const messages = events.map(eventMessage)
    await produce(topic, messages)

    const {code, summary, stderr} = await runWorkerUntilCaughtUp(['--topic', topic, '--group', `${topic}-g`, '--from-beginning', '--metrics-port', '0'], {
      KPIPE_PG_URL: database.url,
      KPIPE_REDIS_URL: redisServer.url,
    })
    expect(code, stderr.slice(-3000)).toBe(0)
    expect(summary).toMatchObject({consumed: 400, written: 398, deadLettered: 2})
    expect(summary.byErrorClass).toMatchObject({sink: 2, decode: 0, schema: 0, validation: 0, oversize: 0})

    expect(await rowCounts(pool, topic)).toEqual({rows: 398, distinct: 398})
    const {rows} = await pool.query<{event_id: string; payload: unknown}>('SELECT event_id, payload FROM pipeline.events WHERE event_id = ANY($1)', [
      [...refused.map((e) => e.eventId), accented.eventId],
    ])
    expect(rows).toEqual([{event_id: accented.eventId, payload: {city: 'Besançon, Orléans'}}])

    const letters = await readTopic(`${topic}.dlq`)
    expect(letters).toHaveLength(2)
    for (const letter of letters) {
      const event = refused.find((e) => e.key === letter.key)!
      expect(event, `a dead letter for an event that was not refused: ${letter.key}`).toBeDefined()
      expect(letter.value?.toString()).toBe(messages[events.indexOf(event)]!.value)
      expect(letter.headers['kpipe.dlq.error.class']).toBe('sink')
      expect(letter.headers['kpipe.dlq.error.message']).toMatch(/^PostgreSQL refused the event: .*LATIN1.*\(SQLSTATE 22P05\)/)
      expect(letter.headers['kpipe.dlq.original.topic']).toBe(topic)
      expect(letter.headers['kpipe.dlq.worker']).toBe('events')
    }
    // Refused by the truth, so not in the cache either.
    for (const event of refused) expect(await redis.exists(`kpipe:entity:${event.key}`)).toBe(0)
    expect(await redis.hget(`kpipe:entity:${accented.key}`, 'eventId')).not.toBeNull()
  })
})
