/**
 * The state of `kpipe lag --watch` and its reducer: pure, so every key and every poll outcome is
 * tested without a terminal (test/unit/ui/dashboard-state.test.ts). The Ink view only renders it.
 */
import {byLag} from '../../lib/lag/lag-render.js'
import type {GroupView, LagView, PartitionView} from '../../lib/lag/lag-tracker.js'

export const SORT_KEYS = ['lag', 'time-lag', 'status', 'partition'] as const
export type SortKey = (typeof SORT_KEYS)[number]

export interface DashboardState {
  view?: LagView
  /** The last poll's failure, shown until a poll succeeds. */
  error?: string
  pollMs?: number
  paused: boolean
  sort: SortKey
  /** Groups whose id contains this (case-insensitive). */
  filter: string
  /** The filter being typed after `/`, or undefined when not typing. */
  draft?: string
  /** The selected group's id: kept across polls even when groups come and go. */
  selected?: string
  help: boolean
  onlyLagging: boolean
}

export interface KeyPress {
  input: string
  upArrow?: boolean
  downArrow?: boolean
  return?: boolean
  escape?: boolean
  backspace?: boolean
  delete?: boolean
  ctrl?: boolean
}

export type DashboardAction = {type: 'view'; view: LagView; pollMs: number} | {type: 'error'; message: string} | {type: 'key'; key: KeyPress}

export function initialState(options: {onlyLagging?: boolean} = {}): DashboardState {
  return {paused: false, sort: 'lag', filter: '', help: false, onlyLagging: options.onlyLagging ?? false}
}

/** Whether a key press ends the dashboard: q (not while typing a filter) or Ctrl-C. */
export function isQuit(state: DashboardState, key: KeyPress): boolean {
  if (key.ctrl && key.input === 'c') return true
  return state.draft === undefined && key.input === 'q'
}

export function dashboardReducer(state: DashboardState, action: DashboardAction): DashboardState {
  switch (action.type) {
    case 'view': {
      if (state.paused) return state
      const next = {...state, view: action.view, pollMs: action.pollMs, error: undefined}
      return {...next, selected: keepSelection(next)}
    }
    case 'error':
      return {...state, error: action.message}
    case 'key':
      return onKey(state, action.key)
  }
}

function onKey(state: DashboardState, key: KeyPress): DashboardState {
  if (state.draft !== undefined) {
    if (key.escape) return {...state, draft: undefined}
    if (key.return) {
      const next = {...state, filter: state.draft, draft: undefined}
      return {...next, selected: keepSelection(next)}
    }
    if (key.backspace || key.delete) return {...state, draft: state.draft.slice(0, -1)}
    if (key.ctrl || key.upArrow || key.downArrow || key.input.length === 0) return state
    return {...state, draft: state.draft + key.input}
  }
  if (state.help) return key.input === '?' || key.escape || key.input === 'h' ? {...state, help: false} : state
  if (key.upArrow || key.input === 'k') return move(state, -1)
  if (key.downArrow || key.input === 'j') return move(state, 1)
  switch (key.input) {
    case '?':
    case 'h':
      return {...state, help: true}
    case 'p':
    case ' ':
      return {...state, paused: !state.paused}
    case 's':
      return {...state, sort: SORT_KEYS[(SORT_KEYS.indexOf(state.sort) + 1) % SORT_KEYS.length]!}
    case 'l': {
      const next = {...state, onlyLagging: !state.onlyLagging}
      return {...next, selected: keepSelection(next)}
    }
    case '/':
      return {...state, draft: state.filter}
    default:
      if (key.escape && state.filter !== '') {
        const next = {...state, filter: ''}
        return {...next, selected: keepSelection(next)}
      }
      return state
  }
}

function move(state: DashboardState, by: number): DashboardState {
  const groups = visibleGroups(state)
  if (groups.length === 0) return state
  const at = Math.max(0, groups.findIndex((g) => g.group === state.selected))
  const index = Math.min(groups.length - 1, Math.max(0, at + by))
  return {...state, selected: groups[index]!.group}
}

function keepSelection(state: DashboardState): string | undefined {
  const groups = visibleGroups(state)
  if (groups.some((g) => g.group === state.selected)) return state.selected
  return groups[0]?.group
}

const lagging = (g: GroupView): boolean => g.status !== 'OK' || g.totalLag > 0n

/** The groups shown: filtered, lagging-only if asked, worst status first, then by lag. */
export function visibleGroups(state: DashboardState): GroupView[] {
  const needle = state.filter.toLowerCase()
  const rank = {NOTFOUND: 0, ERR: 1, WARN: 2, OK: 3} as const
  return (state.view?.groups ?? [])
    .filter((g) => needle === '' || g.group.toLowerCase().includes(needle))
    .filter((g) => !state.onlyLagging || lagging(g))
    .sort((a, b) => rank[a.status] - rank[b.status] || (a.totalLag === b.totalLag ? (a.group < b.group ? -1 : 1) : a.totalLag > b.totalLag ? -1 : 1))
}

export function selectedGroup(state: DashboardState): GroupView | undefined {
  return visibleGroups(state).find((g) => g.group === state.selected)
}

const STATUS_RANK = {REWIND: 0, STOP: 1, STALL: 2, WARN: 3, OK: 4} as const

export function sortPartitions(partitions: readonly PartitionView[], sort: SortKey, onlyLagging: boolean): PartitionView[] {
  const shown = onlyLagging ? partitions.filter((p) => (p.lag !== null && p.lag > 0n) || p.status !== 'OK') : [...partitions]
  const byPartition = (a: PartitionView, b: PartitionView) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition)
  switch (sort) {
    case 'lag':
      return shown.sort(byLag)
    case 'time-lag':
      return shown.sort((a, b) => (b.timeLagMs ?? -1) - (a.timeLagMs ?? -1) || byPartition(a, b))
    case 'status':
      return shown.sort((a, b) => STATUS_RANK[a.status] - STATUS_RANK[b.status] || byLag(a, b))
    case 'partition':
      return shown.sort(byPartition)
  }
}

/** ↑ growing, ↓ shrinking, → flat, over the last two known lags. */
export function trendArrow(history: readonly (number | null)[]): string {
  const known = history.filter((v): v is number => v !== null)
  const last = known.at(-1)
  const before = known.at(-2)
  if (last === undefined || before === undefined) return ' '
  return last > before ? '↑' : last < before ? '↓' : '→'
}
