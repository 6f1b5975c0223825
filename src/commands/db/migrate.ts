import {BaseCommand} from '../../lib/base-command.js'
import {redactUrl} from '../../lib/config.js'
import {postgresFlags} from '../../lib/flags.js'
import {migrate, SCHEMA, type MigrateResult} from '../../lib/postgres/migrations.js'
import {createPgPool, withPgClient} from '../../lib/postgres/pool.js'

export type DbMigrateResult = MigrateResult

export default class DbMigrate extends BaseCommand<typeof DbMigrate> {
  static override summary = 'Create or upgrade the PostgreSQL schema "pipeline"'
  static override description =
    'Applies the migrations this kpipe knows and the database does not have yet, in one transaction, ' +
    'under an advisory lock: safe to run on every deploy, and from several places at once. ' +
    'A second run finds the schema up to date and changes nothing.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --pg-url postgres://kpipe@db:5432/kpipe?sslmode=require',
    'KPIPE_PG_URL=postgres://kpipe@db/kpipe <%= config.bin %> <%= command.id %> --json',
  ]
  static override flags = {...postgresFlags}

  async run(): Promise<DbMigrateResult> {
    const {url} = this.kpipeConfig.config.postgres
    const pool = createPgPool({url}, {max: 1, applicationName: 'kpipe db migrate'})
    try {
      const result = await withPgClient(pool, url, (client) => migrate(client))
      if (result.applied.length === 0) {
        this.log(`The ${SCHEMA} schema at ${redactUrl(url)} is up to date (version ${result.current}).`)
      } else {
        for (const m of result.applied) this.log(`applied ${m.version}: ${m.name}`)
        this.log(`The ${SCHEMA} schema at ${redactUrl(url)} is now at version ${result.current}.`)
      }
      return result
    } finally {
      await pool.end().catch(() => undefined)
    }
  }
}
