/**
 * The pure core of `kpipe replay-dlq` (DESIGN §2–§3): dead letters of three writers read into
 * one shape, the filters, the decision per record, the headers of a republished record, the
 * dry-run summary, the progress kept in the replay's consumer group, and the send pacing.
 * Nothing here talks to Kafka; replay-service.ts does, around these functions.
 */
import type {IHeaders} from 'kafkajs'

import type {SourceRecord} from '../workers/types.js'
import {DLQ_HEADER_PREFIX, DLQ_HEADERS} from './dead-letter.js'

// ---------------------------------------------------------------------------------------------
// Dialects

/** Who wrote a dead letter: kpipe's workers, Kafka Connect's error reporter, Spring Kafka's DeadLetterPublishingRecoverer. */
export const DEAD_LETTER_DIALECTS = ['kpipe', 'connect', 'spring', 'unknown'] as const
export type DeadLetterDialect = (typeof DEAD_LETTER_DIALECTS)[number]

/** Kafka Connect's context headers (`errors.deadletterqueue.context.headers.enable=true`). */
export const CONNECT_HEADERS = {
  prefix: '__connect.errors.',
  topic: '__connect.errors.topic',
  partition: '__connect.errors.partition',
  offset: '__connect.errors.offset',
  exceptionClass: '__connect.errors.exception.class.name',
  exceptionMessage: '__connect.errors.exception.message',
} as const

/** Spring Kafka's DLT headers (KafkaHeaders.DLT_*): partition and offset are big-endian binary ints. */
export const SPRING_HEADERS = {
  prefix: 'kafka_dlt-',
  topic: 'kafka_dlt-original-topic',
  partition: 'kafka_dlt-original-partition',
  offset: 'kafka_dlt-original-offset',
  exceptionMessage: 'kafka_dlt-exception-message',
  exceptionClass: 'kafka_dlt-exception-fqcn',
} as const

/** Headers the replay adds to a republished (and a parked) record: where it was a dead letter. */
export const REPLAY_HEADERS = {
  prefix: 'kpipe.replay.',
  dlqTopic: 'kpipe.replay.dlq.topic',
  dlqPartition: 'kpipe.replay.dlq.partition',
  dlqOffset: 'kpipe.replay.dlq.offset',
  parkedReason: 'kpipe.replay.parked.reason',
} as const

/** A dead letter as read from the dead-letter topic: a record like any other (workers/types.ts). */
export type DeadLetterRecord = SourceRecord

/** A dead letter in one shape, whoever wrote it. */
export interface NormalisedDeadLetter {
  dialect: DeadLetterDialect
  /** Where the record came from; null when the writer did not say (Connect without context headers). */
  originalTopic: string | null
  originalPartition: number | null
  originalOffset: string | null
  /** kpipe's class (decode, schema, …), or the exception class name of Connect and Spring; `unknown` if none. */
  errorClass: string
  errorMessage: string
  /** Failures so far, ≥ 1: kpipe.dlq.attempt, counted one up for a foreign writer that carried it over. */
  attempt: number
  /** When the record was dead-lettered (kpipe.dlq.failed.at, else the dead letter's Kafka timestamp), ms. */
  failedAtMs: number
}

type HeaderValue = IHeaders[string]

/** The last value of a header (Kafka allows repeats; the last one written wins), as bytes. */
export function headerBytes(headers: IHeaders, name: string): Buffer | undefined {
  const value: HeaderValue = headers[name]
  const last = Array.isArray(value) ? value.at(-1) : value
  if (last === undefined || last === null) return undefined
  return typeof last === 'string' ? Buffer.from(last) : last
}

export function headerText(headers: IHeaders, name: string): string | undefined {
  return headerBytes(headers, name)?.toString('utf8')
}

/** A decimal integer header (Connect writes strings): undefined unless it is one. */
function decimal(text: string | undefined): bigint | undefined {
  if (text === undefined || !/^-?\d{1,19}$/.test(text.trim())) return undefined
  return BigInt(text.trim())
}

/**
 * Spring's `kafka_dlt-original-partition` (4 bytes) and `-offset` (8 bytes), big-endian. Some
 * producers in between re-encode headers as text, so a decimal string is read too.
 */
export function springInteger(bytes: Buffer | undefined, width: 4 | 8): bigint | undefined {
  if (bytes === undefined) return undefined
  if (bytes.length === width) return width === 4 ? BigInt(bytes.readInt32BE(0)) : bytes.readBigInt64BE(0)
  return decimal(bytes.toString('latin1'))
}

function partitionOf(n: bigint | undefined): number | null {
  return n !== undefined && n >= 0n && n <= 2_147_483_647n ? Number(n) : null
}

function offsetOf(n: bigint | undefined): string | null {
  return n !== undefined && n >= 0n ? n.toString() : null
}

function positiveInt(text: string | undefined): number | undefined {
  const n = decimal(text)
  return n !== undefined && n > 0n && n < 1_000_000n ? Number(n) : undefined
}

function nonEmpty(text: string | undefined): string | undefined {
  return text === undefined || text.trim() === '' ? undefined : text
}

/** Which writer a dead letter's headers come from. kpipe first: its headers are the most specific. */
export function detectDialect(headers: IHeaders): DeadLetterDialect {
  if (headers[DLQ_HEADERS.errorClass] !== undefined || headers[DLQ_HEADERS.originalTopic] !== undefined) return 'kpipe'
  if (headers[SPRING_HEADERS.topic] !== undefined || headers[SPRING_HEADERS.exceptionClass] !== undefined) return 'spring'
  if (Object.keys(headers).some((name) => name.startsWith(CONNECT_HEADERS.prefix))) return 'connect'
  return 'unknown'
}

/** Reads a dead letter of any of the three writers into one shape; never throws. */
export function normaliseDeadLetter(record: DeadLetterRecord): NormalisedDeadLetter {
  const {headers} = record
  const dialect = detectDialect(headers)
  const kafkaMs = Number(record.timestamp)
  const failedAt = Date.parse(headerText(headers, DLQ_HEADERS.failedAt) ?? '')
  const failedAtMs = dialect === 'kpipe' && Number.isFinite(failedAt) ? failedAt : Number.isFinite(kafkaMs) ? kafkaMs : 0
  const carriedAttempt = positiveInt(headerText(headers, DLQ_HEADERS.attempt))
  switch (dialect) {
    case 'kpipe':
      return {
        dialect,
        originalTopic: nonEmpty(headerText(headers, DLQ_HEADERS.originalTopic)) ?? null,
        originalPartition: partitionOf(decimal(headerText(headers, DLQ_HEADERS.originalPartition))),
        originalOffset: offsetOf(decimal(headerText(headers, DLQ_HEADERS.originalOffset))),
        errorClass: nonEmpty(headerText(headers, DLQ_HEADERS.errorClass)) ?? 'unknown',
        errorMessage: headerText(headers, DLQ_HEADERS.errorMessage) ?? '',
        attempt: carriedAttempt ?? 1,
        failedAtMs,
      }
    case 'connect':
      return {
        dialect,
        originalTopic: nonEmpty(headerText(headers, CONNECT_HEADERS.topic)) ?? null,
        originalPartition: partitionOf(decimal(headerText(headers, CONNECT_HEADERS.partition))),
        originalOffset: offsetOf(decimal(headerText(headers, CONNECT_HEADERS.offset))),
        errorClass: nonEmpty(headerText(headers, CONNECT_HEADERS.exceptionClass)) ?? 'unknown',
        errorMessage: headerText(headers, CONNECT_HEADERS.exceptionMessage) ?? '',
        // A foreign writer copies the headers of the record it failed on without counting: the
        // failure it reports is one more than the replay carried in.
        attempt: (carriedAttempt ?? 0) + 1,
        failedAtMs,
      }
    case 'spring':
      return {
        dialect,
        originalTopic: nonEmpty(headerText(headers, SPRING_HEADERS.topic)) ?? null,
        originalPartition: partitionOf(springInteger(headerBytes(headers, SPRING_HEADERS.partition), 4)),
        originalOffset: offsetOf(springInteger(headerBytes(headers, SPRING_HEADERS.offset), 8)),
        errorClass: nonEmpty(headerText(headers, SPRING_HEADERS.exceptionClass)) ?? 'unknown',
        errorMessage: headerText(headers, SPRING_HEADERS.exceptionMessage) ?? '',
        attempt: (carriedAttempt ?? 0) + 1,
        failedAtMs,
      }
    case 'unknown':
      return {dialect, originalTopic: null, originalPartition: null, originalOffset: null, errorClass: 'unknown', errorMessage: '', attempt: (carriedAttempt ?? 0) + 1, failedAtMs}
  }
}

// ---------------------------------------------------------------------------------------------
// Filters and the decision per record

export interface ReplayFilter {
  /** Any of these classes (kpipe's class, or an exception class by full or simple name). */
  errorClasses?: readonly string[]
  /** Dead-lettered at or after (ms). */
  sinceMs?: number
  /** Dead-lettered before (ms, exclusive). */
  untilMs?: number
  /** The record's key, as UTF-8 text. */
  key?: string
  /** Text in the error message, case-insensitive. */
  grep?: string
}

export function isFiltered(filter: ReplayFilter): boolean {
  return (
    (filter.errorClasses?.length ?? 0) > 0 ||
    filter.sinceMs !== undefined ||
    filter.untilMs !== undefined ||
    filter.key !== undefined ||
    filter.grep !== undefined
  )
}

/** `org.apache.kafka.connect.errors.DataException` matches `DataException` too. */
function classMatches(errorClass: string, wanted: string): boolean {
  return errorClass === wanted || errorClass.slice(errorClass.lastIndexOf('.') + 1) === wanted
}

export function matchesFilter(letter: NormalisedDeadLetter, key: Buffer | null, filter: ReplayFilter): boolean {
  const classes = filter.errorClasses ?? []
  if (classes.length > 0 && !classes.some((wanted) => classMatches(letter.errorClass, wanted))) return false
  if (filter.sinceMs !== undefined && letter.failedAtMs < filter.sinceMs) return false
  if (filter.untilMs !== undefined && letter.failedAtMs >= filter.untilMs) return false
  if (filter.key !== undefined && (key === null || key.toString('utf8') !== filter.key)) return false
  if (filter.grep !== undefined && !letter.errorMessage.toLowerCase().includes(filter.grep.toLowerCase())) return false
  return true
}

export const DEFAULT_MAX_ATTEMPTS = 3

export interface DecisionOptions {
  filter: ReplayFilter
  maxAttempts: number
  /** --to: every record goes there instead of its original topic. */
  to?: string
}

export type ReplayDecision =
  | {action: 'replay'; topic: string}
  | {action: 'park'; reason: string}
  | {action: 'skip'}
  /** No original topic and no --to: the replay cannot route it (exit 2). */
  | {action: 'unroutable'}

/**
 * What to do with one dead letter: skip it when a filter leaves it out, park it once it failed
 * `maxAttempts` times (a replay into a worker that still fails the same way must not loop),
 * otherwise replay it to --to or to where it came from.
 */
export function decide(letter: NormalisedDeadLetter, key: Buffer | null, options: DecisionOptions): ReplayDecision {
  if (!matchesFilter(letter, key, options.filter)) return {action: 'skip'}
  if (letter.attempt >= options.maxAttempts) return {action: 'park', reason: `attempt ${letter.attempt} ≥ --max-attempts ${options.maxAttempts}`}
  const topic = options.to ?? letter.originalTopic
  if (topic === null) return {action: 'unroutable'}
  return {action: 'replay', topic}
}

// ---------------------------------------------------------------------------------------------
// Republished and parked records

/** Header prefixes of dead-letter writers: none of them survives a replay. */
const DEAD_LETTER_PREFIXES = [DLQ_HEADER_PREFIX, CONNECT_HEADERS.prefix, SPRING_HEADERS.prefix, REPLAY_HEADERS.prefix]

/**
 * The headers of a republished record: its original headers, with every dead-letter writer's
 * headers (and an earlier replay's) removed, the failure count carried as kpipe.dlq.attempt, and
 * where it was a dead letter. The count goes up when the record fails again (kpipe's dead-letter
 * writer adds one; for a foreign writer normaliseDeadLetter does): counting here as well would
 * count each failure twice.
 */
export function replayHeaders(record: DeadLetterRecord, letter: NormalisedDeadLetter): IHeaders {
  const headers: IHeaders = {}
  for (const [name, value] of Object.entries(record.headers)) {
    if (value === undefined) continue
    if (DEAD_LETTER_PREFIXES.some((prefix) => name.startsWith(prefix))) continue
    headers[name] = value
  }
  headers[DLQ_HEADERS.attempt] = String(letter.attempt)
  headers[REPLAY_HEADERS.dlqTopic] = record.topic
  headers[REPLAY_HEADERS.dlqPartition] = String(record.partition)
  headers[REPLAY_HEADERS.dlqOffset] = record.offset
  return headers
}

/** A parked record keeps the dead letter whole (its diagnostics) and says where and why it was parked. */
export function parkedHeaders(record: DeadLetterRecord, reason: string): IHeaders {
  const headers: IHeaders = {}
  for (const [name, value] of Object.entries(record.headers)) {
    if (value === undefined || name.startsWith(REPLAY_HEADERS.prefix)) continue
    headers[name] = value
  }
  headers[REPLAY_HEADERS.dlqTopic] = record.topic
  headers[REPLAY_HEADERS.dlqPartition] = String(record.partition)
  headers[REPLAY_HEADERS.dlqOffset] = record.offset
  headers[REPLAY_HEADERS.parkedReason] = reason
  return headers
}

/** Where records that failed too often go: `events.dlq` → `events.dlq.parked`. */
export function parkedTopic(dlq: string): string {
  return `${dlq}.parked`
}

/**
 * The consumer group that keeps a replay's progress when --group is not given. Kafka group ids
 * take any characters; the prefix keeps them apart from the workers' groups in `kpipe lag`.
 */
export function defaultReplayGroup(dlq: string): string {
  return `kpipe-replay.${dlq}`
}

/**
 * The transactional id of a replay: derived from its group, so a replay started again after a
 * kill fences the old one (InitProducerId aborts its open transaction) before reading progress.
 */
export function replayTransactionalId(group: string): string {
  return `${group}.txn`
}

// ---------------------------------------------------------------------------------------------
// Summary

export const SAMPLES_PER_SUMMARY = 5
export const SAMPLE_VALUE_BYTES = 80

export interface ReplaySample {
  dlqPartition: number
  dlqOffset: string
  key: string | null
  originalTopic: string | null
  errorClass: string
  errorMessage: string
  attempt: number
  action: 'replay' | 'park' | 'unroutable'
  /** The first bytes of the value: UTF-8 text when it is, otherwise hex prefixed `0x`. */
  valuePreview: string | null
}

/** The `replay-dlq --json` document (DESIGN §2); fields may be added, never renamed. */
export interface ReplaySummary {
  dryRun: boolean
  dlq: string
  group: string
  to: string | null
  /** Dead letters read (not counting those an earlier run already replayed or parked). */
  read: number
  replayed: number
  parked: number
  /** Left out by a filter: still in the dead-letter topic for a later replay. */
  skipped: number
  /** Already replayed or parked by an earlier filtered run of the same group. */
  alreadyDone: number
  /** Without an original topic (and no --to): not replayed. */
  unroutable: number
  /** Replayed (or, in a dry run, to be replayed) and parked, by error class. */
  byErrorClass: Record<string, number>
  /** By original topic (`(none)` when the dead letter does not say). */
  byOriginalTopic: Record<string, number>
  byDialect: Record<string, number>
  samples: ReplaySample[]
  parkedTopic: string
  /** done: read to the end taken at start; progress-full: a filter left too many gaps for one commit. */
  stoppedBy: 'done' | 'limit' | 'signal' | 'progress-full'
  durationMs: number
}

export const NO_TOPIC = '(none)'

export function emptySummary(init: {dryRun: boolean; dlq: string; group: string; to?: string}): ReplaySummary {
  return {
    dryRun: init.dryRun,
    dlq: init.dlq,
    group: init.group,
    to: init.to ?? null,
    read: 0,
    replayed: 0,
    parked: 0,
    skipped: 0,
    alreadyDone: 0,
    unroutable: 0,
    byErrorClass: {},
    byOriginalTopic: {},
    byDialect: {},
    samples: [],
    parkedTopic: parkedTopic(init.dlq),
    stoppedBy: 'done',
    durationMs: 0,
  }
}

/** The first bytes of a value, readable: text when it decodes as UTF-8 without control bytes, else hex. */
export function valuePreview(value: Buffer | null, bytes = SAMPLE_VALUE_BYTES): string | null {
  if (value === null) return null
  const head = value.subarray(0, bytes)
  const text = new TextDecoder('utf-8', {fatal: false}).decode(head)
  // A cut in the middle of a multi-byte character shows as U+FFFD only at the very end.
  const body = head.length < value.length ? text.replace(/\uFFFD+$/, '') : text
  // eslint-disable-next-line no-control-regex
  const printable = !/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F\uFFFD]/.test(body)
  const shown = printable ? body : `0x${head.toString('hex')}`
  return head.length < value.length ? `${shown}…` : shown
}

/** Counts one record into the summary (pure: returns a new summary). */
export function countRecord(summary: ReplaySummary, record: DeadLetterRecord, letter: NormalisedDeadLetter, decision: ReplayDecision): ReplaySummary {
  const next: ReplaySummary = {...summary, read: summary.read + 1}
  if (decision.action === 'skip') return {...next, skipped: summary.skipped + 1}
  if (decision.action === 'replay') next.replayed = summary.replayed + 1
  else if (decision.action === 'park') next.parked = summary.parked + 1
  else next.unroutable = summary.unroutable + 1
  const topic = letter.originalTopic ?? NO_TOPIC
  next.byErrorClass = {...summary.byErrorClass, [letter.errorClass]: (summary.byErrorClass[letter.errorClass] ?? 0) + 1}
  next.byOriginalTopic = {...summary.byOriginalTopic, [topic]: (summary.byOriginalTopic[topic] ?? 0) + 1}
  next.byDialect = {...summary.byDialect, [letter.dialect]: (summary.byDialect[letter.dialect] ?? 0) + 1}
  if (summary.samples.length < SAMPLES_PER_SUMMARY) {
    next.samples = [
      ...summary.samples,
      {
        dlqPartition: record.partition,
        dlqOffset: record.offset,
        key: record.key === null ? null : record.key.toString('utf8'),
        originalTopic: letter.originalTopic,
        errorClass: letter.errorClass,
        errorMessage: letter.errorMessage,
        attempt: letter.attempt,
        action: decision.action,
        valuePreview: valuePreview(record.value),
      },
    ]
  }
  return next
}

// ---------------------------------------------------------------------------------------------
// Progress: what the replay's group has handled

/**
 * Progress in one partition of the dead-letter topic: every offset below `next` is handled
 * (replayed, parked, or not a record at all), and so is every offset in `done` ([from, to)
 * ranges above `next`, sorted, apart). `done` is what a filtered replay handled beyond a record
 * its filter left out: the left-out record stays unhandled for a later replay with another
 * filter, and the handled ones after it are never replayed twice. Unfiltered replays keep
 * `done` empty: the committed offset alone says it all.
 */
export interface PartitionProgress {
  next: bigint
  done: [bigint, bigint][]
}

/** Marks the offsets of `[from, to)` handled, except `left` (records a filter left out). */
export function markScanned(progress: PartitionProgress, from: bigint, to: bigint, left: readonly bigint[] = []): PartitionProgress {
  const ranges: [bigint, bigint][] = [...progress.done]
  let start = from
  for (const offset of [...left].filter((o) => o >= from && o < to).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (offset > start) ranges.push([start, offset])
    start = offset + 1n
  }
  if (to > start) ranges.push([start, to])
  return normalise({next: progress.next, done: ranges})
}

/** Merges the ranges and moves `next` over those that touch it. */
function normalise(progress: PartitionProgress): PartitionProgress {
  const sorted = progress.done
    .filter(([a, b]) => b > a)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  let next = progress.next
  const merged: [bigint, bigint][] = []
  for (const [a, b] of sorted) {
    if (merged.length === 0 && a <= next) {
      if (b > next) next = b
      continue
    }
    const last = merged.at(-1)
    if (last && a <= last[1]) {
      if (b > last[1]) last[1] = b
    } else merged.push([a, b])
  }
  return {next, done: merged}
}

export function isHandled(progress: PartitionProgress, offset: bigint): boolean {
  if (offset < progress.next) return true
  return progress.done.some(([a, b]) => offset >= a && offset < b)
}

/** Marks commit metadata as kpipe's, versioned, so metadata written by anything else is ignored. */
const PROGRESS_TAG = 'kpipe-replay/1:'
/**
 * Kafka refuses offset metadata over offset.metadata.max.bytes (4096 by default): past this
 * many characters a filtered replay stops and says so, rather than failing the transaction.
 */
export const MAX_PROGRESS_METADATA = 4000

/** The `done` ranges as commit metadata: base-36 gap.length pairs, each relative to the last end. */
export function encodeProgress(progress: PartitionProgress): {offset: string; metadata: string} {
  let last = progress.next
  const pairs = progress.done.map(([a, b]) => {
    const pair = `${(a - last).toString(36)}.${(b - a).toString(36)}`
    last = b
    return pair
  })
  return {offset: progress.next.toString(), metadata: pairs.length === 0 ? '' : `${PROGRESS_TAG}${pairs.join(',')}`}
}

/** The progress a group committed; anything unreadable in the metadata counts as nothing handled beyond the offset. */
export function decodeProgress(offset: string, metadata: string | null | undefined): PartitionProgress {
  const committed = decimal(offset)
  const next = committed === undefined || committed < 0n ? 0n : committed
  if (!metadata?.startsWith(PROGRESS_TAG)) return {next, done: []}
  const done: [bigint, bigint][] = []
  let last = next
  for (const pair of metadata.slice(PROGRESS_TAG.length).split(',')) {
    const match = /^([0-9a-z]{1,13})\.([0-9a-z]{1,13})$/.exec(pair)
    if (!match) return {next, done: []}
    const a = last + base36(match[1]!)
    const b = a + base36(match[2]!)
    done.push([a, b])
    last = b
  }
  return normalise({next, done})
}

function base36(text: string): bigint {
  let n = 0n
  for (const ch of text) n = n * 36n + BigInt(parseInt(ch, 36))
  return n
}

/** Where a partition's reading starts: its progress, but never below the log start (retention deleted the rest). */
export function startOffset(progress: PartitionProgress, logStart: bigint): bigint {
  return progress.next > logStart ? progress.next : logStart
}

// ---------------------------------------------------------------------------------------------
// Pacing

/**
 * A token bucket for --rate N/s, as plain state: `rate` tokens a second, at most `burst` held.
 * Hand-written because the maintained one (npm `limiter`) is not a dependency here and this is
 * a few lines of arithmetic; the clock is a parameter so the arithmetic is tested without time.
 */
export interface TokenBucket {
  rate: number
  burst: number
  tokens: number
  atMs: number
}

export function tokenBucket(rate: number, nowMs: number, burst = Math.max(1, rate)): TokenBucket {
  return {rate, burst, tokens: Math.min(1, burst), atMs: nowMs}
}

/**
 * Takes `n` tokens: the bucket after the take, and how long to wait first (0 when they are
 * there). The debt is carried, so a take larger than the burst waits for the whole of it.
 */
export function takeTokens(bucket: TokenBucket, n: number, nowMs: number): {bucket: TokenBucket; waitMs: number} {
  const elapsed = Math.max(0, nowMs - bucket.atMs)
  const available = Math.min(bucket.burst, bucket.tokens + (elapsed * bucket.rate) / 1000)
  const left = available - n
  const waitMs = left >= 0 ? 0 : Math.ceil((-left * 1000) / bucket.rate)
  return {bucket: {...bucket, tokens: left, atMs: Math.max(nowMs, bucket.atMs)}, waitMs}
}

/** Records per transaction: about a second's worth at --rate, so a stop (or a kill) loses little pacing. */
export function transactionSize(rate: number | undefined, max = 500): number {
  if (rate === undefined) return max
  return Math.max(1, Math.min(max, Math.floor(rate)))
}

/** `--rate 50/s`, `--rate 50`, `--rate 0.5/s`: records per second, > 0. */
export function parseRate(input: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*s(?:ec(?:ond)?)?)?\s*$/i.exec(input)
  if (!match) return undefined
  const rate = Number(match[1])
  return rate > 0 && Number.isFinite(rate) ? rate : undefined
}
