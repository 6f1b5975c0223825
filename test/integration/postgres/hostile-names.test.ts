/**
 * Names reach SQL only quoted (pg's escapeIdentifier): the migrations, run into schemas whose
 * names carry quotes, semicolons, `--` and Unicode, make exactly those schemas and nothing else.
 * It runs in a database of its own, and the payloads aim at a canary schema of this test: were
 * the quoting ever broken, the injection would hit nothing shared (it did drop `pipeline` when
 * tried against a broken quoteIdent, hence the care).
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {LATEST_SCHEMA_VERSION, currentSchemaVersion, migrate} from '../../../src/lib/postgres/migrations.js'
import {createPgPool} from '../../../src/lib/postgres/pool.js'
import {createPrivateDatabase, type PrivateDatabase} from '../../helpers/services.js'

let db: PrivateDatabase
let pool: ReturnType<typeof createPgPool>

beforeAll(async () => {
  db = await createPrivateDatabase()
  pool = createPgPool({url: db.url}, {max: 2})
  await pool.query('CREATE SCHEMA canary')
})

afterAll(async () => {
  await pool?.end()
  await db?.drop()
})

async function schemaExists(name: string): Promise<boolean> {
  const {rows} = await pool.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [name])
  return rows.length === 1
}

describe('hostile schema names are quoted, never interpolated', () => {
  it.each([
    'kt"; DROP SCHEMA canary CASCADE; --',
    'kt\' OR \'1\'=\'1; CREATE SCHEMA injected; --',
    'kt ünïcødé ☃ "quoted"',
    'kt\\"; CREATE SCHEMA injected; --',
  ])('migrate into %j makes that schema, and only it', async (schema) => {
    const client = await pool.connect()
    try {
      await migrate(client, {schema})
    } finally {
      client.release()
    }
    expect(await schemaExists(schema)).toBe(true)
    expect(await currentSchemaVersion(pool, schema)).toBe(LATEST_SCHEMA_VERSION)
    expect(await schemaExists('canary')).toBe(true)
    expect(await schemaExists('injected')).toBe(false)
  })
})
