import {describe, expect, it} from 'vitest'

import {groupView, partitionView, sampleView} from './fixtures.js'
import {dashboardReducer, type DashboardState, initialState, isQuit, type KeyPress, selectedGroup, sortPartitions, trendArrow, visibleGroups} from '../../../src/ui/lag/dashboard-state.js'

const key = (input: string, extra: Partial<KeyPress> = {}): {type: 'key'; key: KeyPress} => ({type: 'key', key: {input, ...extra}})
const press = (state: DashboardState, ...keys: {type: 'key'; key: KeyPress}[]) => keys.reduce(dashboardReducer, state)

const view = sampleView([
  groupView('billing', [partitionView(0, 0n)]),
  groupView('orders', [partitionView(0, 5n), partitionView(1, 50n), partitionView(2, null)], {status: 'WARN'}),
  groupView('audit', [partitionView(0, 7n, {status: 'STOP'})], {status: 'ERR'}),
])

describe('dashboard reducer', () => {
  const loaded = dashboardReducer(initialState(), {type: 'view', view, pollMs: 12})

  it('orders groups worst status first and selects the first one', () => {
    expect(visibleGroups(loaded).map((g) => g.group)).toEqual(['audit', 'orders', 'billing'])
    expect(loaded).toMatchObject({selected: 'audit', pollMs: 12})
  })

  it('moves the selection with the arrows and j/k, within the list', () => {
    expect(press(loaded, key('', {downArrow: true})).selected).toBe('orders')
    expect(press(loaded, key('j'), key('j'), key('j')).selected).toBe('billing')
    expect(press(loaded, key('k')).selected).toBe('audit')
  })

  it('keeps the selected group across polls, and falls back to the first when it disappears', () => {
    const onOrders = press(loaded, key('j'))
    const next = dashboardReducer(onOrders, {type: 'view', view: sampleView([...view.groups].reverse(), 1000), pollMs: 5})
    expect(next.selected).toBe('orders')
    const gone = dashboardReducer(onOrders, {type: 'view', view: sampleView([view.groups[0]!], 2000), pollMs: 5})
    expect(gone.selected).toBe('billing')
  })

  it('pauses: a poll while paused changes nothing; p resumes', () => {
    const paused = press(loaded, key('p'))
    expect(paused.paused).toBe(true)
    expect(dashboardReducer(paused, {type: 'view', view: sampleView([], 5000), pollMs: 1})).toBe(paused)
    expect(press(paused, key(' ')).paused).toBe(false)
  })

  it('filters by typing after /, Enter applies, Esc cancels the draft, Esc again clears the filter', () => {
    const typing = press(loaded, key('/'), key('o'), key('r'), key('x'), key('', {backspace: true}))
    expect(typing.draft).toBe('or')
    expect(isQuit(press(typing, key('q')), {input: 'q'})).toBe(false) // q is a letter while typing
    const applied = press(typing, key('', {return: true}))
    expect(applied).toMatchObject({filter: 'or', draft: undefined, selected: 'orders'})
    expect(visibleGroups(applied).map((g) => g.group)).toEqual(['orders'])
    expect(press(applied, key('/'), key('z'), key('', {escape: true})).filter).toBe('or')
    expect(press(applied, key('', {escape: true})).filter).toBe('')
  })

  it('cycles the partition sort with s, and l hides caught-up groups and partitions', () => {
    expect(press(loaded, key('s')).sort).toBe('time-lag')
    expect(press(loaded, key('s'), key('s'), key('s'), key('s')).sort).toBe('lag')
    const lagging = press(loaded, key('l'))
    expect(visibleGroups(lagging).map((g) => g.group)).toEqual(['audit', 'orders'])
  })

  it('? opens the help and any of ? h Esc closes it; other keys do nothing meanwhile', () => {
    const help = press(loaded, key('?'))
    expect(help.help).toBe(true)
    expect(press(help, key('j')).selected).toBe('audit')
    expect(press(help, key('', {escape: true})).help).toBe(false)
  })

  it('quits on q and Ctrl-C', () => {
    expect(isQuit(loaded, {input: 'q'})).toBe(true)
    expect(isQuit(loaded, {input: 'c', ctrl: true})).toBe(true)
    expect(isQuit(loaded, {input: 'c'})).toBe(false)
  })

  it('a failed poll is shown until the next good one', () => {
    const failed = dashboardReducer(loaded, {type: 'error', message: 'Kafka is unreachable'})
    expect(failed.error).toBe('Kafka is unreachable')
    expect(dashboardReducer(failed, {type: 'view', view, pollMs: 3}).error).toBeUndefined()
    expect(selectedGroup(failed)?.group).toBe('audit')
  })
})

describe('partition order and trend', () => {
  const parts = [partitionView(0, 5n), partitionView(1, 50n, {timeLagMs: 1}), partitionView(2, null), partitionView(3, 9n, {status: 'STALL'})]
  it.each([
    ['lag', [1, 3, 0, 2]],
    ['time-lag', [3, 0, 1, 2]],
    ['status', [3, 1, 0, 2]],
    ['partition', [0, 1, 2, 3]],
  ] as const)('sort by %s', (sort, expected) => {
    expect(sortPartitions(parts, sort, false).map((p) => p.partition)).toEqual(expected)
  })
  it('only lagging keeps lag > 0 or a bad status', () => {
    expect(sortPartitions([...parts, partitionView(4, 0n)], 'partition', true).map((p) => p.partition)).toEqual([0, 1, 3])
  })
  it.each([
    [[], ' '],
    [[5], ' '],
    [[5, 9], '↑'],
    [[9, 5], '↓'],
    [[5, null, 5], '→'],
  ] as const)('trend of %j is %s', (history, arrow) => {
    expect(trendArrow(history)).toBe(arrow)
  })
})
