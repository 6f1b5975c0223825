import {describe, expect, it} from 'vitest'

import {ANALYTICS_SCHEMA, checkSchema, dedupViewQuery, viewName} from '../../../src/lib/bigquery/analytics-table.js'
import {checkDataset, checkProject, checkTable, quotedTable} from '../../../src/lib/bigquery/names.js'
import {ConfigError} from '../../../src/lib/errors.js'

describe('names from configuration', () => {
  it('accepts BigQuery names and quotes them with backticks', () => {
    expect(quotedTable('my-project-1', 'analytics', 'events')).toBe('`my-project-1.analytics.events`')
    expect(quotedTable('example.com:proj', 'a_b1', 'ev-2026')).toBe('`example.com:proj.a_b1.ev-2026`')
    expect(viewName('events')).toBe('events_dedup')
  })

  it('refuses a name that could break out of the quotes or is not BigQuery\'s, as a configuration error (exit 2)', () => {
    for (const bad of ['', 'a-b', 'a.b', 'a`b', 'drop table; --', 'ünïcode', 'x'.repeat(1025)]) {
      expect(() => checkDataset(bad, 'environment variable KPIPE_BQ_DATASET')).toThrow(ConfigError)
    }
    expect(() => checkDataset('a`b', 'flag --bq-dataset')).toThrow(/^flag --bq-dataset: "a`b" is not a BigQuery dataset name/)
    for (const bad of ['', 'a.b', 'a`b', 'a b']) expect(() => checkTable(bad)).toThrow(ConfigError)
    for (const bad of ['', 'a`b', 'a b', 'p/q']) expect(() => checkProject(bad)).toThrow(ConfigError)
    expect(() => quotedTable('p`', 'd', 't')).toThrow(ConfigError)
    try {
      checkDataset('bad-name')
    } catch (error) {
      expect((error as ConfigError).exitCode).toBe(2)
    }
  })
})

describe('the deduplicating view', () => {
  it('keeps the latest copy of each Kafka coordinate, from the quoted raw table', () => {
    const query = dedupViewQuery({project: 'local', dataset: 'analytics', table: 'events'})
    expect(query).toContain('FROM `local.analytics.events`')
    expect(query).toMatch(/QUALIFY ROW_NUMBER\(\) OVER \(PARTITION BY kafka_topic, kafka_partition, kafka_offset, occurred_at ORDER BY ingested_at DESC\) = 1/)
  })
})

describe('checkSchema', () => {
  it('finds nothing to say about kpipe\'s own schema, in either spelling of the types', () => {
    expect(checkSchema(ANALYTICS_SCHEMA)).toEqual({missing: [], retyped: []})
    const legacy = ANALYTICS_SCHEMA.map((f) => ({...f, type: f.type === 'INT64' ? 'INTEGER' : f.type}))
    expect(checkSchema(legacy)).toEqual({missing: [], retyped: []})
  })

  it('names missing columns, and columns of another type (a STRING payload is fine)', () => {
    const fields = ANALYTICS_SCHEMA.filter((f) => f.name !== 'correlation_id' && f.name !== 'ingested_at').map((f) =>
      f.name === 'payload' ? {...f, type: 'STRING'} : f.name === 'entity_key' ? {...f, type: 'INT64'} : f,
    )
    expect(checkSchema(fields)).toEqual({missing: ['correlation_id', 'ingested_at'], retyped: [{name: 'entity_key', expected: 'STRING', actual: 'INT64'}]})
  })
})
