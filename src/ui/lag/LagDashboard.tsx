/**
 * The `kpipe lag --watch` view: a header (cluster, poll, health), the groups, the selected group's
 * partitions with a trend arrow and a sparkline, and a footer of keys. It renders exactly `height`
 * lines or fewer, each cut to `width`: Ink clears the whole screen when a frame is taller than the
 * terminal, and a wrapped line makes it taller.
 */
import {Box, Text} from 'ink'
import type {ReactNode} from 'react'
import sparkly from 'sparkly'

import {humanDuration} from '../../lib/durations.js'
import {formatCatchUp, formatRate, formatTimeLag} from '../../lib/lag/lag-render.js'
import type {GroupView, PartitionView} from '../../lib/lag/lag-tracker.js'
import {type DashboardState, selectedGroup, sortPartitions, trendArrow, visibleGroups} from './dashboard-state.js'
import {statusColor} from './theme.js'

export interface LagDashboardProps {
  state: DashboardState
  width: number
  height: number
  intervalMs: number
  brokers: readonly string[]
  /** One line of cluster health, when known. */
  health?: {text: string; ok: boolean}
}

const SPARK_WIDTH = 20
const count = (n: bigint | number): string => n.toLocaleString('en-US')

function cell(text: string, width: number, right = false): string {
  const cut = text.length > width ? `${text.slice(0, Math.max(0, width - 1))}…` : text
  return right ? cut.padStart(width) : cut.padEnd(width)
}

/** A sparkline of the last SPARK_WIDTH values, 0-based, so a flat non-zero lag does not look empty. */
export function sparkline(history: readonly (number | null)[]): string {
  const recent = history.slice(-SPARK_WIDTH)
  if (recent.every((v) => v === null)) return ''
  const max = Math.max(...recent.map((v) => v ?? 0))
  return sparkly(
    recent.map((v) => (v === null ? '' : v)),
    {minimum: 0, maximum: max === 0 ? 1 : max},
  )
}

function Line(props: {children: ReactNode; width: number}) {
  return (
    <Box width={props.width} height={1} overflow="hidden">
      <Text wrap="truncate-end">{props.children}</Text>
    </Box>
  )
}

/** The coordinator's state, short: both rebalance phases read the same to an operator. */
const shortState = (g: GroupView): string => (!g.exists ? 'no group' : /Rebalance|Assigning|Reconciling/.test(g.state) ? 'Rebalancing' : g.state)

function GroupRow({group, selected, width}: {group: GroupView; selected: boolean; width: number}) {
  const rates = group.consumptionPerSec === null ? '' : `${formatRate(group.productionPerSec)} → ${formatRate(group.consumptionPerSec)}`
  return (
    <Line width={width}>
      <Text inverse={selected}>{selected ? '›' : ' '}</Text>
      <Text color={statusColor(group.status)} bold>{` ${cell(group.status, 8)} `}</Text>
      {cell(group.group, 24)} {cell(shortState(group), 11)} {cell(String(group.members.length), 3, true)} {cell(count(group.totalLag), 11, true)}{' '}
      {cell(formatTimeLag(group.maxTimeLagMs), 8, true)} {cell(formatCatchUp(group.catchUp), 12, true)} {cell(rates, 19)}{' '}
      <Text color="cyan">{sparkline(group.lagHistory)}</Text>
    </Line>
  )
}

function PartitionRow({p, width}: {p: PartitionView; width: number}) {
  const owner = p.owner === null ? '-' : `${p.owner.clientId}@${p.owner.host}`
  return (
    <Line width={width}>
      {'  '}
      {cell(`${p.topic}/${p.partition}`, 30)} {cell(p.lag === null ? '-' : count(p.lag), 12, true)} {trendArrow(p.lagHistory)}{' '}
      <Text color="cyan">{cell(sparkline(p.lagHistory), SPARK_WIDTH)}</Text> {cell(formatTimeLag(p.timeLagMs), 8, true)}{' '}
      <Text color={statusColor(p.status)}>{cell(p.status + (p.dataLost ? ' LOST' : ''), 11)}</Text> {owner}
    </Line>
  )
}

const HELP = [
  'q, Ctrl-C   quit',
  'p, space    pause / resume the refresh',
  '↑ ↓, k j    move between groups',
  's           sort partitions: lag, time lag, status, partition',
  '/           filter groups by name (Enter applies, Esc cancels; Esc clears it)',
  'l           only lagging groups and partitions, or all',
  '?           this help (any of ? h Esc closes it)',
]

export function LagDashboard({state, width, height, intervalMs, brokers, health}: LagDashboardProps) {
  const budget = Math.max(4, height - 1) // one spare line: the cursor's
  const groups = visibleGroups(state)
  const selected = selectedGroup(state)
  const lagging = groups.filter((g) => g.status !== 'OK' || g.totalLag > 0n).length
  const polled = state.view === undefined ? 'waiting for the first poll…' : `polled ${new Date(state.view.sampledAtMs).toISOString().slice(11, 19)}Z in ${humanDuration(state.pollMs ?? 0)}`
  const header = (
    <>
      <Line width={width}>
        <Text bold>kpipe lag</Text> {brokers.join(',')} · {groups.length} groups, {lagging} lagging · {polled}, every {humanDuration(intervalMs)}
        {state.paused ? <Text color="yellow" bold>{'  PAUSED'}</Text> : null}
      </Line>
      <Line width={width}>
        {health === undefined ? <Text dimColor>cluster health: -</Text> : <Text color={health.ok ? 'green' : 'red'}>{health.text}</Text>}
        {state.error === undefined ? null : <Text color="red">{`  poll failed: ${state.error}`}</Text>}
      </Line>
    </>
  )
  const footer = (
    <Line width={width}>
      {state.draft === undefined ? (
        <Text dimColor>
          q quit · p pause · ↑↓ group · s sort: {state.sort} · / filter{state.filter ? `: ${state.filter}` : ''} · l {state.onlyLagging ? 'all' : 'lagging only'} · ? help
        </Text>
      ) : (
        <Text>
          filter groups: {state.draft}
          <Text inverse> </Text>
        </Text>
      )}
    </Line>
  )
  if (state.help) {
    return (
      <Box flexDirection="column" width={width}>
        {header}
        {HELP.slice(0, Math.max(0, budget - 3)).map((line) => (
          <Line key={line} width={width}>
            {`  ${line}`}
          </Line>
        ))}
        {footer}
      </Box>
    )
  }

  if (budget < 7) {
    // A very small terminal: the first header line, as many groups as fit, the keys.
    return (
      <Box flexDirection="column" width={width}>
        <Line width={width}>
          <Text bold>kpipe lag</Text> {groups.length} groups, {lagging} lagging{state.paused ? ' PAUSED' : ''}
        </Line>
        {groups.slice(0, Math.max(0, budget - 2)).map((g) => (
          <GroupRow key={g.group} group={g} selected={g.group === selected?.group} width={width} />
        ))}
        {footer}
      </Box>
    )
  }

  // Lines left after the header (2), the group column line (1), the partition title and column
  // lines (2) and the footer (1): groups get up to a third, partitions the rest.
  const free = Math.max(0, budget - 6)
  const groupRows = Math.min(groups.length, Math.max(1, Math.floor(free / 3)))
  const at = Math.max(0, groups.findIndex((g) => g.group === selected?.group))
  const first = Math.min(Math.max(0, at - groupRows + 1), Math.max(0, groups.length - groupRows))
  const partitions = selected === undefined ? [] : sortPartitions(selected.partitions, state.sort, state.onlyLagging)
  const partitionRows = Math.max(0, free - groupRows)
  const hidden = partitions.length - partitionRows

  return (
    <Box flexDirection="column" width={width}>
      {header}
      <Line width={width}>
        <Text dimColor>
          {'  '}
          {cell('STATUS', 8)} {cell('GROUP', 24)} {cell('STATE', 11)} {cell('MBR', 3, true)} {cell('LAG', 11, true)} {cell('TIME-LAG', 8, true)}{' '}
          {cell('CATCH-UP', 12, true)} {cell('IN → OUT', 19)} TREND
        </Text>
      </Line>
      {groups.slice(first, first + groupRows).map((g) => (
        <GroupRow key={g.group} group={g} selected={g.group === selected?.group} width={width} />
      ))}
      <Line width={width}>
        <Text bold>{selected === undefined ? (state.view === undefined ? '' : 'No group matches.') : `${selected.group}: ${partitions.length} partitions`}</Text>
        {hidden > 0 ? <Text dimColor>{` (${hidden} more below; s sorts, l hides caught-up ones)`}</Text> : null}
      </Line>
      <Line width={width}>
        <Text dimColor>
          {'  '}
          {cell('PARTITION', 30)} {cell('LAG', 12, true)} {'  '}
          {cell('RECENT LAG', SPARK_WIDTH)} {cell('TIME-LAG', 8, true)} {cell('STATUS', 11)} CONSUMER
        </Text>
      </Line>
      {partitions.slice(0, partitionRows).map((p) => (
        <PartitionRow key={`${p.topic}/${p.partition}`} p={p} width={width} />
      ))}
      {footer}
    </Box>
  )
}
