import {BaseCommand} from '../../lib/base-command.js'
import {describeConfig, type ConfigSource} from '../../lib/config.js'
import {bigqueryFlags, kafkaFlags, metricsFlags, postgresFlags, redisFlags} from '../../lib/flags.js'
import {renderTable} from '../../lib/output/table.js'

export interface ConfigShowResult {
  file: string | null
  values: {key: string; value: unknown; source: ConfigSource}[]
}

export default class ConfigShow extends BaseCommand<typeof ConfigShow> {
  static override summary = 'Show the resolved configuration and where each value came from'
  static override description =
    'Resolves flags over KPIPE_* environment over kpipe.yaml over the defaults (which point at ./scripts/stack), ' +
    'and prints every value with its source. Passwords and tokens are redacted.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    'KPIPE_BROKERS=kafka-1:9092 <%= config.bin %> <%= command.id %> --json',
    '<%= config.bin %> <%= command.id %> --config ./prod/kpipe.yaml',
  ]
  static override flags = {...kafkaFlags, ...postgresFlags, ...redisFlags, ...bigqueryFlags, ...metricsFlags}

  async run(): Promise<ConfigShowResult> {
    const resolved = this.kpipeConfig
    const values = describeConfig(resolved)
    this.log(`Configuration file: ${resolved.file ?? '(none; using environment and defaults)'}`)
    this.log(
      renderTable(
        ['KEY', 'VALUE', 'SOURCE'],
        values.map((row) => [row.key, typeof row.value === 'object' && row.value !== null ? JSON.stringify(row.value) : String(row.value ?? '-'), row.source]),
      ),
    )
    return {file: resolved.file ?? null, values}
  }
}
