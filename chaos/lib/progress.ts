/**
 * Progress of a consumer group read from Kafka itself (the group's committed offsets, sampled a
 * few times a second), not from the workers' metrics: the time each partition's commit moved
 * forward. From those times, per fault: the pause (the longest any partition went without a
 * commit across the fault) and the recovery (the fault → every partition committed again).
 */
import {Kafka, logLevel, type Admin} from 'kafkajs'

export class CommitSampler {
  /** Per partition, the times (ms since the epoch) its committed offset was seen to advance. */
  readonly advances = new Map<number, number[]>()
  private readonly last = new Map<number, bigint>()
  private timer?: NodeJS.Timeout
  private admin?: Admin
  private busy = false

  constructor(
    private readonly brokers: string[],
    private readonly group: string,
    private readonly topic: string,
    private readonly intervalMs = 200,
  ) {}

  async start(): Promise<void> {
    // Short timeouts: while a broker is down a sample may fail; the next one is 200 ms later.
    const kafka = new Kafka({clientId: 'kpipe-chaos-progress', brokers: this.brokers, logLevel: logLevel.NOTHING, requestTimeout: 3000, connectionTimeout: 2000, retry: {retries: 1}})
    this.admin = kafka.admin()
    await this.admin.connect()
    this.timer = setInterval(() => void this.sample(), this.intervalMs)
  }

  private async sample(): Promise<void> {
    if (this.busy || !this.admin) return
    this.busy = true
    try {
      // Stamped with the request's start: the commits it sees were made before it was sent.
      const now = Date.now()
      const [offsets] = await this.admin.fetchOffsets({groupId: this.group, topics: [this.topic]})
      for (const {partition, offset} of offsets?.partitions ?? []) {
        const value = BigInt(offset)
        const before = this.last.get(partition)
        if (before === undefined || value > before) {
          if (before !== undefined || value >= 0n) this.advances.set(partition, [...(this.advances.get(partition) ?? []), now])
          this.last.set(partition, value)
        }
      }
    } catch {
      // a broker or the coordinator is away: the gap shows in the figures
    } finally {
      this.busy = false
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
    await this.admin?.disconnect().catch(() => undefined)
    this.admin = undefined
  }
}

export interface FaultProgress {
  /** The longest time a partition went without a commit across the fault, ms. */
  pauseMs: number
  /** The end of the fault → the end of that longest pause on every partition, ms (0 if none outlasted the fault); null if one never committed again. */
  recoveryMs: number | null
}

/**
 * Pure. A fault from `from` to `to` (the same instant for a kill): per partition, the longest gap
 * between two commits that overlaps [from, to + slackMs]; a partition that never commits again
 * counts up to `until`. The slack covers the sampling: a commit made just before the fault may
 * be seen only after it, which would otherwise hide the gap that follows.
 */
export function progressAcross(advances: ReadonlyMap<number, readonly number[]>, from: number, to: number, until: number, slackMs = 1000): FaultProgress {
  let pauseMs = 0
  let recoveredAt = to
  let recovered = true
  for (const times of advances.values()) {
    let worst: {start: number; end: number; open: boolean} | undefined
    const consider = (start: number, end: number, open: boolean) => {
      if (end <= from || start > to + slackMs) return
      if (!worst || end - start > worst.end - worst.start) worst = {start, end, open}
    }
    if (times.length === 0 || times[0]! > from) consider(from, times[0] ?? until, times.length === 0)
    for (let i = 0; i < times.length; i++) consider(times[i]!, times[i + 1] ?? until, i + 1 === times.length)
    if (!worst) continue
    pauseMs = Math.max(pauseMs, worst.end - worst.start)
    recoveredAt = Math.max(recoveredAt, worst.end)
    if (worst.open) recovered = false
  }
  return {pauseMs, recoveryMs: recovered ? recoveredAt - to : null}
}

/** Pure. The median time between two commits of a partition before `until` (the steady state). */
export function typicalGapMs(advances: ReadonlyMap<number, readonly number[]>, until: number): number | null {
  const gaps: number[] = []
  for (const times of advances.values()) {
    const early = times.filter((t) => t <= until)
    for (let i = 1; i < early.length; i++) gaps.push(early[i]! - early[i - 1]!)
  }
  if (gaps.length === 0) return null
  gaps.sort((a, b) => a - b)
  return gaps[Math.floor(gaps.length / 2)]!
}
