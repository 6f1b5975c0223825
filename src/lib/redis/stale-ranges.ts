/**
 * Pure bookkeeping of what Redis missed: per partition, the offset ranges whose events are in
 * PostgreSQL but whose projections were not applied. A catch-up takes a snapshot, rebuilds those
 * ranges from PostgreSQL, and removes exactly what it rebuilt; failures during it add new ranges.
 */
export interface OffsetRange {
  from: bigint
  to: bigint
}

export class StaleRanges {
  private readonly byPartition = new Map<string, OffsetRange[]>()

  static keyOf(topic: string, partition: number): string {
    return `${topic}\u0000${partition}`
  }

  get isStale(): boolean {
    return this.byPartition.size > 0
  }

  /** Records that [from, to] (inclusive) was written to PostgreSQL but not projected. */
  add(topic: string, partition: number, from: bigint, to: bigint): void {
    const key = StaleRanges.keyOf(topic, partition)
    const ranges = [...(this.byPartition.get(key) ?? []), {from, to}]
    this.byPartition.set(key, mergeRanges(ranges))
  }

  /** A copy of the current ranges, for one catch-up pass. */
  snapshot(): {topic: string; partition: number; ranges: OffsetRange[]}[] {
    return [...this.byPartition].map(([key, ranges]) => {
      const [topic, partition] = key.split('\u0000') as [string, string]
      return {topic, partition: Number(partition), ranges: ranges.map((r) => ({...r}))}
    })
  }

  /** Removes a range that has been rebuilt (ranges added since stay). */
  remove(topic: string, partition: number, done: OffsetRange): void {
    const key = StaleRanges.keyOf(topic, partition)
    const left: OffsetRange[] = []
    for (const range of this.byPartition.get(key) ?? []) {
      if (range.to < done.from || range.from > done.to) {
        left.push(range)
        continue
      }
      if (range.from < done.from) left.push({from: range.from, to: done.from - 1n})
      if (range.to > done.to) left.push({from: done.to + 1n, to: range.to})
    }
    if (left.length === 0) this.byPartition.delete(key)
    else this.byPartition.set(key, left)
  }
}

export function mergeRanges(ranges: OffsetRange[]): OffsetRange[] {
  const sorted = [...ranges].sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0))
  const merged: OffsetRange[] = []
  for (const range of sorted) {
    const last = merged.at(-1)
    if (last && range.from <= last.to + 1n) {
      if (range.to > last.to) last.to = range.to
    } else {
      merged.push({...range})
    }
  }
  return merged
}
