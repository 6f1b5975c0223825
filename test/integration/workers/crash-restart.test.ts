/**
 * Done when #2: the worker killed with SIGKILL at random points of a 200,000-event run and
 * restarted each time gives the same exact totals, no duplicates; Redis converges too.
 */
import {describe, expect, it} from 'vitest'

import {
  committedTotal,
  eventMessage,
  expectProjectionsMatch,
  makeEvents,
  produce,
  rowCounts,
  runWorkerUntilCaughtUp,
  startWorker,
  useTopicFixture,
  waitUntil,
  HEAVY_TEST_TIMEOUT_MS,
  PATIENCE_MS,
} from './helpers.js'

const EVENTS = Number(process.env.KPIPE_TEST_EVENTS ?? 200_000)
const KILLS = 5

describe('worker events: SIGKILL and restart', () => {
  const fixture = useTopicFixture(6)
  const {topic} = fixture
  const group = `${topic}-group`

  it('loses and duplicates nothing across kill -9 at random points', {timeout: HEAVY_TEST_TIMEOUT_MS}, async () => {
    const events = makeEvents(EVENTS, topic, {entities: 5000})
    await produce(topic, events.map(eventMessage))
    const args = ['--topic', topic, '--group', group, '--from-beginning', '--metrics-port', '0', '--session-timeout', '6s', '--batch-size', '1000']

    const progress: number[] = []
    for (let kill = 0; kill < KILLS; kill++) {
      // Killed at a random point of the k-th of KILLS + 1 slices of the run, found by the rows
      // written (not by a sleep, which a slow or fast machine would turn into "before the first
      // write" or "after the last").
      const target = Math.floor(((kill + Math.random()) * EVENTS) / (KILLS + 1))
      const worker = startWorker(args)
      await waitUntil(async () => (await rowCounts(fixture.pool, topic)).rows > target, PATIENCE_MS, `${target} rows`)
      worker.child.kill('SIGKILL')
      await worker.exited
      const {rows} = await rowCounts(fixture.pool, topic)
      // No offset is committed before its row is written (every record here is a valid event).
      expect(await committedTotal(group, topic)).toBeLessThanOrEqual(rows)
      progress.push(rows)
    }
    const {code, summary, stderr} = await runWorkerUntilCaughtUp(args)
    expect(code, stderr.slice(-3000)).toBe(0)
    console.log(`rows after each kill: ${progress.join(', ')}; the last run consumed ${String(summary.consumed)}`)

    expect(await rowCounts(fixture.pool, topic)).toEqual({rows: EVENTS, distinct: EVENTS})
    // Killed mid-run at least once (not before the first write, not after the last).
    expect(progress.some((rows) => rows > 0 && rows < EVENTS)).toBe(true)
    await expectProjectionsMatch(fixture.redis, events)
  })
})
