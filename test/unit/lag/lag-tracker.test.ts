import {describe, expect, it} from 'vitest'

import {type CommitSample, polledPartitionStatus, type PolledStatusInput} from '../../../src/lib/lag/lag-model.js'
import {renderLagReport} from '../../../src/lib/lag/lag-render.js'
import type {LagSample, SampledGroup} from '../../../src/lib/lag/lag-sampler.js'
import {LagTracker, lagViewJson, onlyLagging, viewBreaches} from '../../../src/lib/lag/lag-tracker.js'

const member = (clientId: string, partitions: number[], topic = 'orders') => ({memberId: `${clientId}-1`, clientId, host: '10.0.0.7', partitions: partitions.map((partition) => ({topic, partition}))})

function group(name: string, commits: [number, bigint | null][], options: Partial<SampledGroup> = {}): SampledGroup {
  return {
    group: name,
    exists: true,
    state: 'Stable',
    protocolType: 'consumer',
    members: [],
    commits: commits.map(([partition, committedOffset]) => ({topic: 'orders', partition, committedOffset})),
    ...options,
  }
}

function sample(atMs: number, ends: [bigint, bigint][], groups: SampledGroup[]): LagSample {
  return {sampledAtMs: atMs, groups, topics: new Map([['orders', ends.map(([logStartOffset, logEndOffset], partition) => ({partition, logStartOffset, logEndOffset}))]]), missingTopics: [], unavailablePartitions: []}
}

describe('polledPartitionStatus', () => {
  const commit = (offset: bigint, lag: bigint, timeMs: number): CommitSample => ({offset, lag, timeMs})
  const base: PolledStatusInput = {commits: [], recentLogEndOffsets: [], currentLag: 10n, nowMs: 100_000, owned: true, observedForMs: 0, stallAfterMs: 30_000}
  it.each([
    ['no lag is OK even with nobody consuming', {currentLag: 0n, owned: false}, 'OK'],
    ['unknown lag (no commit) is OK', {currentLag: null, owned: false}, 'OK'],
    ['within the allowed lag is OK', {currentLag: 5n, allowedLag: 5n, owned: false}, 'OK'],
    ['lag nobody consumes, seen once: STOP', {owned: false, commits: [commit(90n, 10n, 100_000)]}, 'STOP'],
    ['lag nobody consumes, offset moved long ago: STOP', {owned: false, commits: [commit(80n, 20n, 10_000), commit(90n, 10n, 20_000)]}, 'STOP'],
    [
      'lag nobody owns but the offset moved just now (manual assignment): Burrow decides',
      {owned: false, nowMs: 21_000, commits: [commit(80n, 20n, 10_000), commit(90n, 10n, 20_000)]},
      'OK',
    ],
    ['owned, one offset seen, watched briefly: OK', {commits: [commit(90n, 10n, 99_000)], observedForMs: 1000}, 'OK'],
    ['owned, one offset for the whole stall time: STALL', {commits: [commit(90n, 10n, 70_000)], observedForMs: 30_000}, 'STALL'],
    ['owned, offsets moving with lag decreasing: OK', {nowMs: 30_000, commits: [commit(10n, 90n, 10_000), commit(50n, 60n, 20_000), commit(90n, 10n, 30_000)]}, 'OK'],
    ['owned, offsets moving but lag growing: WARN', {nowMs: 30_000, commits: [commit(10n, 5n, 10_000), commit(20n, 8n, 20_000), commit(30n, 10n, 30_000)]}, 'WARN'],
    ['owned, offset went back: REWIND', {nowMs: 30_000, commits: [commit(50n, 5n, 10_000), commit(20n, 8n, 20_000), commit(30n, 10n, 30_000)]}, 'REWIND'],
    ['owned, moving then stopped for longer than it moved: STOP', {nowMs: 100_000, commits: [commit(10n, 90n, 10_000), commit(50n, 60n, 20_000)]}, 'STOP'],
  ] as const)('%s', (_name, overrides, expected) => {
    expect(polledPartitionStatus({...base, ...overrides})).toBe(expected)
  })
})

describe('LagTracker', () => {
  it('one sample of a caught-up group: lag 0, time lag 0, OK, no rates yet', () => {
    const view = new LagTracker().update(sample(1000, [[0n, 100n], [0n, 50n]], [group('g', [[0, 100n], [1, 50n]], {members: [member('c', [0, 1])]})]))
    const g = view.groups[0]!
    expect(g).toMatchObject({status: 'OK', totalLag: 0n, maxTimeLagMs: 0, productionPerSec: null, catchUp: 0, unownedPartitions: 0})
    expect(g.partitions.map((p) => [p.lag, p.timeLagMs, p.status, p.owner?.clientId])).toEqual([
      [0n, 0, 'OK', 'c'],
      [0n, 0, 'OK', 'c'],
    ])
  })

  it('a group without members and with lag is STOP, its group ERR; --fail-on err breaches', () => {
    const view = new LagTracker().update(sample(1000, [[0n, 100n]], [group('g', [[0, 40n]], {state: 'Empty'})]))
    expect(view.groups[0]).toMatchObject({status: 'ERR', totalLag: 60n, unownedPartitions: 1})
    expect(view.groups[0]!.partitions[0]).toMatchObject({status: 'STOP', lag: 60n, timeLagMs: null})
    expect(viewBreaches(view, {failOn: 'err'}, [])).toEqual([{group: 'g', what: 'status', value: 'ERR', limit: 'err'}])
    expect(viewBreaches(view, {}, [])).toEqual([])
  })

  it('a rebalancing group owns its partitions: no STOP while the coordinator moves them', () => {
    const view = new LagTracker().update(sample(1000, [[0n, 100n]], [group('g', [[0, 40n]], {state: 'PreparingRebalance'})]))
    expect(view.groups[0]).toMatchObject({status: 'OK', unownedPartitions: 0})
  })

  it('over several samples: rates, decreasing lag, a finite catch-up time and an estimated time lag', () => {
    const tracker = new LagTracker({rateWindowMs: 60_000})
    const members = [member('c', [0])]
    // 100 records/s produced, 300/s consumed: the lag of 1000 shrinks by 200/s.
    tracker.update(sample(0, [[0n, 1000n]], [group('g', [[0, 0n]], {members})]))
    tracker.update(sample(1000, [[0n, 1100n]], [group('g', [[0, 300n]], {members})]))
    const view = tracker.update(sample(2000, [[0n, 1200n]], [group('g', [[0, 600n]], {members})]))
    const p = view.groups[0]!.partitions[0]!
    expect(p).toMatchObject({lag: 600n, productionPerSec: 100, consumptionPerSec: 300, catchUp: 3000, status: 'OK'})
    expect(p.lagHistory).toEqual([1000, 800, 600])
    // The log end was at 600 before the table began: extrapolated along 100/s, 4 s before t=0.
    expect(p.timeLagMs).toBe(6000)
    expect(view.groups[0]).toMatchObject({productionPerSec: 100, consumptionPerSec: 300, catchUp: 3000, lagHistory: [1000, 800, 600]})
  })

  it('a consumer slower than the producer is falling behind', () => {
    const tracker = new LagTracker()
    const members = [member('c', [0])]
    tracker.update(sample(0, [[0n, 100n]], [group('g', [[0, 0n]], {members})]))
    const view = tracker.update(sample(1000, [[0n, 300n]], [group('g', [[0, 50n]], {members})]))
    expect(view.groups[0]!.partitions[0]!.catchUp).toBe('falling-behind')
    expect(lagViewJson(view, []).groups[0]).toMatchObject({catchUpMs: null, fallingBehind: true})
  })

  it('an owned partition whose offset stands still with lag becomes STALL after the stall time', () => {
    const tracker = new LagTracker({stallAfterMs: 10_000})
    const members = [member('c', [0])]
    const at = (t: number) => tracker.update(sample(t, [[0n, 100n]], [group('g', [[0, 40n]], {members})])).groups[0]!.partitions[0]!.status
    expect(at(0)).toBe('OK')
    expect(at(5000)).toBe('OK')
    expect(at(10_000)).toBe('STALL')
  })

  it('flags a committed offset below the log start as data lost', () => {
    const view = new LagTracker().update(sample(0, [[500n, 900n]], [group('g', [[0, 200n]], {members: [member('c', [0])]})]))
    expect(view.groups[0]).toMatchObject({lostRecords: 300n})
    expect(view.groups[0]!.partitions[0]).toMatchObject({dataLost: true, lostRecords: 300n, lag: 700n})
    expect(renderLagReport(view, []).join('\n')).toMatch(/data lost to retention: 300 records on orders\/0/)
  })

  it('a topic recreated under the tracker (log end went back) starts a new time-lag table', () => {
    const tracker = new LagTracker()
    const members = [member('c', [0])]
    tracker.update(sample(0, [[0n, 1000n]], [group('g', [[0, 1000n]], {members})]))
    tracker.update(sample(1000, [[0n, 2000n]], [group('g', [[0, 1500n]], {members})]))
    const view = tracker.update(sample(2000, [[0n, 10n]], [group('g', [[0, 5n]], {members})]))
    expect(view.groups[0]!.partitions[0]).toMatchObject({lag: 5n, timeLagMs: null})
  })

  it('a named group that does not exist breaches without --fail-on; a listed one is only NOTFOUND', () => {
    const view = new LagTracker().update(sample(0, [], [group('ghost', [], {exists: false, state: 'Dead'})]))
    expect(view.groups[0]!.status).toBe('NOTFOUND')
    expect(viewBreaches(view, {}, ['ghost'])).toEqual([{group: 'ghost', what: 'status', value: 'NOTFOUND', limit: 'exists'}])
    expect(viewBreaches(view, {failOn: 'err'}, ['ghost'])).toEqual([{group: 'ghost', what: 'status', value: 'NOTFOUND', limit: 'err'}])
    expect(viewBreaches(view, {}, [])).toEqual([])
    expect(renderLagReport(view, []).join('\n')).toMatch(/ghost {2}NOTFOUND/)
  })

  it('--only-lagging keeps partitions with lag or a bad status, and groups that have any', () => {
    const members = [member('c', [0, 1])]
    const view = new LagTracker().update(
      sample(0, [[0n, 100n], [0n, 100n]], [group('busy', [[0, 100n], [1, 90n]], {members}), group('idle', [[0, 100n], [1, 100n]], {members})]),
    )
    const shown = onlyLagging(view)
    expect(shown.groups.map((g) => [g.group, g.partitions.map((p) => p.partition)])).toEqual([['busy', [1]]])
  })

  it('prints the JSON of DESIGN §2 with the added fields, and members with their partitions', () => {
    const view = new LagTracker().update(sample(0, [[0n, 100n]], [group('g', [[0, 90n]], {members: [member('c', [0])]})]))
    const json = JSON.parse(JSON.stringify(lagViewJson(view, viewBreaches(view, {maxLag: 5n}, [])))) as Record<string, unknown>
    expect(json).toMatchObject({
      sampledAt: '1970-01-01T00:00:00.000Z',
      groups: [
        {
          group: 'g',
          state: 'Stable',
          status: 'OK',
          totalLag: 10,
          maxTimeLagMs: null,
          memberCount: 1,
          members: [{memberId: 'c-1', clientId: 'c', host: '10.0.0.7', partitions: [{topic: 'orders', partition: 0}]}],
          unownedPartitions: 0,
          partitions: [{topic: 'orders', partition: 0, committedOffset: 90, logStartOffset: 0, logEndOffset: 100, lag: 10, timeLagMs: null, status: 'OK', owner: {clientId: 'c', host: '10.0.0.7'}}],
        },
      ],
      breaches: [{group: 'g', topic: 'orders', partition: 0, what: 'lag', value: 10, limit: 5}],
      missingTopics: [],
    })
  })
})
