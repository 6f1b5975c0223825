/**
 * The shape of one stored log line (DESIGN §3, pipeline.logs), shared by the parser
 * (log-parse.ts), the store (postgres/logs-store.ts), the logs worker and `kpipe logs search`.
 */

/** Normalised levels, least to most severe: `--level warn` means warn, error and fatal. */
export const LOG_LINE_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const
export type LogLineLevel = (typeof LOG_LINE_LEVELS)[number]

/** The levels at least as severe as `level`. */
export function levelsAtLeast(level: LogLineLevel): LogLineLevel[] {
  return LOG_LINE_LEVELS.slice(LOG_LINE_LEVELS.indexOf(level))
}

/** What the parser makes of one Kafka record, before its Kafka coordinates are added. */
export interface LogLine {
  /**
   * Milliseconds since the epoch (PostgreSQL timestamptz keeps microseconds; log lines rarely
   * carry more than milliseconds). Deterministic for a given record — never "now" — so that a
   * redelivered record lands on the same day partition and conflicts with its first write.
   */
  tsMs: number
  service: string
  level: LogLineLevel
  message: string
  correlationId: string | null
  /** Every field not mapped to a column, plus parser notes (e.g. `originalLevel`). */
  attrs: Record<string, unknown>
}

/** One row of pipeline.logs. */
export interface LogRow extends LogLine {
  kafkaTopic: string
  kafkaPartition: number
  kafkaOffset: string
}
