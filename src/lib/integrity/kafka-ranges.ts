/**
 * Reads given offset ranges of a topic, and only those: the dead-letter topic from start to end,
 * and the few offsets of a source topic that no sink row accounts for. kafkajs has no
 * group-less consumer (no assign()), so a throwaway group that never commits is joined, each
 * partition is sought to its next wanted range, and a partition is paused once its ranges are
 * read; the group is deleted after.
 *
 * An offset that was fetched but carries no data record is reported as absent: kafkajs drops
 * control records (transaction markers) and, reading committed, aborted records, exactly as the
 * workers do. An offset is known to be fetched when a later offset of the same fetch was seen
 * (the batch's last offset counts markers and aborted records too).
 */
import {randomUUID} from 'node:crypto'

import type {Admin, EachBatchPayload, IHeaders, Kafka} from 'kafkajs'

import {kafkaAccessError} from '../error-classify.js'
import {DependencyError} from '../errors.js'
import {registerCompressionCodecs} from '../workers/codecs.js'
import type {OffsetRange} from './reconcile.js'

/** The throwaway groups' names begin so: one PREFIXED ACL grants them all. */
export const GROUP_PREFIX = 'kpipe-integrity-'

export interface RangeRecord {
  partition: number
  offset: bigint
  key: Buffer | null
  value: Buffer | null
  headers: IHeaders
}

export interface ReadRangesOptions {
  /** The whole read fails (exit 3) past this; 120 s by default. */
  timeoutMs?: number
  /** Used to delete the throwaway group afterwards. */
  admin?: Admin
  /** Every partition of the topic: those with nothing wanted are paused at once. */
  partitions?: readonly number[]
  /** Kafka's name for kpipe's client, for a refusal's sentence. */
  principal?: string
}

interface PartitionCursor {
  ranges: readonly OffsetRange[]
  index: number
  /** The next offset not yet examined. */
  next: bigint
}

/**
 * Calls `onRecord` for every data record in the wanted ranges; resolves with the offsets of those
 * ranges that were fetched but hold no data record (transaction markers, aborted records).
 */
export async function readRanges(
  kafka: Kafka,
  topic: string,
  wanted: ReadonlyMap<number, readonly OffsetRange[]>,
  onRecord: (record: RangeRecord) => void,
  options: ReadRangesOptions = {},
): Promise<Map<number, OffsetRange[]>> {
  const cursors = new Map<number, PartitionCursor>()
  for (const [partition, ranges] of wanted) if (ranges.length > 0) cursors.set(partition, {ranges, index: 0, next: ranges[0]!.from})
  const absent = new Map<number, OffsetRange[]>()
  if (cursors.size === 0) return absent
  registerCompressionCodecs()

  const groupId = `${GROUP_PREFIX}${randomUUID()}`
  const consumer = kafka.consumer({groupId, maxWaitTimeInMs: 250, allowAutoTopicCreation: false, readUncommitted: false, retry: {retries: 3}})
  let finish!: () => void
  let fail!: (error: unknown) => void
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve
    fail = reject
  })
  // A crash may reject `done` while connect, subscribe or run is still awaited (a group refused
  // at join): their error is the one thrown, and this one must not be an unhandled rejection.
  done.catch(() => undefined)
  const markAbsent = (partition: number, from: bigint, to: bigint) => {
    if (to < from) return
    const list = absent.get(partition) ?? []
    list.push({from, to})
    absent.set(partition, list)
  }
  const seekTo = (partition: number, offset: bigint) => consumer.seek({topic, partition, offset: offset.toString()})
  const completePartition = (partition: number) => {
    cursors.delete(partition)
    consumer.pause([{topic, partitions: [partition]}])
    if (cursors.size === 0) finish()
  }

  /** Moves to the next range; false when the partition is done. */
  const nextRange = (partition: number, cursor: PartitionCursor): boolean => {
    cursor.index++
    if (cursor.index >= cursor.ranges.length) {
      completePartition(partition)
      return false
    }
    cursor.next = cursor.ranges[cursor.index]!.from
    return true
  }

  // Auto-resolve (kafkajs' default) moves the fetch position past each batch; a seek made here
  // is applied before the next fetch and wins over it.
  const eachBatch = async ({batch, isStale}: EachBatchPayload) => {
    const {partition} = batch
    const cursor = cursors.get(partition)
    // No offset fetched at all (firstOffset counts markers and aborted records): nothing learnt.
    const firstOffset = batch.firstOffset()
    if (!cursor || firstOffset === null) return
    const first = BigInt(firstOffset)
    // Deleted by retention since the read began: nothing there to examine.
    if (first > cursor.next) cursor.next = first
    for (const message of batch.messages) {
      if (isStale()) return
      const offset = BigInt(message.offset)
      if (offset < cursor.next) continue
      // Ranges this record is past hold no other data record.
      while (offset > cursor.ranges[cursor.index]!.to) {
        const range = cursor.ranges[cursor.index]!
        markAbsent(partition, max(cursor.next, range.from), range.to)
        if (!nextRange(partition, cursor)) return
      }
      const range = cursor.ranges[cursor.index]!
      if (offset >= range.from) {
        markAbsent(partition, max(cursor.next, range.from), offset - 1n)
        onRecord({partition, offset, key: message.key, value: message.value, headers: message.headers ?? {}})
        cursor.next = offset + 1n
      }
    }
    if (isStale()) return
    // The batch's last offset counts markers and aborted records: all up to it was examined.
    const last = BigInt(batch.lastOffset())
    for (;;) {
      const range = cursor.ranges[cursor.index]!
      if (last < range.from) break
      markAbsent(partition, max(cursor.next, range.from), last < range.to ? last : range.to)
      if (last < range.to) {
        cursor.next = max(cursor.next, last + 1n)
        break
      }
      if (!nextRange(partition, cursor)) return
    }
    if (cursor.next > last + 1n) seekTo(partition, cursor.next)
  }

  const timer = setTimeout(
    () => fail(new DependencyError('kafka', `Reading ${topic} did not finish within ${Math.round((options.timeoutMs ?? 120_000) / 1000)} s.`, {hint: 'Check the brokers (kpipe topics describe), then run kpipe integrity again.'})),
    options.timeoutMs ?? 120_000,
  )
  let crash: unknown
  try {
    consumer.on(consumer.events.CRASH, ({payload}) => {
      if (payload.restart) return
      crash = payload.error
      fail(payload.error)
    })
    await consumer.connect()
    await consumer.subscribe({topics: [topic], fromBeginning: true})
    await consumer.run({autoCommit: false, eachBatchAutoResolve: true, partitionsConsumedConcurrently: 1, eachBatch})
    // run() resolves once the group is joined: the one member holds every partition.
    for (const [partition, cursor] of cursors) seekTo(partition, cursor.next)
    const others = (options.partitions ?? []).filter((partition) => !cursors.has(partition))
    if (others.length > 0) consumer.pause([{topic, partitions: others}])
    await done
  } catch (thrown) {
    // A crashed consumer's error explains what failed after it (a seek on a group never joined).
    const error = crash ?? thrown
    // Under ACLs: READ on the topic, and READ on this throwaway group (prefix kpipe-integrity-).
    throw kafkaAccessError(error, {topic: {name: topic, operation: 'READ'}, group: {name: groupId, operation: 'READ', prefix: GROUP_PREFIX}, principal: options.principal}) ?? error
  } finally {
    clearTimeout(timer)
    await consumer.disconnect().catch(() => undefined)
    await options.admin?.deleteGroups([groupId]).catch(() => undefined)
  }
  return absent
}

function max(a: bigint, b: bigint): bigint {
  return a > b ? a : b
}
