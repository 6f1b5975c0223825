/**
 * The contract between the worker engine and its sinks (STYLE habit 14): the engine consumes,
 * batches, decodes, dead-letters, retries, commits and reports; a sink only turns a decoded
 * batch into writes and says which records it rejected and why. Kafka Connect's split between
 * WorkerSinkTask (runtime) and SinkTask.put (connector) is the model.
 */
import type {IHeaders} from 'kafkajs'

/** Why a record went to the dead-letter topic (DESIGN §3). */
export const ERROR_CLASSES = ['decode', 'schema', 'validation', 'oversize', 'sink'] as const
export type ErrorClass = (typeof ERROR_CLASSES)[number]

/** A record as it came from Kafka, before decoding. */
export interface SourceRecord {
  topic: string
  partition: number
  offset: string
  key: Buffer | null
  value: Buffer | null
  headers: IHeaders
  /** Kafka timestamp, milliseconds since the epoch, as a decimal string (kafkajs' form). */
  timestamp: string
}

export interface DecodedRecord<T> {
  source: SourceRecord
  value: T
}

export type DecodeOutcome<T> = {ok: true; value: T} | {ok: false; errorClass: ErrorClass; message: string}

/** The per-worker decode step: pure, never throws for bad input (it reports it). */
export type RecordDecoder<T> = (record: SourceRecord) => DecodeOutcome<T>

export interface RejectedRecord<T> {
  record: DecodedRecord<T>
  errorClass: ErrorClass
  message: string
}

export interface SinkWriteContext {
  topic: string
  partition: number
  /** Keeps the group membership alive during a long write. */
  heartbeat(): Promise<void>
}

export interface SinkWriteResult<T> {
  /** Records the sink will never accept (bad data, not a bad connection): dead-lettered. */
  rejected: RejectedRecord<T>[]
  /** Records the sink stored for the first time (the rest were already there). */
  inserted?: number
  /**
   * Follow-up work on what was just written (e.g. a cache update) that may overlap the next
   * slice's write but must succeed before this slice's offsets are committed. Retried with
   * backoff like a write when it throws; it must be idempotent.
   */
  followUp?: () => Promise<void>
}

export interface Sink<T> {
  /** Names the sink in logs, metrics and dead letters (`kpipe.dlq.worker`). */
  readonly name: string
  /**
   * Writes a batch idempotently. Throws when the write could not be done at all (the engine
   * retries with backoff, without committing); resolves once the batch is durable.
   */
  write(records: DecodedRecord<T>[], context: SinkWriteContext): Promise<SinkWriteResult<T>>
  /** Whether a failure of write() is worth retrying; a bug is not. Default: retry. */
  isRetriable?(error: unknown): boolean
  /**
   * For /readyz: a cheap check that a write could succeed now (e.g. `SELECT 1`); throws or
   * times out when not. The engine runs it every few seconds, also while idle.
   */
  probe?(): Promise<void>
  close(): Promise<void>
}

/** What a worker did, for `--json` at exit. */
export interface WorkerSummary {
  worker: string
  topic: string
  group: string
  consumed: number
  written: number
  inserted: number
  deadLettered: number
  byErrorClass: Record<ErrorClass, number>
  commits: number
  sinkRetries: number
  durationMs: number
  recordsPerSec: number
  /** Why the worker stopped: a signal, caught up, or a fatal error. */
  stoppedBy: 'signal' | 'caught-up' | 'error'
}
