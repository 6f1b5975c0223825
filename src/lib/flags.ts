/**
 * Flags shared by commands, each naming its KPIPE_* variable. Connection flags are spread into
 * the commands that talk to that system; the base command turns them into config overrides.
 */
import {Flags} from '@oclif/core'

import type {FlagOverrides} from './config.js'
import {parseDuration, parseSize, ParseError} from './durations.js'
import {UsageError} from './errors.js'

export const kafkaFlags = {
  brokers: Flags.string({
    description: 'Kafka bootstrap brokers, host:port[,host:port] (env KPIPE_BROKERS; default localhost:9092)',
    helpGroup: 'CONNECTION',
  }),
  'client-id': Flags.string({description: 'Kafka client id (env KPIPE_CLIENT_ID; default kpipe)', helpGroup: 'CONNECTION'}),
}

export const postgresFlags = {
  'pg-url': Flags.string({
    description: 'PostgreSQL URL (env KPIPE_PG_URL; default postgres://localhost:5432/kpipe)',
    helpGroup: 'CONNECTION',
  }),
}

export const redisFlags = {
  'redis-url': Flags.string({description: 'Redis URL (env KPIPE_REDIS_URL; default redis://localhost:6379)', helpGroup: 'CONNECTION'}),
}

export const bigqueryFlags = {
  'bq-project': Flags.string({description: 'BigQuery project (env KPIPE_BQ_PROJECT; default local)', helpGroup: 'CONNECTION'}),
  'bq-dataset': Flags.string({description: 'BigQuery dataset (env KPIPE_BQ_DATASET; default analytics)', helpGroup: 'CONNECTION'}),
  'bq-endpoint': Flags.string({
    description: 'BigQuery API endpoint, for an emulator (env KPIPE_BQ_ENDPOINT; default http://localhost:9050)',
    helpGroup: 'CONNECTION',
  }),
}

export const metricsFlags = {
  'metrics-port': Flags.integer({
    description: 'Port for /metrics, /healthz and /readyz; 0 disables (env KPIPE_METRICS_PORT; default 9464 events, 9465 logs, 9466 analytics)',
    min: 0,
    max: 65_535,
  }),
  'metrics-host': Flags.string({
    description: 'Address /metrics, /healthz and /readyz listen on; 0.0.0.0 for every interface (env KPIPE_METRICS_HOST; default 127.0.0.1)',
  }),
}

/** Maps the connection flags a command received onto configuration leaves. */
export function flagOverrides(flags: Record<string, unknown>): FlagOverrides {
  const overrides: FlagOverrides = {}
  const map: [string, keyof FlagOverrides][] = [
    ['brokers', 'kafka.brokers'],
    ['client-id', 'kafka.clientId'],
    ['pg-url', 'postgres.url'],
    ['redis-url', 'redis.url'],
    ['bq-project', 'bigquery.project'],
    ['bq-dataset', 'bigquery.dataset'],
    ['bq-endpoint', 'bigquery.endpoint'],
    ['metrics-port', 'metrics.port'],
    ['metrics-host', 'metrics.host'],
    ['log-level', 'log.level'],
  ]
  for (const [flag, leaf] of map) {
    const value = flags[flag]
    if (value !== undefined) overrides[leaf] = {flag, value: value as string | number | boolean}
  }
  return overrides
}

/** A flag value parsed by one of durations.ts' parsers; a bad value is a usage error (exit 2). */
function parsedFlag(parse: (input: string) => number) {
  return Flags.custom<number>({
    async parse(input) {
      try {
        return parse(input)
      } catch (error) {
        if (error instanceof ParseError) throw new UsageError(error.message)
        throw error
      }
    },
  })
}

/**
 * A duration flag (`500ms`, `30s`, `7d`) parsed to milliseconds:
 * `durationFlag({description: '...', default: 30_000, defaultHelp: '30s'})`.
 */
export const durationFlag = parsedFlag(parseDuration)

/** A size flag (`512KiB`, `4MiB`, `1048576`) parsed to bytes. */
export const sizeFlag = parsedFlag(parseSize)
