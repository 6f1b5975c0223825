/**
 * The PostgreSQL schema `pipeline` (DESIGN §3), as versioned migrations kept in code. `migrate`
 * applies the missing ones in one transaction under a transaction-scoped advisory lock, so two
 * concurrent runs (two workers' init containers, say) serialise: the second waits, then finds
 * nothing to do. Migrations are append-only: never edit one that has shipped, add the next.
 * They run inside a transaction, so none may use CREATE INDEX CONCURRENTLY.
 */
import pg from 'pg'

import {UsageError} from '../errors.js'

export interface Migration {
  version: number
  name: string
  /** The statements, given the quoted schema name (`pipeline` in production, another in tests). */
  sql: (schema: string) => string
}

/** The schema DESIGN §3 fixes; tests pass another name to work in isolation. */
export const SCHEMA = 'pipeline'

/** Key of the advisory lock that serialises `migrate` runs ("kpipe" in ASCII). */
export const MIGRATION_LOCK_KEY = 0x6b70697065

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'events and logs',
    sql: (s) => `
CREATE TABLE ${s}.events (
  event_id        text        PRIMARY KEY,
  type            text        NOT NULL,
  source          text        NOT NULL,
  entity_key      text        NOT NULL,
  occurred_at     timestamptz NOT NULL,
  correlation_id  text,
  schema_version  int,
  payload         jsonb       NOT NULL,
  kafka_topic     text        NOT NULL,
  kafka_partition int         NOT NULL,
  kafka_offset    bigint      NOT NULL,
  ingested_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_entity_key_occurred_at ON ${s}.events (entity_key, occurred_at);
CREATE INDEX events_type_occurred_at ON ${s}.events (type, occurred_at);
CREATE INDEX events_kafka_position ON ${s}.events (kafka_topic, kafka_partition, kafka_offset);
CREATE INDEX events_correlation_id ON ${s}.events (correlation_id) WHERE correlation_id IS NOT NULL;

CREATE TABLE ${s}.logs (
  ts              timestamptz NOT NULL,
  service         text        NOT NULL,
  level           text        NOT NULL,
  message         text        NOT NULL,
  correlation_id  text,
  attrs           jsonb       NOT NULL DEFAULT '{}'::jsonb,
  kafka_topic     text        NOT NULL,
  kafka_partition int         NOT NULL,
  kafka_offset    bigint      NOT NULL,
  ingested_at     timestamptz NOT NULL DEFAULT now(),
  -- One row per Kafka record: the logs worker writes with ON CONFLICT DO NOTHING on it.
  CONSTRAINT logs_kafka_position UNIQUE (kafka_topic, kafka_partition, kafka_offset)
);
CREATE INDEX logs_ts ON ${s}.logs (ts);
CREATE INDEX logs_service_ts ON ${s}.logs (service, ts);
CREATE INDEX logs_level_ts ON ${s}.logs (level, ts);
CREATE INDEX logs_correlation_id ON ${s}.logs (correlation_id) WHERE correlation_id IS NOT NULL;
-- 'simple': log text is not one natural language; no stemming, no stop words.
CREATE INDEX logs_message_fts ON ${s}.logs USING gin (to_tsvector('simple', message));
`,
  },
  {
    version: 2,
    name: 'projection backlog',
    // Offset ranges of events already in events whose Redis projection failed: written before
    // their offsets are committed, cleared once a worker re-projected them from events, so a
    // crash while Redis is unreachable loses no projection update (projection-backlog.ts).
    sql: (s) => `
CREATE TABLE IF NOT EXISTS ${s}.projection_backlog (
  id              bigserial   PRIMARY KEY,
  kafka_topic     text        NOT NULL,
  kafka_partition int         NOT NULL,
  from_offset     bigint      NOT NULL,
  to_offset       bigint      NOT NULL,
  marked_at       timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT projection_backlog_range CHECK (from_offset <= to_offset)
);
CREATE INDEX IF NOT EXISTS projection_backlog_topic ON ${s}.projection_backlog (kafka_topic, kafka_partition, from_offset);
`,
  },
  {
    version: 3,
    name: 'logs partitioned by day',
    // Day partitions (logs_pYYYYMMDD, UTC days) so that retention drops whole tables instead of
    // deleting rows, and a search over a time range reads only the days it covers. Existing rows
    // are kept: the old table is renamed, the days its rows need are created, the rows copied,
    // the old table dropped. Indexes and the unique constraint are added after the copy (one
    // build per partition instead of row-by-row maintenance); on the partitioned table they
    // cascade to every partition, present and future (logs-store.ts attaches new days).
    sql: (s) => {
      // The DO block below is dollar-quoted with this tag; a schema name containing it would end
      // the block early, so refuse it rather than build broken (or injected) SQL.
      if (s.includes('$kpipe_logs$')) throw new Error(`The schema name ${s} cannot contain "$kpipe_logs$".`)
      return `
-- Trigram indexes answer ILIKE '%text%' (kpipe logs search --grep). pg_trgm is a trusted
-- extension (PostgreSQL 13+): the database owner, or anyone with CREATE on it, may create it.
-- One per database, so it lives in public, never in the schema being migrated (a test schema
-- dropped with CASCADE would take every trigram index of the database with it); where a DBA
-- installed it elsewhere already, IF NOT EXISTS keeps that, and the index below names it.
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

ALTER TABLE ${s}.logs RENAME TO logs_unpartitioned;

CREATE TABLE ${s}.logs (
  ts              timestamptz NOT NULL,
  service         text        NOT NULL,
  level           text        NOT NULL,
  message         text        NOT NULL,
  correlation_id  text,
  attrs           jsonb       NOT NULL DEFAULT '{}'::jsonb,
  kafka_topic     text        NOT NULL,
  kafka_partition int         NOT NULL,
  kafka_offset    bigint      NOT NULL,
  ingested_at     timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (ts);

DO $kpipe_logs$
DECLARE
  ns  text := ${sqlLiteral(s)}::regnamespace::text;
  day date;
BEGIN
  FOR day IN SELECT DISTINCT (ts AT TIME ZONE 'UTC')::date FROM ${s}.logs_unpartitioned ORDER BY 1 LOOP
    EXECUTE format('CREATE TABLE %s.%I PARTITION OF %s.logs FOR VALUES FROM (%L) TO (%L)',
      ns, 'logs_p' || to_char(day, 'YYYYMMDD'), ns, day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
  END LOOP;
END
$kpipe_logs$;

INSERT INTO ${s}.logs (ts, service, level, message, correlation_id, attrs, kafka_topic, kafka_partition, kafka_offset, ingested_at)
SELECT ts, service, level, message, correlation_id, attrs, kafka_topic, kafka_partition, kafka_offset, ingested_at
  FROM ${s}.logs_unpartitioned;
DROP TABLE ${s}.logs_unpartitioned;

-- A unique constraint of a partitioned table must contain the partition key, hence ts. It still
-- means one row per Kafka record: the parser's ts is deterministic for a record (taken from the
-- record, never "now"), so a redelivered record carries the same ts, lands in the same
-- partition and conflicts with its first write (ON CONFLICT DO NOTHING in logs-store.ts).
ALTER TABLE ${s}.logs ADD CONSTRAINT logs_kafka_position UNIQUE (kafka_topic, kafka_partition, kafka_offset, ts);
-- One index per filter of \`kpipe logs search\`, each ending in ts for its time range and order.
CREATE INDEX logs_ts ON ${s}.logs (ts);
CREATE INDEX logs_service_ts ON ${s}.logs (service, ts);
CREATE INDEX logs_level_ts ON ${s}.logs (level, ts);
CREATE INDEX logs_correlation_id ON ${s}.logs (correlation_id, ts) WHERE correlation_id IS NOT NULL;
-- --attr k=v as attrs @> '{"k": "v"}'; jsonb_path_ops is smaller and faster for @> alone.
CREATE INDEX logs_attrs ON ${s}.logs USING gin (attrs jsonb_path_ops);
-- --follow finds lines written after it started whatever their ts (a lagging partition, a late
-- producer); a whole batch shares one now(), so this index stays small (deduplicated keys).
CREATE INDEX logs_ingested_at ON ${s}.logs (ingested_at);
-- Case-insensitive substring search (--grep, ILIKE '%text%'), served by trigrams; replaces
-- migration 1's full-text index, which found whole words only. Dynamic SQL to name the schema
-- pg_trgm actually lives in.
DO $kpipe_logs$
DECLARE
  trgm text := (SELECT quote_ident(n.nspname) FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm');
BEGIN
  EXECUTE format('CREATE INDEX logs_message_trgm ON %s.logs USING gin (message %s.gin_trgm_ops)', ${sqlLiteral(s)}::regnamespace::text, trgm);
END
$kpipe_logs$;
`
    },
  },
]

export const LATEST_SCHEMA_VERSION = MIGRATIONS.at(-1)!.version

export interface MigrateResult {
  applied: {version: number; name: string}[]
  /** The schema version after the run. */
  current: number
}

/** Anything that runs queries: a pg.Pool or a pg.Client. */
export type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.ClientBase, 'query'>

export interface MigrateOptions {
  /** `pipeline` unless a test asks for another. */
  schema?: string
  migrations?: readonly Migration[]
}

/**
 * Creates or upgrades the schema; idempotent and safe to run concurrently. `client` must be one
 * connection (not a pool): the transaction and the lock belong to it.
 */
export async function migrate(client: pg.ClientBase, options: MigrateOptions = {}): Promise<MigrateResult> {
  const migrations = options.migrations ?? MIGRATIONS
  assertOrdered(migrations)
  const schema = quoteIdent(options.schema ?? SCHEMA)
  await client.query('BEGIN')
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY])
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`)
    await client.query(`
      CREATE TABLE IF NOT EXISTS ${schema}.schema_migrations (
        version    int         PRIMARY KEY,
        name       text        NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`)
    const {rows} = await client.query<{version: number}>(`SELECT version FROM ${schema}.schema_migrations`)
    const done = new Set(rows.map((row) => row.version))
    const applied: MigrateResult['applied'] = []
    for (const migration of migrations) {
      if (done.has(migration.version)) continue
      await client.query(migration.sql(schema))
      await client.query(`INSERT INTO ${schema}.schema_migrations (version, name) VALUES ($1, $2)`, [migration.version, migration.name])
      applied.push({version: migration.version, name: migration.name})
    }
    await client.query('COMMIT')
    const current = Math.max(0, ...done, ...applied.map((m) => m.version))
    return {applied, current}
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined)
    throw error
  }
}

/** The applied schema version; 0 when the schema or its migrations table does not exist. */
export async function currentSchemaVersion(db: Queryable, schema: string = SCHEMA): Promise<number> {
  // Two statements: a query naming a table that does not exist fails when it is planned.
  const table = `${quoteIdent(schema)}.schema_migrations`
  const exists = await db.query<{found: string | null}>('SELECT to_regclass($1)::text AS found', [table])
  if (!exists.rows[0]?.found) return 0
  const {rows} = await db.query<{version: number | null}>(`SELECT max(version) AS version FROM ${table}`)
  return rows[0]?.version ?? 0
}

/**
 * Throws a UsageError (exit 2) telling the user to run `kpipe db migrate` when the schema is
 * missing or older than this kpipe expects. A newer schema is accepted: migrations only add,
 * so an older worker keeps working during a rolling upgrade. Returns the schema's version.
 */
export async function assertSchemaCurrent(db: Queryable, options: {schema?: string; expected?: number} = {}): Promise<number> {
  const schema = options.schema ?? SCHEMA
  const expected = options.expected ?? LATEST_SCHEMA_VERSION
  const version = await currentSchemaVersion(db, schema)
  if (version === 0) {
    throw new UsageError(`PostgreSQL has no ${schema} schema yet.`, {hint: 'Run `kpipe db migrate` to create it.'})
  }
  if (version < expected) {
    throw new UsageError(`The PostgreSQL schema ${schema} is at version ${version}, older than the version ${expected} this kpipe needs.`, {
      hint: 'Run `kpipe db migrate` to upgrade it.',
    })
  }
  return version
}

/** Quotes an SQL identifier (doubling any double quote), so no name reaches SQL unquoted. */
export function quoteIdent(name: string): string {
  return pg.escapeIdentifier(name)
}

/**
 * Quotes a string literal (doubling any single quote), for the few places SQL text cannot take a
 * bind parameter (DDL, DO blocks). Assumes standard_conforming_strings (on since PostgreSQL 9.1),
 * where a backslash is an ordinary character.
 */
export function sqlLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`
}

function assertOrdered(migrations: readonly Migration[]): void {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) throw new Error(`Migration ${migration.name} has version ${migration.version}; expected ${index + 1}.`)
  })
}
