/**
 * What the PostgreSQL sinks (events, logs) share: telling a refusal of the data from a failure
 * of the connection, and isolating the refused rows of a batch by bisection so that one bad row
 * never blocks a partition.
 */
import type {DecodedRecord, RejectedRecord} from './types.js'

interface PgErrorLike {
  code?: string
  message?: string
  detail?: string
}

/**
 * SQLSTATE classes that blame the data, not the connection: 22 (data exception: bad text,
 * out-of-range values, unsupported \u0000 in jsonb), 23 (integrity), 54 (row or index entry too
 * large).
 */
export function isDataError(error: unknown): boolean {
  const code = (error as PgErrorLike | undefined)?.code
  return typeof code === 'string' && /^(22|23|54)[0-9A-Z]{3}$/.test(code)
}

/** Missing table or column: retrying cannot help; the schema needs `kpipe db migrate`. */
export function isSchemaError(error: unknown): boolean {
  const code = (error as PgErrorLike | undefined)?.code
  return code === '42P01' || code === '42703' || code === '3F000'
}

export function isProgrammingError(error: unknown): boolean {
  return error instanceof TypeError || error instanceof ReferenceError || error instanceof SyntaxError || error instanceof RangeError
}

/** A PostgreSQL sink's Sink.isRetriable: a bug or a missing schema is not worth retrying. */
export function isRetriablePgFailure(error: unknown): boolean {
  return !isProgrammingError(error) && !isSchemaError(error)
}

export function describePgError(error: unknown): string {
  const e = error as PgErrorLike
  return [e.message, e.code ? `(SQLSTATE ${e.code})` : '', e.detail ? `— ${e.detail}` : ''].filter(Boolean).join(' ')
}

/**
 * Writes the batch in one statement; if PostgreSQL refuses it for its data, splits it in halves
 * until the refused rows are alone, and rejects those (error class `sink`). Returns the rows
 * written for the first time. Connection failures are thrown for the engine to retry.
 */
export async function writeIsolating<T>(
  records: DecodedRecord<T>[],
  write: (records: DecodedRecord<T>[]) => Promise<number>,
  rejected: RejectedRecord<T>[],
  what: string,
): Promise<number> {
  if (records.length === 0) return 0
  try {
    return await write(records)
  } catch (error) {
    if (!isDataError(error)) throw error
    if (records.length === 1) {
      rejected.push({record: records[0]!, errorClass: 'sink', message: `PostgreSQL refused the ${what}: ${describePgError(error)}`})
      return 0
    }
    const middle = Math.ceil(records.length / 2)
    return (await writeIsolating(records.slice(0, middle), write, rejected, what)) + (await writeIsolating(records.slice(middle), write, rejected, what))
  }
}
