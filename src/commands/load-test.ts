import {Flags} from '@oclif/core'

import {BaseCommand} from '../lib/base-command.js'
import {CheckFailedError, UsageError} from '../lib/errors.js'
import {durationFlag, kafkaFlags, postgresFlags, sizeFlag} from '../lib/flags.js'
import {renderLoadTestSummary, progressLine} from '../lib/loadtest/load-test-render.js'
import {COMPRESSIONS, runLoadTest, type CompressionName, type LoadTestResult} from '../lib/loadtest/load-test-service.js'
import {EVENT_ENCODINGS, type EventEncoding} from '../lib/records/decode.js'
import {topicFlag} from '../lib/kafka/names.js'

export default class LoadTest extends BaseCommand<typeof LoadTest> {
  static override summary = 'Produce synthetic envelope events at a rate; report throughput and latency percentiles, end to end too'
  static override description =
    'Sends valid event envelopes of --size bytes (and a --poison share of invalid records) to --topic, paced by a ' +
    'schedule of intended send times: a slow send does not move the later slots, so a stall shows as publish delay. ' +
    'Three latencies per record, each in an HDR histogram: publish (send → ack), publish delay (intended send → send) ' +
    'and corrected (intended send → ack). With --e2e, a running `kpipe worker events` is timed too: intended send → ' +
    'its row in pipeline.events (ingested_at, on the PostgreSQL clock). Records intended during --warmup are sent but ' +
    'left out of every figure. A line of progress every --report-interval goes to stderr. The producer is idempotent ' +
    'with acks=all. Exit codes: 0 every objective met; 1 an objective missed (--min-rate, --max-p99, --max-e2e-p99, or ' +
    'events that never reached PostgreSQL under --e2e); 2 bad flags or a missing topic; 3 Kafka or PostgreSQL ' +
    'unreachable. Load-test events have type loadtest, source kpipe and ids lt<runId><n>; their keys are lt-<n>.'
  static override examples = [
    '<%= config.bin %> <%= command.id %> --count 200000 --json',
    '<%= config.bin %> <%= command.id %> --count 1000000 --producers 2',
    '<%= config.bin %> <%= command.id %> --rate 5000 --duration 60s --warmup 5s --e2e --max-e2e-p99 50ms',
    '<%= config.bin %> <%= command.id %> --topic events --rate 20000 --duration 5m --compression lz4 --poison 0.01',
    '<%= config.bin %> <%= command.id %> --rate 1000 --duration 30s --min-rate 990 --max-p99 20ms',
  ]
  static override flags = {
    ...kafkaFlags,
    ...postgresFlags,
    topic: topicFlag({description: 'Topic to produce to (must exist)', default: 'events'}),
    rate: Flags.integer({description: 'Records per second; 0 = as fast as possible', default: 0, min: 0}),
    duration: durationFlag({description: 'Run this long after the warm-up (default 60s)', exclusive: ['count']}),
    count: Flags.integer({description: 'Send this many records after the warm-up, then stop', min: 1}),
    size: sizeFlag({description: 'Encoded size of each event value', default: 200, defaultHelp: async () => '200B'}),
    keys: Flags.integer({description: 'Distinct entity keys (Kafka keys), used round-robin', default: 10_000, min: 1}),
    encoding: Flags.string({description: 'Value encoding', options: [...EVENT_ENCODINGS], default: 'json'}),
    compression: Flags.string({description: 'Record batch compression', options: [...COMPRESSIONS], default: 'none'}),
    poison: Flags.custom<number>({
      description: 'Share of poison records (invalid JSON, a missing field, a bad timestamp), e.g. 0.01 or 1%',
      default: 0,
      async parse(input) {
        const text = input.trim()
        const value = text.endsWith('%') ? Number(text.slice(0, -1)) / 100 : Number(text)
        if (text === '' || !Number.isFinite(value) || value < 0 || value >= 1) throw new UsageError(`--poison must be a share from 0 up to (not including) 1, such as 0.01 or 1%, not "${input}"`)
        return value
      },
    })(),
    warmup: durationFlag({description: 'Send for this long before measuring', default: 0, defaultHelp: async () => '0s'}),
    producers: Flags.integer({
      description: 'Producers, each in its own thread: kafkajs encodes records on its thread, so more than one core takes more than one',
      default: 1,
      min: 1,
      max: 16,
    }),
    'batch-size': Flags.integer({description: 'Records per produce request at most', default: 2000, min: 1}),
    linger: durationFlag({description: 'Longest wait for a batch to fill before it is sent', default: 5, defaultHelp: async () => '5ms'}),
    'max-in-flight': Flags.integer({description: 'Unacknowledged produce requests at most', default: 5, min: 1, max: 5}),
    e2e: Flags.boolean({description: 'Also time intended send → row in pipeline.events (kpipe worker events must be consuming --topic)', default: false}),
    'e2e-timeout': durationFlag({description: 'Under --e2e, how long to wait for the last rows after the last acknowledgement', default: 60_000, defaultHelp: async () => '60s'}),
    'report-interval': durationFlag({description: 'Time between progress lines on stderr', default: 5000, defaultHelp: async () => '5s'}),
    'min-rate': Flags.integer({description: 'Exit 1 when fewer records per second were measured', min: 0}),
    'max-p99': durationFlag({description: 'Exit 1 when the p99 of intended send → ack is above this (e.g. 50ms)'}),
    'max-e2e-p99': durationFlag({description: 'Exit 1 when the end-to-end p99 is above this (needs --e2e)'}),
  }

  async run(): Promise<LoadTestResult> {
    const {flags} = this
    const {config} = this.kpipeConfig
    // Not oclif's dependsOn: a boolean with a default always counts as given.
    if (flags['max-e2e-p99'] !== undefined && !flags.e2e) throw new UsageError('--max-e2e-p99 needs --e2e: the end-to-end latency is only measured with it.')
    if (flags['report-interval'] < 100) throw new UsageError(`--report-interval must be at least 100ms, not ${flags['report-interval']}ms.`)
    const controller = new AbortController()
    let progressLines = 0
    const onSignal = () => controller.abort()
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
    let result: LoadTestResult
    try {
      result = await runLoadTest({
        kafka: config.kafka,
        topic: flags.topic,
        plan: {
          ratePerSec: flags.rate,
          warmupUs: flags.warmup * 1000,
          ...(flags.count === undefined ? {durationUs: (flags.duration ?? 60_000) * 1000} : {count: flags.count}),
        },
        events: {sizeBytes: flags.size, keys: flags.keys, encoding: flags.encoding as EventEncoding, poisonShare: flags.poison},
        compression: flags.compression as CompressionName,
        producers: flags.producers,
        batchSize: flags['batch-size'],
        lingerMs: flags.linger,
        maxInFlight: flags['max-in-flight'],
        reportIntervalMs: flags['report-interval'],
        e2e: flags.e2e ? {postgres: config.postgres, timeoutMs: flags['e2e-timeout']} : undefined,
        objectives: {minRate: flags['min-rate'], maxP99Ms: flags['max-p99'], maxE2eP99Ms: flags['max-e2e-p99']},
        signal: controller.signal,
        // stderr also under --json, as kafka-producer-perf-test prints its lines: stdout stays the one document.
        // The records acknowledged after the last full interval make a window of a few milliseconds,
        // whose rate means nothing: left to the summary that follows (they stay in --json's timeline),
        // unless the run was that short.
        onProgress: (point, window) => {
          if (progressLines > 0 && window.seconds * 1000 < flags['report-interval'] / 2) return
          progressLines++
          process.stderr.write(`${progressLine(point)}\n`)
        },
        debug: flags.debug,
      })
    } finally {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
    if (!this.jsonEnabled()) for (const line of renderLoadTestSummary(result)) this.log(line)
    if (result.breaches.length > 0) {
      const [first] = result.breaches
      throw new CheckFailedError(result.breaches.length === 1 ? `An objective was missed: ${first}.` : `${result.breaches.length} objectives were missed, the first: ${first}.`, {result})
    }
    return result
  }
}
