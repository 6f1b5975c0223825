/**
 * `kpipe worker analytics` as a worker definition on the shared runner: the events decoder (the
 * same envelope, JSON or Avro), and a sink streaming into BigQuery through insertAll with
 * deterministic insert ids, beside the deduplicating view analysts query. Knows nothing of oclif.
 */
import type {BigQuery} from '@google-cloud/bigquery'

import {ensureAnalyticsTables, viewName, type AnalyticsTarget} from '../bigquery/analytics-table.js'
import {createBigQuery} from '../bigquery/client.js'
import {isConnectionError} from '../bigquery/insert-errors.js'
import type {RequestLimits} from '../bigquery/insert-plan.js'
import {checkTable} from '../bigquery/names.js'
import type {KpipeConfig} from '../config.js'
import {settlesWithin} from '../deadline.js'
import {DependencyError, errorMessage, KpipeError} from '../errors.js'
import type {Logger} from '../logging.js'
import type {EventEnvelope} from '../records/envelope.js'
import {AnalyticsSink, createAnalyticsMetrics, type InsertApi, type RowError} from './analytics-sink.js'
import {eventDecoder} from './events-worker.js'
import {runWorker, type WorkerDefinition, type WorkerRunOptions} from './runner.js'
import type {WorkerSummary} from './types.js'

export interface AnalyticsWorkerOptions extends WorkerRunOptions {
  /** The raw table, `events` by default; the view is `<table>_dedup`. */
  table: string
  limits: RequestLimits
}

export interface AnalyticsWorkerResult extends WorkerSummary {
  dlqTopic: string
  /** `project.dataset.table` written, and the view analysts query. */
  table: string
  view: string
  /** What this run created (dataset, table, view), if anything was missing. */
  created: string[]
}

/** Longest the start-up checks may take before the worker gives up (exit 3). */
const STARTUP_TIMEOUT_MS = 15_000

/** Longest a BigQuery call may take: a hung BigQuery fails the request, which the engine retries. */
const REQUEST_TIMEOUT_MS = 30_000

/**
 * The sink's BigQuery through @google-cloud/bigquery: raw rows, one request, no client retries.
 * Every call is bounded here: the client's own `timeout` is handed to node-fetch 3, which ignores
 * it (googleapis/google-cloud-node#7998), so a BigQuery that accepts a connection and never
 * answers would hold the partition for ever. A call past the bound fails as a timeout (the engine
 * retries); the abandoned request ends when its connection does.
 */
export function bigQueryInsertApi(bigquery: BigQuery, target: AnalyticsTarget, options: {logger?: Logger; timeoutMs?: number} = {}): InsertApi {
  const table = bigquery.dataset(target.dataset).table(target.table)
  const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS
  return {
    async insert(rows) {
      try {
        // raw: our insert ids, not random ones; partialRetries 0: the sink decides what to resend.
        await answeredWithin(table.insert(rows as {insertId?: string; json: Record<string, unknown>}[], {raw: true, partialRetries: 0, skipInvalidRows: true, ignoreUnknownValues: false}), timeoutMs, 'insertAll')
        return []
      } catch (error) {
        const partial = error as {name?: string; response?: {insertErrors?: RowError[]}}
        if (partial?.name === 'PartialFailureError') return partial.response?.insertErrors ?? []
        throw error
      }
    },
    async probe() {
      await answeredWithin(table.getMetadata(), timeoutMs, 'tables.get')
    },
    async ensure() {
      await answeredWithin(ensureAnalyticsTables(bigquery, target, options.logger), timeoutMs, 'creating the tables')
    },
  }
}

/** Settles with `work`, or fails as a timeout (ETIMEDOUT, a connection error) after `ms`. */
async function answeredWithin<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  work.catch(() => undefined) // a late failure of an abandoned request is not unhandled
  if (await settlesWithin(work, ms)) return work
  throw Object.assign(new Error(`BigQuery did not answer ${what} within ${ms / 1000} s`), {code: 'ETIMEDOUT'})
}

export function analyticsWorker(options: {table: string; limits: RequestLimits; bigquery: KpipeConfig['bigquery']}): WorkerDefinition<EventEnvelope, {table: string; view: string; created: string[]}> {
  let target: AnalyticsTarget | undefined
  let created: string[] = []
  return {
    name: 'analytics',
    decode: eventDecoder,
    describe: (event) => ({eventId: event.eventId, correlationId: event.correlationId ?? undefined, type: event.type}),
    async openSink({logger, metrics}) {
      target = {...options.bigquery, table: checkTable(options.table)}
      const bigquery = createBigQuery(options.bigquery, {autoRetry: false, timeoutMs: REQUEST_TIMEOUT_MS})
      try {
        ;({created} = await answeredWithin(ensureAnalyticsTables(bigquery, target, logger), STARTUP_TIMEOUT_MS, 'at start-up'))
      } catch (error) {
        if (error instanceof KpipeError || !isConnectionError(error)) throw error
        throw new DependencyError('bigquery', `BigQuery is unreachable at ${target.endpoint ?? 'https://bigquery.googleapis.com'} (${errorMessage(error)}).`, {
          hint: 'Check --bq-endpoint / KPIPE_BQ_ENDPOINT (unset means Google\'s), or start the local stack with ./scripts/stack up.',
          cause: error,
        })
      }
      const where = `${target.project}.${target.dataset}`
      if (created.length > 0) logger.info({created}, `created ${created.join(', ')}`)
      logger.info({table: `${where}.${target.table}`, view: `${where}.${viewName(target.table)}`, endpoint: target.endpoint ?? 'Google'}, 'streaming into BigQuery')
      return new AnalyticsSink({
        api: bigQueryInsertApi(bigquery, target, {logger}),
        limits: options.limits,
        metrics: createAnalyticsMetrics(metrics.registry),
        logger,
        endpoint: target.endpoint,
      })
    },
    async finish() {
      const where = `${target!.project}.${target!.dataset}`
      return {table: `${where}.${target!.table}`, view: `${where}.${viewName(target!.table)}`, created}
    },
  }
}

export async function runAnalyticsWorker(options: AnalyticsWorkerOptions): Promise<AnalyticsWorkerResult> {
  return runWorker(analyticsWorker({table: options.table, limits: options.limits, bigquery: options.config.bigquery}), options)
}
