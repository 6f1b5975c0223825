/** The one-shot `kpipe lag` report for a terminal or a ticket: a header per group, its partitions by lag. */
import {humanDuration} from '../durations.js'
import {renderTable} from '../output/table.js'
import type {Breach, CatchUp} from './lag-model.js'
import type {GroupView, LagView, PartitionView} from './lag-tracker.js'

const count = (n: bigint | number): string => n.toLocaleString('en-US')

export function formatCatchUp(c: CatchUp): string {
  if (c === null) return '-'
  if (c === 'falling-behind') return 'falling behind'
  return c === 0 ? 'caught up' : humanDuration(c)
}

export function formatRate(r: number | null): string {
  return r === null ? '-' : `${r >= 100 ? Math.round(r).toLocaleString('en-US') : r.toFixed(1)}/s`
}

export function formatTimeLag(ms: number | null): string {
  return ms === null ? '-' : humanDuration(ms)
}

/** Biggest lag first; unknown lags after known ones; then topic and partition. */
export function byLag(a: PartitionView, b: PartitionView): number {
  if (a.lag !== b.lag) {
    if (a.lag === null) return 1
    if (b.lag === null) return -1
    return a.lag > b.lag ? -1 : 1
  }
  return a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition
}

export function groupHeadline(g: GroupView): string {
  if (!g.exists) return `${g.group}  NOTFOUND: no such consumer group`
  const parts = [
    `${g.group}`,
    `status ${g.status}`,
    `state ${g.state}`,
    `members ${g.members.length}`,
    `lag ${count(g.totalLag)}`,
    `time lag ${formatTimeLag(g.maxTimeLagMs)}`,
  ]
  if (g.consumptionPerSec !== null) parts.push(`in ${formatRate(g.productionPerSec)} out ${formatRate(g.consumptionPerSec)}`, `catch-up ${formatCatchUp(g.catchUp)}`)
  return parts.join('  ')
}

function groupWarnings(g: GroupView): string[] {
  const lines: string[] = []
  if (g.unavailable !== undefined) lines.push(`  ! cannot read this group: ${g.unavailable}`)
  if (g.unavailablePartitions.length > 0) {
    const list = g.unavailablePartitions.map((p) => `${p.topic}/${p.partition}`).join(', ')
    lines.push(`  ! ${g.unavailablePartitions.length} partition(s) without a leader, lag unknown: ${list} (kpipe health names the missing brokers)`)
  }
  const lost = g.partitions.filter((p) => p.dataLost)
  if (lost.length > 0) {
    lines.push(`  ! data lost to retention: ${count(g.lostRecords)} records on ${lost.map((p) => `${p.topic}/${p.partition}`).join(', ')} were deleted before the group read them`)
  }
  if (g.unownedPartitions > 0 && g.members.length > 0) lines.push(`  ! ${g.unownedPartitions} partition(s) with offsets are consumed by no member`)
  return lines
}

export function renderLagReport(view: LagView, breaches: readonly Breach[]): string[] {
  const lines: string[] = []
  if (view.groups.length === 0) lines.push('No consumer groups matched.')
  for (const g of view.groups) {
    lines.push(groupHeadline(g), ...groupWarnings(g))
    if (g.partitions.length > 0) {
      const rows = [...g.partitions]
        .sort(byLag)
        .map((p) => [
          p.topic,
          p.partition,
          p.committedOffset === null ? '-' : p.committedOffset.toString(),
          p.logStartOffset.toString(),
          p.logEndOffset.toString(),
          p.lag === null ? '-' : count(p.lag),
          formatTimeLag(p.timeLagMs),
          p.status + (p.dataLost ? ' LOST' : ''),
          p.owner === null ? '-' : `${p.owner.clientId}@${p.owner.host}`,
        ])
      for (const line of renderTable(['TOPIC', 'PARTITION', 'COMMITTED', 'LOG-START', 'LOG-END', 'LAG', 'TIME-LAG', 'STATUS', 'CONSUMER'], rows).split('\n')) lines.push(`  ${line}`)
    }
    lines.push('')
  }
  if (view.missingTopics.length > 0) lines.push(`Offsets for deleted topics ignored: ${view.missingTopics.join(', ')}`)
  if (view.unavailablePartitions.length > 0) lines.push(`${view.unavailablePartitions.length} partition(s) have no leader; their offsets are unknown this time.`)
  if (breaches.length > 0) {
    lines.push(`${breaches.length} breach(es):`)
    for (const b of breaches) lines.push(`  ${describeBreach(b)}`)
  }
  return lines
}

export function describeBreach(b: Breach): string {
  const where = b.topic === undefined ? b.group : `${b.group} ${b.topic}/${b.partition}`
  switch (b.what) {
    case 'lag':
      return `${where}: lag ${b.value} > --max-lag ${b.limit}`
    case 'timeLag':
      return `${where}: time lag ${humanDuration(Number(b.value))} > --max-time-lag ${humanDuration(Number(b.limit))}`
    case 'status':
      return b.value === 'NOTFOUND' ? `${where}: no such consumer group` : `${where}: status ${b.value} (--fail-on ${b.limit})`
  }
}
