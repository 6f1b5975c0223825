/**
 * The logs sink: a decoded batch of log lines → the day partitions it needs → one idempotent,
 * set-based insert into pipeline.logs (ON CONFLICT DO NOTHING on the Kafka coordinates). Rows
 * PostgreSQL refuses for their content are isolated by bisection and dead-lettered as `sink`.
 */
import type {LogLine, LogRow} from '../logs/log-line.js'
import {isRetriablePgFailure, writeIsolating} from './sink-errors.js'
import type {DecodedRecord, RejectedRecord, Sink, SinkWriteResult} from './types.js'

/** Writes rows idempotently; resolves with how many were new. */
export interface LogStore {
  write(rows: readonly LogRow[]): Promise<{inserted: number}>
  /** Throws when a write could not succeed now (for /readyz). */
  probe?(): Promise<void>
}

export class LogsSink implements Sink<LogLine> {
  readonly name = 'logs'

  constructor(private readonly store: LogStore) {}

  async write(records: DecodedRecord<LogLine>[]): Promise<SinkWriteResult<LogLine>> {
    const rejected: RejectedRecord<LogLine>[] = []
    const inserted = await writeIsolating(records, async (batch) => (await this.store.write(batch.map(logRow))).inserted, rejected, 'log line')
    return {rejected, inserted}
  }

  isRetriable(error: unknown): boolean {
    return isRetriablePgFailure(error)
  }

  async probe(): Promise<void> {
    await this.store.probe?.()
  }

  async close(): Promise<void> {}
}

export function logRow(record: DecodedRecord<LogLine>): LogRow {
  return {...record.value, kafkaTopic: record.source.topic, kafkaPartition: record.source.partition, kafkaOffset: record.source.offset}
}
