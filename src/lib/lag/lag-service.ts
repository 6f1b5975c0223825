/**
 * The polling service behind `lag --sample`, `--watch` and `--serve`: connections to the brokers
 * kept across polls, one sample at a time (a poll never starts before the previous one finished,
 * so a slow cluster slows the refresh instead of piling up requests), each sample turned into a
 * view by the tracker.
 */
import type {KpipeConfig} from '../config.js'
import {sleepUnlessAborted} from '../deadline.js'
import {kafkaDependencyError} from '../error-classify.js'
import type {BrokerLink} from '../kafka/tolerant-requests.js'
import {registerCompressionCodecs} from '../workers/codecs.js'
import {BrokerLinks, type LagSample, type LagSelection, type SampledPartition, sampleLag} from './lag-sampler.js'
import {LagTracker, type LagView, type TrackerOptions} from './lag-tracker.js'

export interface LagSource {
  poll(): Promise<LagView>
  close(): Promise<void>
}

export async function openLagSource(kafka: KpipeConfig['kafka'], selection: LagSelection, options: TrackerOptions & {debug?: boolean} = {}): Promise<LagSource> {
  const links = new BrokerLinks(kafka)
  try {
    await links.any() // unreachable brokers fail here, before any output
  } catch (error) {
    await links.close()
    throw kafkaDependencyError(error) ?? error
  }
  const tracker = new LagTracker(options)
  const recordTimes = new CommittedRecordTimes(links, options.debug === true)
  return {
    async poll() {
      try {
        const sample = await sampleLag(links, selection)
        await recordTimes.attach(sample)
        return tracker.update(sample)
      } catch (error) {
        throw kafkaDependencyError(error) ?? error
      }
    },
    close: () => links.close(),
  }
}

/**
 * The exact time lag's input: the timestamp of the record at each lagging partition's committed
 * offset, read from its leader (a small Fetch, 256 KiB at most per partition). Cached by position,
 * so a committed offset that has not moved is not read again; a failure leaves the times unknown
 * (the estimate is used) rather than failing the poll.
 */
class CommittedRecordTimes {
  private cache = new Map<string, number | null>()

  constructor(
    private readonly links: BrokerLinks,
    private readonly debug: boolean,
  ) {}

  async attach(sample: LagSample): Promise<void> {
    const wanted = new Map<string, {topic: string; partition: number; offset: bigint}>()
    const logs = new Map<string, SampledPartition>()
    for (const [topic, partitions] of sample.topics) for (const p of partitions) logs.set(`${topic}\u0000${p.partition}`, p)
    for (const g of sample.groups) {
      for (const c of g.commits) {
        const log = logs.get(`${c.topic}\u0000${c.partition}`)
        if (c.committedOffset === null || log === undefined) continue
        if (c.committedOffset >= log.logEndOffset || c.committedOffset < log.logStartOffset) continue
        wanted.set(`${c.topic}\u0000${c.partition}\u0000${c.committedOffset}`, {topic: c.topic, partition: c.partition, offset: c.committedOffset})
      }
    }
    const missing = [...wanted].filter(([key]) => !this.cache.has(key)).map(([, position]) => position)
    if (missing.length > 0) {
      try {
        await this.read(missing)
      } catch (error) {
        if (this.debug) process.stderr.write(`[kpipe lag] record times unavailable: ${(error as Error).message}\n`)
      }
    }
    // Keep only what this sample needs: the cache stays as small as the set of lagging partitions.
    for (const key of this.cache.keys()) if (!wanted.has(key)) this.cache.delete(key)
    for (const g of sample.groups) {
      for (const c of g.commits) {
        const time = c.committedOffset === null ? undefined : this.cache.get(`${c.topic}\u0000${c.partition}\u0000${c.committedOffset}`)
        if (typeof time === 'number') c.committedRecordTimeMs = time
      }
    }
  }

  private async read(positions: {topic: string; partition: number; offset: bigint}[]): Promise<void> {
    registerCompressionCodecs() // the batches may be snappy, lz4 or zstd
    const metadata = await this.links.onAny((link) => link.metadata([...new Set(positions.map((p) => p.topic))]))
    const leaders = new Map<string, number>()
    for (const t of metadata.topicMetadata) for (const p of t.partitionMetadata) if (p.leader >= 0) leaders.set(`${t.topic}\u0000${p.partitionId}`, p.leader)
    const addresses = new Map(metadata.brokers.map((b) => [b.nodeId, `${b.host}:${b.port}`]))
    const byLeader = new Map<string, typeof positions>()
    for (const p of positions) {
      const address = addresses.get(leaders.get(`${p.topic}\u0000${p.partition}`) ?? -1)
      if (address === undefined) continue // no leader: stays unknown
      byLeader.set(address, [...(byLeader.get(address) ?? []), p])
    }
    await Promise.all(
      [...byLeader].map(([address, list]) =>
        this.links.on(address, async (link: BrokerLink) => {
          // A Fetch names a partition once: several offsets of one partition (several groups
          // behind on it) go in successive requests, 32 partitions a request.
          for (const chunk of fetchRounds(list, 32)) {
            const times = await link.recordTimestamps(chunk)
            for (const p of chunk) this.cache.set(`${p.topic}\u0000${p.partition}\u0000${p.offset}`, times.get(`${p.topic}\u0000${p.partition}`) ?? null)
          }
        }),
      ),
    )
  }
}

/** Splits positions into requests in which each partition appears at most once, `size` at most. */
export function fetchRounds<T extends {topic: string; partition: number}>(positions: readonly T[], size: number): T[][] {
  const rounds: T[][] = []
  const seen: Set<string>[] = []
  for (const p of positions) {
    const key = `${p.topic}\u0000${p.partition}`
    let i = 0
    while (i < rounds.length && (seen[i]!.has(key) || rounds[i]!.length >= size)) i++
    if (i === rounds.length) {
      rounds.push([])
      seen.push(new Set())
    }
    rounds[i]!.push(p)
    seen[i]!.add(key)
  }
  return rounds
}

export interface PollLoopOptions {
  intervalMs: number
  signal: AbortSignal
  /** Stop after this long (ms); the loop then returns the last view. */
  durationMs?: number
  onView?: (view: LagView) => void | Promise<void>
  /** A failed poll: return true to keep polling (watch, serve), false to stop with the error. */
  onError?: (error: unknown) => boolean
  now?: () => number
}

/** Polls every `intervalMs` (measured start to start, never overlapping) until aborted or done. */
export async function pollLoop(source: LagSource, options: PollLoopOptions): Promise<LagView | undefined> {
  const now = options.now ?? Date.now
  const started = now()
  let last: LagView | undefined
  while (!options.signal.aborted) {
    const pollStarted = now()
    try {
      last = await source.poll()
      await options.onView?.(last)
    } catch (error) {
      if (!options.onError?.(error)) throw error
    }
    const elapsed = now() - started
    if (options.durationMs !== undefined && elapsed >= options.durationMs) break
    let wait = Math.max(0, options.intervalMs - (now() - pollStarted))
    if (options.durationMs !== undefined) wait = Math.min(wait, options.durationMs - elapsed)
    await sleepUnlessAborted(wait, options.signal)
  }
  return last
}
