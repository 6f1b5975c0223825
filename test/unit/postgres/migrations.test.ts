import {describe, expect, it} from 'vitest'

import {LATEST_SCHEMA_VERSION, MIGRATIONS, quoteIdent, sqlLiteral} from '../../../src/lib/postgres/migrations.js'

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

describe('migration 3', () => {
  const m3 = MIGRATIONS.find((m) => m.version === 3)!

  it('is the latest and makes logs partitioned by range of ts', () => {
    expect(LATEST_SCHEMA_VERSION).toBeGreaterThanOrEqual(3)
    expect(m3.sql('"s"')).toMatch(/CREATE TABLE "s"\.logs \([\s\S]*\) PARTITION BY RANGE \(ts\);/)
  })

  it('takes the schema into its DO blocks only as a quoted literal', () => {
    expect(m3.sql(quoteIdent("it's"))).toContain(`'"it''s"'::regnamespace`)
  })

  it('refuses a schema name that would end its dollar-quoted blocks', () => {
    expect(() => m3.sql(quoteIdent('x$kpipe_logs$y'))).toThrow(/cannot contain/)
  })
})

describe('sqlLiteral', () => {
  it('quotes and doubles embedded single quotes, leaving backslashes alone', () => {
    expect(sqlLiteral("it's")).toBe("'it''s'")
    expect(sqlLiteral('a\\b')).toBe("'a\\b'")
  })
})

describe('quoteIdent', () => {
  it('quotes and doubles embedded quotes', () => {
    expect(quoteIdent('pipeline')).toBe('"pipeline"')
    expect(quoteIdent('we"ird; DROP')).toBe('"we""ird; DROP"')
  })
})
