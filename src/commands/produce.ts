import {open} from 'node:fs/promises'
import {Flags} from '@oclif/core'

import {BaseCommand} from '../lib/base-command.js'
import {CheckFailedError, UsageError} from '../lib/errors.js'
import {kafkaFlags} from '../lib/flags.js'
import {EVENT_ENCODINGS, type EventEncoding} from '../lib/records/decode.js'
import {produceEvents, type ProduceResult} from '../lib/records/producer-service.js'
import {topicFlag} from '../lib/kafka/names.js'

export default class Produce extends BaseCommand<typeof Produce> {
  static override summary = 'Publish events (NDJSON from stdin or a file) with the pipeline envelope and encoding'
  static override description =
    'Reads one JSON object per line, fills in eventId (a new UUID), occurredAt (now) and schemaVersion (1) when a ' +
    'line leaves them out, validates each line as the events worker will, and publishes it keyed by the entity id ' +
    '(acks=all, idempotent producer, in input order). Invalid lines are reported with their line number and skipped; ' +
    'the valid ones are still published, and the command then exits 1.'
  static override examples = [
    `echo '{"type":"user.signup","source":"accounts","key":"user-42","payload":{"plan":"pro"}}' | <%= config.bin %> <%= command.id %> --topic events`,
    '<%= config.bin %> <%= command.id %> --topic events --file events.ndjson --encoding avro',
    '<%= config.bin %> <%= command.id %> --topic events --file orders.ndjson --key-field payload.customerId --json',
  ]
  static override flags = {
    ...kafkaFlags,
    topic: topicFlag({description: 'Topic to publish to (must exist)', required: true}),
    file: Flags.string({description: 'NDJSON file to read; stdin when absent or "-"'}),
    encoding: Flags.string({description: 'Value encoding', options: [...EVENT_ENCODINGS], default: 'json'}),
    'key-field': Flags.string({
      description: 'Field (dotted path) holding the Kafka key; also fills the envelope key when a line has none',
      default: 'key',
    }),
  }

  async run(): Promise<ProduceResult> {
    const {config} = this.kpipeConfig
    const {flags} = this
    const fromStdin = flags.file === undefined || flags.file === '-'
    if (fromStdin && process.stdin.isTTY) {
      throw new UsageError('kpipe produce reads NDJSON from stdin, which is a terminal here.', {
        hint: 'Pipe events in (cat events.ndjson | kpipe produce --topic events) or give --file.',
      })
    }
    const input = fromStdin ? process.stdin : await openInput(flags.file!)

    const result = await produceEvents({
      kafka: config.kafka,
      topic: flags.topic,
      input,
      encoding: flags.encoding as EventEncoding,
      keyField: flags['key-field'],
      debug: flags.debug,
      onRejected: (line, message) => this.logToStderr(`line ${line}: ${message}`),
    })

    this.logToStderr(
      `Published ${result.produced} event${result.produced === 1 ? '' : 's'} to ${result.topic} (${result.encoding})` +
        (result.rejected > 0 ? `; rejected ${result.rejected} line${result.rejected === 1 ? '' : 's'}.` : '.'),
    )
    if (result.rejected > 0) {
      throw new CheckFailedError(
        `${result.rejected} input line${result.rejected === 1 ? ' was' : 's were'} rejected (first: line ${result.errors[0]!.line}: ${result.errors[0]!.message.replace(/\.$/, '')}); the ${result.produced} valid event${result.produced === 1 ? ' was' : 's were'} published.`,
        {hint: 'Fix the rejected lines and produce them again; the published ones need not be resent.', result},
      )
    }
    return result
  }
}

async function openInput(file: string): Promise<NodeJS.ReadableStream & AsyncIterable<Buffer>> {
  try {
    const handle = await open(file, 'r')
    if (!(await handle.stat()).isFile()) {
      await handle.close()
      throw new Error('it is not a regular file')
    }
    return handle.createReadStream()
  } catch (error) {
    throw new UsageError(`The file ${file} cannot be read: ${(error as Error).message}.`, {hint: 'Check --file.'})
  }
}
