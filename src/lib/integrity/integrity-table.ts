/** The human view of an integrity report: a per-partition table per sink, what is wrong, a verdict. */
import {renderTable} from '../output/table.js'
import type {IntegrityJson, SinkJson} from './reconcile.js'

/** How many missing ranges, duplicates and orphans are named under a sink's table. */
const NAMED = 10

const SINK_TITLES: Record<SinkJson['sink'], string> = {
  postgres: 'PostgreSQL pipeline.events',
  logs: 'PostgreSQL pipeline.logs',
  bigquery: 'BigQuery',
}

export function renderIntegrity(result: IntegrityJson): string {
  const out: string[] = []
  for (const sink of result.sinks) {
    out.push(`${SINK_TITLES[sink.sink]} ← ${sink.topic} (group ${sink.group}, dead letters in ${sink.dlqTopic})`)
    out.push(
      renderTable(
        ['partition', 'log start', 'log end', 'committed', 'checked', 'rows', 'dead letters', 'superseded', 'missing', 'duplicates', 'orphans', 'unchecked', 'status'],
        sink.partitions.map((p) => [
          p.partition,
          p.logStartOffset,
          p.logEndOffset,
          p.committedOffset,
          p.checkedFrom === null ? '-' : `${p.checkedFrom}–${p.checkedTo}`,
          p.rows,
          p.deadLetters,
          p.superseded,
          p.missingOffsets,
          p.duplicates,
          p.orphans,
          p.unchecked,
          p.ok ? 'ok' : 'MISMATCH',
        ]),
      ),
    )
    out.push(...problems(sink), ...sink.notes.map((note) => `  note: ${note}`))
    if (sink.rawCopies !== 0) out.push(`  ${sink.rawCopies} extra raw cop${sink.rawCopies === 1 ? 'y' : 'ies'} of records in the table (at least once; the _dedup view keeps one)`)
    out.push('')
  }
  const unchecked = result.unchecked.reduce((sum, u) => sum + Number(u.count), 0)
  if (unchecked > 0) {
    const reasons = [...new Set(result.unchecked.map((u) => u.reason))].map((reason) => UNCHECKED_REASONS[reason] ?? reason)
    out.push(`Unchecked: ${unchecked} offsets (${reasons.join('; ')}).`)
  }
  for (const skip of result.skipped) out.push(`Skipped ${skip.sink}: ${skip.reason}.`)
  out.push(verdict(result))
  return out.join('\n')
}

const UNCHECKED_REASONS: Record<string, string> = {
  retention: 'deleted by retention',
  'no-commit': 'partitions the group never committed',
  compacted: 'compacted topic',
  'not-a-record': 'transaction markers or aborted records',
}

function problems(sink: SinkJson): string[] {
  const lines: string[] = []
  for (const m of sink.missing.slice(0, NAMED)) lines.push(`  missing: partition ${m.partition} offsets ${m.from === m.to ? m.from : `${m.from}–${m.to}`} (${m.count})`)
  if (sink.missing.length > NAMED) lines.push(`  … and ${sink.missing.length - NAMED} more missing ranges (--json lists them)`)
  for (const d of sink.duplicates.slice(0, NAMED)) {
    lines.push(
      d.kind === 'offset'
        ? `  duplicate: partition ${d.partition} offset ${d.offset} claimed by ${d.rows} row(s) and ${d.deadLetters} dead letter(s)`
        : `  duplicate: event id ${d.eventId} stored for ${d.at.map((a) => `${a.partition}:${a.offset}`).join(', ')}`,
    )
  }
  if (sink.duplicates.length > NAMED) lines.push(`  … and ${sink.duplicateCount - NAMED} more duplicates (--json lists them)`)
  for (const o of sink.orphans.slice(0, NAMED)) {
    const what = o.kind === 'row' ? 'row(s)' : 'dead letter(s)'
    const where = o.from === o.to ? `offset ${o.from}` : `offsets ${o.from}–${o.to}`
    const why = o.reason === 'beyond-end' ? 'beyond the log end' : o.reason === 'negative-offset' ? 'a negative offset' : 'a partition the topic does not have'
    lines.push(`  orphan: ${o.count} ${what} at partition ${o.partition} ${where}: ${why}`)
  }
  if (sink.orphans.length > NAMED) lines.push(`  … and more orphans (--json lists them)`)
  return lines
}

export function verdict(result: IntegrityJson): string {
  if (result.ok) {
    const checked = result.sinks.reduce((sum, s) => sum + Number(s.checkedOffsets), 0)
    return `OK: ${checked} offsets checked in ${result.sinks.length} sink${result.sinks.length === 1 ? '' : 's'}, each accounted for by exactly one row or dead letter.`
  }
  const bad = result.sinks.filter((s) => !s.ok)
  return `MISMATCH in ${bad
    .map((s) => {
      const parts = [
        Number(s.missingOffsets) > 0 ? `${s.missingOffsets} missing` : '',
        s.duplicateCount > 0 ? `${s.duplicateCount} duplicate${s.duplicateCount === 1 ? '' : 's'}` : '',
        Number(s.orphanCount) > 0 ? `${s.orphanCount} orphan${Number(s.orphanCount) === 1 ? '' : 's'}` : '',
      ].filter(Boolean)
      return `${s.sink} (${s.topic}): ${parts.join(', ')}`
    })
    .join('; ')}.`
}
