/**
 * How many bytes a fetch may ask of each partition, adapted to how well the records compress.
 *
 * A worker's memory follows the records one fetch decodes, not the bytes it fetched: kafkajs
 * decompresses every batch of a fetch response and makes a message object of each record at
 * once. The per-partition limit Kafka applies is in stored (compressed) bytes, so 1 MiB of
 * zstd-compressed events decodes to 8 MiB and 8 times the records of an uncompressed MiB: the
 * events worker peaked at 423 MiB RSS on lz4 input and ran out of heap on zstd with the limit
 * that keeps uncompressed input under 200 MiB. This keeps the decoded bytes per partition fetch
 * near the configured limit instead: when a partition's fetch was cut by the limit and decoded
 * to more than it, the records compress that many times, and the limit shrinks by as much (and
 * grows back if they compress less later). It starts low and grows, so that the first fetch,
 * made before anything is known, cannot be the spike either.
 *
 * kafkajs takes the limit once, as a number, when the consumer starts; it reads it for every
 * fetch request and writes it with Buffer#writeInt32BE, which converts its argument with
 * valueOf(). Handing kafkajs this object as the number is what makes the limit adjustable
 * without a restart (a restart would cost a rebalance). kafkajs 2.2.4 is pinned; an e2e test
 * checks that zstd input does shrink the fetches.
 */

export interface FetchSizerOptions {
  /** The configured per-partition limit: the most stored bytes, and the decoded bytes aimed at. */
  maxBytes: number
  /** Never ask for less than this (a record batch larger than the limit is returned anyway). */
  minBytes?: number
}

const DEFAULT_MIN_BYTES = 64 * 1024
/**
 * The first fetch asks this much at most: before anything is known of the compression, a full
 * limit of zstd records would decode to eight times it, and V8 keeps the heap it grew for that
 * spike (RSS stays up after the garbage is gone). Uncompressed records double it back to the
 * configured limit within two fetches.
 */
export const START_BYTES = 256 * 1024
/** Changes smaller than this share are not worth a new limit (and would log noise). */
const HYSTERESIS = 0.2

export class FetchSizer {
  private current: number
  /** The limit the last fetch request was written with: what its batches were cut by. */
  private requested: number
  private readonly min: number

  constructor(readonly options: FetchSizerOptions) {
    this.min = Math.min(options.minBytes ?? DEFAULT_MIN_BYTES, options.maxBytes)
    this.current = Math.min(options.maxBytes, Math.max(this.min, START_BYTES))
    this.requested = this.current
  }

  /** The limit for the next fetch, in bytes. */
  get limit(): number {
    return this.current
  }

  /** kafkajs' read of the limit as it writes a fetch request. */
  valueOf(): number {
    this.requested = this.current
    return this.current
  }

  /**
   * One partition's fetched batch: the bytes of its keys and values, and whether the fetch was
   * cut short by the limit (records were left behind it). Returns the new limit when it changed.
   * Uncompressed records store more bytes than their keys and values, so they never shrink it.
   */
  observe(decodedBytes: number, cutByLimit: boolean): number | undefined {
    if (!cutByLimit || decodedBytes <= 0) return undefined
    // The fetch stored about the limit it was asked with; decoded / stored is the ratio. (Not
    // the limit now: the batches of one fetch arrive together, and the first may have moved it.)
    const ratio = decodedBytes / this.requested
    const wanted = clamp(Math.round(this.options.maxBytes / Math.max(1, ratio)), this.min, this.options.maxBytes)
    // Shrink at once (memory), grow in steps of at most 2× (one odd batch should not undo it).
    const next = wanted < this.current ? wanted : Math.min(wanted, this.current * 2)
    if (Math.abs(next - this.current) < this.current * HYSTERESIS) return undefined
    this.current = next
    return next
  }
}

/** The bytes of a fetched batch's keys and values, as kafkajs holds them decoded. */
export function decodedBytesOf(messages: readonly {key?: Buffer | null; value: Buffer | null}[]): number {
  let bytes = 0
  for (const message of messages) bytes += (message.key?.length ?? 0) + (message.value?.length ?? 0)
  return bytes
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value))
}
