/**
 * `kpipe worker analytics` as a worker definition on the shared runner: the events decoder (the
 * same envelope, JSON or Avro), and a sink streaming into BigQuery through insertAll with
 * deterministic insert ids, beside the deduplicating view analysts query. Knows nothing of oclif.
 */
import type {BigQuery} from '@google-cloud/bigquery'

import type {KpipeConfig} from '../config.js'
import {ensureAnalyticsTables, viewName, type AnalyticsTarget} from '../bigquery/analytics-table.js'
import {createBigQuery} from '../bigquery/client.js'
import type {RequestLimits} from '../bigquery/insert-plan.js'
import {checkTable} from '../bigquery/names.js'
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

/** Per-request timeout: a hung BigQuery fails the request, which the engine retries. */
const REQUEST_TIMEOUT_MS = 30_000

/** The sink's BigQuery through @google-cloud/bigquery: raw rows, one request, no client retries. */
export function bigQueryInsertApi(bigquery: BigQuery, target: AnalyticsTarget, logger?: Logger): InsertApi {
  const table = bigquery.dataset(target.dataset).table(target.table)
  return {
    async insert(rows) {
      try {
        // raw: our insert ids, not random ones; partialRetries 0: the sink decides what to resend.
        await table.insert(rows as {insertId?: string; json: Record<string, unknown>}[], {raw: true, partialRetries: 0, skipInvalidRows: true, ignoreUnknownValues: false})
        return []
      } catch (error) {
        const partial = error as {name?: string; response?: {insertErrors?: RowError[]}}
        if (partial?.name === 'PartialFailureError') return partial.response?.insertErrors ?? []
        throw error
      }
    },
    async probe() {
      await table.getMetadata()
    },
    async ensure() {
      await ensureAnalyticsTables(bigquery, target, logger)
    },
  }
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
      ;({created} = await ensureAnalyticsTables(bigquery, target, logger))
      const where = `${target.project}.${target.dataset}`
      if (created.length > 0) logger.info({created}, `created ${created.join(', ')}`)
      logger.info({table: `${where}.${target.table}`, view: `${where}.${viewName(target.table)}`, endpoint: target.endpoint ?? 'Google'}, 'streaming into BigQuery')
      return new AnalyticsSink({
        api: bigQueryInsertApi(bigquery, target, logger),
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
