import {render} from 'ink-testing-library'
import {describe, expect, it} from 'vitest'

import {dashboardReducer, initialState} from '../../../src/ui/lag/dashboard-state.js'
import {LagDashboard, sparkline} from '../../../src/ui/lag/LagDashboard.js'
import {groupView, partitionView, sampleView} from './fixtures.js'

const many = Array.from({length: 40}, (_, i) => partitionView(i, BigInt(i * 10), {lagHistory: [i, i * 2, i * 3]}))
const view = sampleView([
  groupView('orders', many, {status: 'WARN', lagHistory: [100, 200, 400], members: [{memberId: 'm', clientId: 'c', host: 'h', partitions: []}]}),
  groupView('billing', [partitionView(0, 0n)]),
])
const state = dashboardReducer(initialState(), {type: 'view', view, pollMs: 42})

const frame = (props: Partial<Parameters<typeof LagDashboard>[0]> = {}) =>
  render(<LagDashboard state={state} width={120} height={20} intervalMs={2000} brokers={['localhost:9092']} {...props} />).lastFrame() ?? ''

describe('LagDashboard', () => {
  it('shows the groups, the selected group\'s partitions by lag with trend and sparkline, and the keys', () => {
    const text = frame()
    expect(text).toMatch(/kpipe lag localhost:9092 · 2 groups, 1 lagging · polled 00:00:00Z in 42ms, every 2\.0s/)
    expect(text).toMatch(/› WARN\s+orders\s+Stable\s+1\s+7,800\s+-\s+-\s+▂▄█/)
    expect(text).toMatch(/orders: 40 partitions/)
    // Biggest lag first, growing, with its sparkline.
    expect(text).toMatch(/orders\/39\s+390 ↑ ▃▆█/)
    expect(text).toMatch(/q quit · p pause/)
  })

  it('never draws more lines than the terminal has, nor lines wider than it', () => {
    for (const [width, height] of [
      [120, 20],
      [80, 10],
      [60, 6],
      [200, 60],
    ] as const) {
      const lines = frame({width, height}).split('\n')
      expect(lines.length).toBeLessThanOrEqual(height - 1)
      for (const line of lines) expect(line.length).toBeLessThanOrEqual(width)
    }
  })

  it('tells how many partitions did not fit', () => {
    expect(frame({height: 20})).toMatch(/\((\d+) more below/)
  })

  it('shows PAUSED, the help, the filter being typed and a failed poll', () => {
    expect(frame({state: {...state, paused: true}})).toMatch(/PAUSED/)
    expect(frame({state: {...state, help: true}})).toMatch(/p, space\s+pause \/ resume/)
    expect(frame({state: {...state, draft: 'ord'}})).toMatch(/filter groups: ord/)
    expect(frame({state: {...state, error: 'Kafka is unreachable'}})).toMatch(/poll failed: Kafka is unreachable/)
    expect(frame({health: {text: '3 brokers, 0 under-replicated', ok: true}})).toMatch(/3 brokers, 0 under-replicated/)
  })

  it('says so when the filter matches nothing', () => {
    expect(frame({state: {...state, filter: 'zzz', selected: undefined}})).toMatch(/No group matches/)
  })
})

describe('sparkline', () => {
  it('scales from 0 so a steady lag is a mid bar, holes for unknown values, empty when all unknown', () => {
    expect(sparkline([0, 4, 8])).toBe('▁▄█')
    expect(sparkline([5, null, 5])).toBe('█ █')
    expect(sparkline([0, 0])).toBe('▁▁')
    expect(sparkline([null, null])).toBe('')
    expect(sparkline(Array.from({length: 50}, (_, i) => i))).toHaveLength(20)
  })
})
