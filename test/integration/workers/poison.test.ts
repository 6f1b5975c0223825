/**
 * Done when #1: 100,000 events with 1% poison of several kinds: every valid event lands exactly
 * once, the dead-letter topic holds exactly the poison, each with its class; the worker never stops.
 */
import {describe, expect, it} from 'vitest'

import {
  eventMessage,
  interleave,
  makeEvents,
  poisonMessages,
  produce,
  readTopic,
  rowCounts,
  runWorkerUntilCaughtUp,
  useTopicFixture,
  HEAVY_TEST_TIMEOUT_MS,
} from './helpers.js'

const VALID = Number(process.env.KPIPE_TEST_EVENTS ?? 99_000)
const POISON = Math.round(VALID / 99)
const MAX_BYTES = 4096

describe('worker events: poison records', () => {
  const fixture = useTopicFixture(6)
  const {topic} = fixture
  const scope = topic

  it('writes every valid event once and dead-letters exactly the poison, each with its class', {timeout: HEAVY_TEST_TIMEOUT_MS}, async () => {
    const events = makeEvents(VALID, scope)
    const poison = poisonMessages(scope, POISON, MAX_BYTES)
    // Duplicated eventIds in the input (a producer retry) must still give one row each.
    const duplicates = events.slice(0, 500).map(eventMessage)
    await produce(topic, [...interleave(events.map(eventMessage), poison.map((p) => p.message)), ...duplicates])

    const started = Date.now()
    const {summary, code, stderr} = await runWorkerUntilCaughtUp([
      '--topic', topic, '--group', `${topic}-group`, '--from-beginning', '--max-record-bytes', String(MAX_BYTES), '--metrics-port', '0',
    ])
    expect(code, stderr.slice(-3000)).toBe(0)
    const seconds = (Date.now() - started) / 1000

    expect(await rowCounts(fixture.pool, topic)).toEqual({rows: VALID, distinct: VALID})
    expect(summary).toMatchObject({consumed: VALID + POISON + duplicates.length, deadLettered: POISON, stoppedBy: 'caught-up'})

    const expectedByClass: Record<string, number> = {}
    for (const p of poison) expectedByClass[p.errorClass] = (expectedByClass[p.errorClass] ?? 0) + 1
    expect(Object.fromEntries(Object.entries(summary.byErrorClass as Record<string, number>).filter(([, n]) => n > 0))).toEqual(expectedByClass)

    const letters = await readTopic(`${topic}.dlq`)
    expect(letters).toHaveLength(POISON)
    const byClass: Record<string, number> = {}
    for (const letter of letters) {
      byClass[letter.headers['kpipe.dlq.error.class']!] = (byClass[letter.headers['kpipe.dlq.error.class']!] ?? 0) + 1
      expect(letter.headers['kpipe.dlq.original.topic']).toBe(topic)
      expect(letter.headers['kpipe.dlq.worker']).toBe('events')
      expect(letter.headers['kpipe.dlq.attempt']).toBe('1')
      expect(letter.headers['kpipe.dlq.error.message']!.length).toBeGreaterThan(5)
      expect(Number.isNaN(Date.parse(letter.headers['kpipe.dlq.failed.at']!))).toBe(false)
      expect(letter.key).toMatch(/^p-\d+$/)
    }
    expect(byClass).toEqual(expectedByClass)
    // The original bytes travel unchanged: the invalid-UTF-8 poison is still those bytes.
    expect(letters.some((l) => l.value?.equals(Buffer.from([0xff, 0xfe, 0x7b, 0x00, 0xc3])))).toBe(true)
    expect(letters.some((l) => l.value === null)).toBe(true)

    // Projections: one hash per entity, holding its newest event.
    const latest = await fixture.redis.hgetall(`kpipe:entity:${scope}-entity-7`)
    const newest = events.filter((e) => e.key === `${scope}-entity-7`).at(-1)!
    expect(latest.eventId).toBe(newest.eventId)
    console.log(`poison test: ${VALID + POISON} records in ${seconds.toFixed(1)} s (worker start included)`)
  })
})
