import {describe, expect, it} from 'vitest'

import {LATEST_SCHEMA_VERSION, MIGRATIONS, quoteIdent} from '../../../src/lib/postgres/migrations.js'

describe('MIGRATIONS', () => {
  it('are numbered 1..n in order, the last being the latest version', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1))
    expect(LATEST_SCHEMA_VERSION).toBe(MIGRATIONS.length)
  })

  it('name every object through the schema they are given, never a fixed one', () => {
    for (const migration of MIGRATIONS) {
      const sql = migration.sql('"s_under_test"')
      expect(sql).not.toMatch(/\bpipeline\./)
      expect(sql).toContain('"s_under_test".')
    }
  })

  it('avoid statements that cannot run inside a transaction', () => {
    for (const migration of MIGRATIONS) expect(migration.sql('"s"')).not.toMatch(/CONCURRENTLY|VACUUM/i)
  })
})

describe('quoteIdent', () => {
  it('quotes and doubles embedded quotes', () => {
    expect(quoteIdent('pipeline')).toBe('"pipeline"')
    expect(quoteIdent('we"ird; DROP')).toBe('"we""ird; DROP"')
  })
})
