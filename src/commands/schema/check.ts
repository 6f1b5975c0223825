import {Flags} from '@oclif/core'

import {BaseCommand} from '../../lib/base-command.js'
import {CheckFailedError, ConfigError} from '../../lib/errors.js'
import {checkSchemaCompatibility, type SchemaCheckResult} from '../../lib/records/schema-compat.js'
import {PACKAGE_SCHEMAS_DIR, SchemaFileError} from '../../lib/records/schema-files.js'

export default class SchemaCheck extends BaseCommand<typeof SchemaCheck> {
  static override summary = 'Check that the Avro schema versions stay backward and forward compatible'
  static override description =
    'Reads <dir>/<subject>/v<N>.avsc and checks each version against the one before it (every earlier one with ' +
    '--transitive): BACKWARD means the newer schema reads data written with the older, FORWARD that the older ' +
    'reads data written with the newer, by the Avro resolution rules. Exits 1 naming the files and the field when a ' +
    'version breaks either, so CI can refuse it.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --dir ./schemas --transitive',
    '<%= config.bin %> <%= command.id %> --subject event --json | jq .subjects[0].pairs',
  ]
  static override flags = {
    dir: Flags.string({description: "Directory holding <subject>/v<N>.avsc (default: kpipe's own schemas/)"}),
    subject: Flags.string({description: 'Check only this subject (repeatable)', multiple: true}),
    transitive: Flags.boolean({description: 'Check every pair of versions, not only consecutive ones', default: false}),
  }

  async run(): Promise<SchemaCheckResult> {
    const dir = this.flags.dir ?? PACKAGE_SCHEMAS_DIR
    let result: SchemaCheckResult
    try {
      result = checkSchemaCompatibility({dir, transitive: this.flags.transitive, subjects: this.flags.subject})
    } catch (error) {
      if (error instanceof SchemaFileError) throw new ConfigError(error.message, {hint: 'Check --dir and --subject.'})
      throw error
    }

    for (const subject of result.subjects) {
      if (subject.error) {
        this.log(`✗ ${subject.subject}: ${subject.error}`)
        continue
      }
      if (subject.pairs.length === 0) this.log(`✓ ${subject.subject}: v${subject.versions.join(', v')} (a single version, nothing to compare)`)
      for (const pair of subject.pairs) {
        const mark = pair.error ? '✗' : '✓'
        this.log(`${mark} ${pair.from} → ${pair.to}  backward ${pair.backward ? 'yes' : 'NO'}  forward ${pair.forward ? 'yes' : 'NO'}`)
      }
    }
    if (result.subjects.length === 0) {
      throw new ConfigError(`No schemas were found in ${dir}: it holds no <subject>/v<N>.avsc files.`, {hint: 'Check --dir.'})
    }
    if (!result.ok) {
      const first = result.subjects.flatMap((s) => [s.error, ...s.pairs.map((p) => p.error)]).find((e) => e)
      const count = result.subjects.reduce((n, s) => n + (s.error ? 1 : 0) + s.pairs.filter((p) => p.error).length, 0)
      throw new CheckFailedError(count > 1 ? `${first} (and ${count - 1} more problem${count > 2 ? 's' : ''})` : first!, {
        hint: 'Give a new field a default, keep removed fields defaulted in the older version, or widen types only (int → long).',
        result,
      })
    }
    return result
  }
}
