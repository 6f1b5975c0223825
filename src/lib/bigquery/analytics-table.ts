/**
 * The analytics warehouse layout (DESIGN §3): dataset, the raw table `events` (day-partitioned on
 * occurred_at, clustered by type) that the worker streams into, at least once, and the view
 * `events_dedup`, one row per Kafka coordinate, which is what analysts query. Created when
 * missing; an existing table is checked for the columns kpipe writes.
 */
import type {BigQuery, Table, TableField, TableMetadata} from '@google-cloud/bigquery'

import {bigqueryDependencyError} from '../error-classify.js'
import {ConfigError, errorMessage} from '../errors.js'
import type {Logger} from '../logging.js'
import {httpStatus} from './insert-errors.js'
import {checkDataset, checkTable, quotedTable} from './names.js'

export interface AnalyticsTarget {
  project: string
  dataset: string
  /** The raw table, `events` by default; the view is `<table>_dedup`. */
  table: string
  /** Where BigQuery was asked (for messages); unset means Google's. */
  endpoint?: string
}

export const ANALYTICS_SCHEMA: TableField[] = [
  {name: 'event_id', type: 'STRING', mode: 'REQUIRED', description: 'eventId of the envelope'},
  {name: 'type', type: 'STRING', mode: 'REQUIRED', description: 'Event type, e.g. user.signup'},
  {name: 'source', type: 'STRING', mode: 'REQUIRED', description: 'The service that emitted the event'},
  {name: 'occurred_at', type: 'TIMESTAMP', mode: 'REQUIRED', description: 'When it happened (the day partitions)'},
  {name: 'entity_key', type: 'STRING', mode: 'REQUIRED', description: 'Entity id, also the Kafka key'},
  {name: 'correlation_id', type: 'STRING', mode: 'NULLABLE'},
  {name: 'schema_version', type: 'INT64', mode: 'REQUIRED', description: "Version of the payload's shape for this type"},
  // JSON rather than STRING: analysts read fields with payload.plan or JSON_VALUE(payload, '$.plan')
  // and BigQuery stores each path as its own column. insertAll takes the value as JSON text.
  {name: 'payload', type: 'JSON', mode: 'NULLABLE', description: 'The event payload'},
  {name: 'kafka_topic', type: 'STRING', mode: 'REQUIRED'},
  {name: 'kafka_partition', type: 'INT64', mode: 'REQUIRED'},
  {name: 'kafka_offset', type: 'INT64', mode: 'REQUIRED'},
  {name: 'ingested_at', type: 'TIMESTAMP', mode: 'REQUIRED', description: 'When kpipe wrote the row; the latest copy wins in the view'},
]

export function viewName(table: string): string {
  return `${checkTable(table)}_dedup`
}

/**
 * The deduplicating view: of the copies of one Kafka record (a redelivery after a crash, which
 * insertAll's insert-id deduplication may not catch), the one written last. occurred_at is in the
 * PARTITION BY although the coordinates alone decide it (every copy of a record has the same
 * occurred_at): a filter on a PARTITION BY column can be applied before the window, so a query
 * of the view for some days reads only those days' partitions of the table.
 */
export function dedupViewQuery(target: Pick<AnalyticsTarget, 'project' | 'dataset' | 'table'>): string {
  return [
    `SELECT * FROM ${quotedTable(target.project, target.dataset, target.table)}`,
    'WHERE TRUE', // QUALIFY needs a WHERE, GROUP BY or HAVING beside it in GoogleSQL
    'QUALIFY ROW_NUMBER() OVER (PARTITION BY kafka_topic, kafka_partition, kafka_offset, occurred_at ORDER BY ingested_at DESC) = 1',
  ].join('\n')
}

/** The same type under its legacy and GoogleSQL names. */
function canonicalType(type: string | undefined): string {
  const t = (type ?? '').toUpperCase()
  return ({INTEGER: 'INT64', FLOAT: 'FLOAT64', BOOLEAN: 'BOOL', RECORD: 'STRUCT'} as Record<string, string>)[t] ?? t
}

export interface SchemaCheck {
  missing: string[]
  /** Columns of another type than kpipe's: rows whose values do not convert are dead-lettered. */
  retyped: {name: string; expected: string; actual: string}[]
}

/** Compares an existing table's columns with the ones kpipe writes. Pure. */
export function checkSchema(fields: readonly TableField[]): SchemaCheck {
  const byName = new Map(fields.map((f) => [f.name ?? '', canonicalType(f.type)]))
  const missing: string[] = []
  const retyped: SchemaCheck['retyped'] = []
  for (const field of ANALYTICS_SCHEMA) {
    const actual = byName.get(field.name!)
    if (actual === undefined) missing.push(field.name!)
    // A payload kept as STRING (tables made before JSON columns) takes the same values.
    else if (actual !== canonicalType(field.type) && !(field.name === 'payload' && actual === 'STRING')) {
      retyped.push({name: field.name!, expected: canonicalType(field.type), actual})
    }
  }
  return {missing, retyped}
}

export interface EnsureResult {
  created: string[]
}

/**
 * Makes the dataset, the table and the view where missing; checks an existing table. Safe when
 * several workers start together (an "already exists" answer is success). Errors that no retry
 * changes (credentials, a missing project, a table without kpipe's columns) are KpipeErrors.
 */
export async function ensureAnalyticsTables(bigquery: BigQuery, target: AnalyticsTarget, logger?: Logger): Promise<EnsureResult> {
  checkDataset(target.dataset)
  const view = viewName(target.table)
  const created: string[] = []
  const name = `${target.project}.${target.dataset}`
  try {
    const dataset = bigquery.dataset(target.dataset)
    const [datasetExists] = await dataset.exists()
    if (!datasetExists && (await createTolerant(() => dataset.create()))) created.push(name)

    const table = dataset.table(target.table)
    const [tableExists] = await table.exists()
    if (!tableExists) {
      const made = await createTolerant(() =>
        dataset.createTable(target.table, {
          schema: {fields: ANALYTICS_SCHEMA},
          timePartitioning: {type: 'DAY', field: 'occurred_at'},
          clustering: {fields: ['type']},
          description: 'Analytics events from Kafka, written by kpipe worker analytics (at least once; query the _dedup view)',
        }),
      )
      if (made) created.push(`${name}.${target.table}`)
    }
    await checkExistingTable(table, target, logger)

    const viewTable = dataset.table(view)
    const query = dedupViewQuery(target)
    const [viewExists] = await viewTable.exists()
    if (!viewExists) {
      if (await createTolerant(() => dataset.createTable(view, {view: {query, useLegacySql: false}, description: `One row per Kafka record of ${target.table}`}))) {
        created.push(`${name}.${view}`)
      }
    } else {
      const metadata = (await viewTable.getMetadata())[0] as TableMetadata
      if (metadata.type !== 'VIEW') {
        throw new ConfigError(`${name}.${view} exists and is not a view; kpipe keeps its deduplicating view there.`, {hint: `Rename or drop ${name}.${view}, or give --table another name.`})
      }
      if (metadata.view?.query?.trim() !== query) {
        logger?.warn({view: `${name}.${view}`}, 'the deduplicating view exists with another query; it is left as it is')
      }
    }
  } catch (error) {
    if (error instanceof ConfigError) throw error
    throw bigqueryDependencyError(error, target.endpoint) ?? error
  }
  return {created}
}

async function checkExistingTable(table: Table, target: AnalyticsTarget, logger?: Logger): Promise<void> {
  const metadata = (await table.getMetadata())[0] as TableMetadata
  const where = `${target.project}.${target.dataset}.${target.table}`
  if (metadata.type && metadata.type !== 'TABLE') {
    throw new ConfigError(`${where} is a ${metadata.type.toLowerCase()}, not a table kpipe can stream into.`, {hint: 'Give --table the name of a table (kpipe creates it when missing).'})
  }
  const {missing, retyped} = checkSchema(metadata.schema?.fields ?? [])
  if (missing.length > 0) {
    throw new ConfigError(`${where} lacks the column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} that kpipe writes.`, {
      hint: `Add ${missing.length > 1 ? 'them' : 'it'} (ALTER TABLE … ADD COLUMN), or give --table a new name: kpipe creates the table with every column.`,
    })
  }
  if (retyped.length > 0) {
    logger?.warn(
      {table: where, columns: retyped},
      `${where} types ${retyped.map((c) => `${c.name} as ${c.actual} (kpipe writes ${c.expected})`).join(', ')}: rows whose values do not convert are dead-lettered`,
    )
  }
}

/** Creates something; "already exists" (another worker made it first) is fine. */
async function createTolerant(create: () => Promise<unknown>): Promise<boolean> {
  try {
    await create()
    return true
  } catch (error) {
    if (httpStatus(error) === 409 || /already exists/i.test(errorMessage(error))) return false
    throw error
  }
}
