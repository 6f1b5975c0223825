/**
 * The analytics sink: a decoded batch of events → rows with deterministic insert ids → insertAll
 * requests within BigQuery's limits (rows and bytes), at least once (DESIGN §3, §4). What it does
 * with each answer:
 *
 * - the request is too large (413, or 400 "payload size exceeds the limit"): halved and resent,
 *   never dropped (Kafka Connect's TableWriter does the same);
 * - the service is unavailable (connection errors, 5xx, quota and rate limits): thrown, and the
 *   engine retries with backoff while it holds the partition, committing nothing;
 * - rows refused in insertErrors (`invalid`): rejected, for the dead-letter topic with BigQuery's
 *   reason; rows reported `stopped` (not inserted because of another row) are sent again alone;
 * - an HTTP 500 for the whole request: Google means a passing failure, the emulator means a row
 *   of the wrong type. The sink asks the server: a one-row insert that must be refused per row
 *   (an unknown column). If BigQuery answers it, insertAll works and the request's rows are to
 *   blame: the batch is split until the row is alone, tried twice, and dead-lettered. If not,
 *   BigQuery is failing and the error goes to the engine to retry: an outage never dead-letters.
 *
 * Rows BigQuery accepted are remembered for the retries of the same batch (the engine retries
 * with the same records), so a failure midway resends only what was not taken.
 */
import {Counter, Histogram, type Registry} from 'prom-client'

import {analyticsRow, rowBytes, type InsertRow} from '../bigquery/analytics-row.js'
import {classifyInsertFailure, describeBigQueryError, errorReasons, isRowRetriable} from '../bigquery/insert-errors.js'
import {planRequests, requestBytes, type RequestLimits} from '../bigquery/insert-plan.js'
import {bigqueryDependencyError} from '../error-classify.js'
import {DependencyError, errorMessage, KpipeError} from '../errors.js'
import type {Logger} from '../logging.js'
import type {EventEnvelope} from '../records/envelope.js'
import {isProgrammingError, writeIsolating, type DataRefusal} from './sink-errors.js'
import type {DecodedRecord, RejectedRecord, Sink, SinkWriteContext, SinkWriteResult} from './types.js'

/** One row's errors in an insertAll answer (insertErrors[], by the row's index in the request). */
export interface RowError {
  index: number
  errors: {reason?: string; message?: string; location?: string}[]
}

/** What the sink needs of BigQuery; @google-cloud/bigquery in production (bigQueryInsertApi). */
export interface InsertApi {
  /** One insertAll request of raw rows; resolves with the rows' errors, rejects when the request failed. */
  insert(rows: readonly {insertId?: string; json: object}[]): Promise<RowError[]>
  /** Throws when the table cannot be reached now (for /readyz). */
  probe(): Promise<void>
  /** Creates the dataset, table and view where missing (a table dropped under the worker). */
  ensure(): Promise<void>
}

export interface AnalyticsMetrics {
  requestRows: Histogram<never>
  requestBytes: Histogram<never>
  requestDuration: Histogram<'outcome'>
  requests: Counter<'outcome'>
}

const OUTCOMES = ['ok', 'row_errors', 'too_large', 'failed'] as const
type Outcome = (typeof OUTCOMES)[number]

/** The sink's metrics, beside the worker's on its registry. */
export function createAnalyticsMetrics(registry: Registry): AnalyticsMetrics {
  const registers = [registry]
  const metrics: AnalyticsMetrics = {
    requestRows: new Histogram({
      name: 'kpipe_worker_bigquery_request_rows',
      help: 'Rows per insertAll request',
      buckets: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10_000],
      registers,
    }),
    requestBytes: new Histogram({
      name: 'kpipe_worker_bigquery_request_bytes',
      help: 'Bytes of serialised rows per insertAll request',
      buckets: [1024, 16_384, 65_536, 262_144, 1_048_576, 2_097_152, 4_194_304, 8_388_608, 10_485_760],
      registers,
    }),
    requestDuration: new Histogram({
      name: 'kpipe_worker_bigquery_request_duration_seconds',
      help: 'BigQuery insertAll latency, by outcome',
      labelNames: ['outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    requests: new Counter({
      name: 'kpipe_worker_bigquery_requests_total',
      help: 'insertAll requests by outcome: ok, row_errors (some rows refused or stopped), too_large (halved), failed',
      labelNames: ['outcome'],
      registers,
    }),
  }
  // Each outcome's series from the start, at 0: rate() and increase() then see its first request.
  for (const outcome of OUTCOMES) {
    metrics.requests.inc({outcome}, 0)
    metrics.requestDuration.zero({outcome})
  }
  return metrics
}

export interface AnalyticsSinkOptions {
  api: InsertApi
  limits: RequestLimits
  metrics?: AnalyticsMetrics
  logger?: Logger
  /** Where BigQuery is, for messages. */
  endpoint?: string
  now?: () => Date
  /** How long a control insert's answer is trusted; 2 s. */
  controlTtlMs?: number
}

/** A lone row BigQuery refused as too large for any request. */
class RowTooLargeError extends Error {}

/** The control row: BigQuery must refuse it per row (no such column), so it never lands. */
const CONTROL_ROW = {insertId: 'kpipe-control', json: {kpipe_control_no_such_column: true}}

export class AnalyticsSink implements Sink<EventEnvelope> {
  readonly name = 'analytics'
  private readonly accepted = new WeakSet<DecodedRecord<EventEnvelope>>()
  private readonly refused = new WeakMap<DecodedRecord<EventEnvelope>, RejectedRecord<EventEnvelope>>()
  private control?: {at: number; answered: Promise<boolean>}
  private recreating?: Promise<void>
  private readonly refusal: DataRefusal<EventEnvelope>

  constructor(private readonly options: AnalyticsSinkOptions) {
    this.refusal = {
      blame: async (error) => {
        if (error instanceof RowTooLargeError) return 'data'
        if (error instanceof KpipeError) return 'store'
        const failure = classifyInsertFailure(error)
        if (failure === 'data') return 'data'
        if (failure === 'ambiguous') return (await this.insertAllAnswers()) ? 'suspect' : 'store'
        return 'store'
      },
      confirmRefusal: async (error, record) => {
        const answers = await this.insertAllAnswers()
        if (answers) {
          this.options.logger?.warn(
            {offset: record.source.offset, partition: record.source.partition, eventId: record.value.eventId, err: describeBigQueryError(error)},
            'BigQuery failed every request holding this row while it answered others: the row is dead-lettered',
          )
        }
        return answers
      },
      describe: (error) =>
        error instanceof RowTooLargeError ? error.message : `BigQuery refused the row: ${describeBigQueryError(error)}`,
    }
  }

  async write(records: DecodedRecord<EventEnvelope>[], _context?: SinkWriteContext): Promise<SinkWriteResult<EventEnvelope>> {
    const rejected: RejectedRecord<EventEnvelope>[] = []
    const prepared = new Map<DecodedRecord<EventEnvelope>, {row: InsertRow; bytes: number}>()
    const ingestedAt = (this.options.now?.() ?? new Date()).toISOString()
    const sendable: DecodedRecord<EventEnvelope>[] = []
    for (const record of records) {
      if (this.accepted.has(record)) continue // taken by an earlier try of this batch
      const before = this.refused.get(record)
      if (before) {
        rejected.push(before)
        continue
      }
      const outcome = analyticsRow(record, ingestedAt)
      if (!outcome.ok) {
        rejected.push({record, errorClass: 'sink', message: `BigQuery cannot store the event: ${outcome.message}`})
        continue
      }
      prepared.set(record, {row: outcome.row, bytes: rowBytes(outcome.row)})
      sendable.push(record)
    }
    let inserted = 0
    try {
      const bytesOf = (record: DecodedRecord<EventEnvelope>) => prepared.get(record)!.bytes
      for (const request of planRequests(sendable, bytesOf, this.options.limits)) {
        inserted += await writeIsolating(request, (batch) => this.send(batch, prepared, rejected, false), rejected, this.refusal)
      }
    } finally {
      // A failure later in the batch must not make the engine's retry send refused rows again.
      for (const r of rejected) this.refused.set(r.record, r)
    }
    return {rejected, inserted}
  }

  isRetriable(error: unknown): boolean {
    return !(error instanceof KpipeError) && !isProgrammingError(error)
  }

  async probe(): Promise<void> {
    await this.options.api.probe()
  }

  async close(): Promise<void> {}

  /** One insertAll request; returns the rows BigQuery took. */
  private async send(
    batch: DecodedRecord<EventEnvelope>[],
    prepared: Map<DecodedRecord<EventEnvelope>, {row: InsertRow; bytes: number}>,
    rejected: RejectedRecord<EventEnvelope>[],
    resent: boolean,
  ): Promise<number> {
    const {api, metrics} = this.options
    const rows = batch.map((record) => prepared.get(record)!.row)
    const started = process.hrtime.bigint()
    const observe = (outcome: Outcome) => {
      metrics?.requests.inc({outcome})
      metrics?.requestDuration.observe({outcome}, Number(process.hrtime.bigint() - started) / 1e9)
    }
    metrics?.requestRows.observe(rows.length)
    metrics?.requestBytes.observe(requestBytes(batch, (record) => prepared.get(record)!.bytes))
    let rowErrors: RowError[]
    try {
      rowErrors = await api.insert(rows)
    } catch (error) {
      const failure = classifyInsertFailure(error)
      observe(failure === 'too-large' ? 'too_large' : 'failed')
      if (failure === 'too-large') {
        if (batch.length === 1) {
          throw new RowTooLargeError(`BigQuery refused the row as too large for one request (${describeBigQueryError(error)}).`)
        }
        // Halved and resent, never dropped; each half is isolated on its own.
        const middle = Math.ceil(batch.length / 2)
        const halves = [batch.slice(0, middle), batch.slice(middle)]
        let taken = 0
        for (const half of halves) taken += await writeIsolating(half, (b) => this.send(b, prepared, rejected, resent), rejected, this.refusal)
        return taken
      }
      if (failure === 'refused') {
        throw bigqueryDependencyError(error, this.options.endpoint) ?? new DependencyError('bigquery', `BigQuery refused the request (${describeBigQueryError(error)}).`, {cause: error})
      }
      if (failure === 'not-found') await this.recreate(error)
      throw error
    }
    observe(rowErrors.length === 0 ? 'ok' : 'row_errors')
    const errorsAt = new Map(rowErrors.map((e) => [e.index, e.errors ?? []]))
    const retry: DecodedRecord<EventEnvelope>[] = []
    let taken = 0
    batch.forEach((record, index) => {
      const errors = errorsAt.get(index)
      if (!errors) {
        this.accepted.add(record)
        taken++
      } else if (isRowRetriable(errorReasons({errors}))) {
        retry.push(record)
      } else {
        rejected.push({record, errorClass: 'sink', message: `BigQuery refused the row: ${describeBigQueryError({errors})}`})
      }
    })
    if (retry.length > 0) {
      // "stopped": not inserted because another row was invalid. Sent again without those once;
      // if BigQuery still does not take them, the engine retries the batch with backoff.
      if (resent) throw new Error(`BigQuery did not take ${retry.length} row(s) sent again alone (${describeBigQueryError({errors: rowErrors[0]?.errors})})`)
      taken += await writeIsolating(retry, (b) => this.send(b, prepared, rejected, true), rejected, this.refusal)
    }
    return taken
  }

  /**
   * Whether insertAll on this table works right now, asked with a row BigQuery must refuse per
   * row (an unknown column): HTTP 200 with an insertError says yes, without landing anything.
   * The answer is kept a moment, since a bisection asks it once per failed request.
   */
  private insertAllAnswers(): Promise<boolean> {
    const ttl = this.options.controlTtlMs ?? 2000
    if (this.control && Date.now() - this.control.at < ttl) return this.control.answered
    const answered = this.options.api.insert([CONTROL_ROW]).then(
      (errors) => errors.length > 0,
      () => false,
    )
    this.control = {at: Date.now(), answered}
    return answered
  }

  /** The table or dataset went away under the worker: make them again (once for all partitions). */
  private async recreate(error: unknown): Promise<void> {
    this.recreating ??= (async () => {
      this.options.logger?.warn({err: errorMessage(error)}, 'the BigQuery table is missing; creating it again')
      try {
        await this.options.api.ensure()
      } finally {
        this.recreating = undefined
      }
    })()
    await this.recreating
  }
}
