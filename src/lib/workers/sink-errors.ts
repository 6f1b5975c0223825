/**
 * What the sinks share: telling a refusal of the data from a failure of the connection, and
 * isolating the refused rows of a batch by bisection so that one bad row never blocks a
 * partition. PostgreSQL's test is the SQLSTATE (events, logs); BigQuery brings its own (analytics).
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
 * How a store tells a refusal of the data from a failure of the store, for writeIsolating.
 * PostgreSQL's answer is in the SQLSTATE; BigQuery's sometimes needs a question to the server
 * (the emulator answers a wrongly typed row with HTTP 500, as an outage would).
 */
export interface DataRefusal<T = unknown> {
  /**
   * `data`: the rows are refused (split the batch; a lone row is rejected); `suspect`: maybe the
   * rows (split; a lone row that fails again is rejected only if `confirmRefusal` agrees);
   * `store`: not the rows' fault (rethrown: the engine retries the whole write with backoff).
   */
  blame(error: unknown, records: number): Promise<Blame> | Blame
  /**
   * Asked, once the rest of the batch was written, for each lone row that failed twice with a
   * `suspect` error: true rejects it; false rethrows (the store itself is failing).
   */
  confirmRefusal?(error: unknown, record: DecodedRecord<T>): Promise<boolean>
  /** The dead-letter message of a row refused on its own. */
  describe(error: unknown): string
}

export type Blame = 'data' | 'suspect' | 'store'

/** PostgreSQL's refusals: the SQLSTATE classes of isDataError. */
export function postgresRefusal(what: string): DataRefusal {
  return {
    blame: (error) => (isDataError(error) ? 'data' : 'store'),
    describe: (error) => `PostgreSQL refused the ${what}: ${describePgError(error)}`,
  }
}

/**
 * Writes the batch in one statement; if the store refuses it for its data, splits it in halves
 * until the refused rows are alone, and rejects those (error class `sink`). Returns the rows
 * written for the first time. Failures of the store are thrown for the engine to retry.
 * `refusal` is PostgreSQL's (given the noun for the messages) unless another store's is given.
 */
export async function writeIsolating<T>(
  records: DecodedRecord<T>[],
  write: (records: DecodedRecord<T>[]) => Promise<number>,
  rejected: RejectedRecord<T>[],
  refusal: string | DataRefusal<T>,
): Promise<number> {
  const policy: DataRefusal<T> = typeof refusal === 'string' ? postgresRefusal(refusal) : refusal
  const suspects: {record: DecodedRecord<T>; error: unknown}[] = []
  const written = await isolate(records, write, rejected, policy, suspects)
  // Asked only now, so that the question can rest on the rest of the batch having been written.
  for (const {record, error} of suspects) {
    if (policy.confirmRefusal && !(await policy.confirmRefusal(error, record))) throw error
    rejected.push({record, errorClass: 'sink', message: policy.describe(error)})
  }
  return written
}

async function isolate<T>(
  records: DecodedRecord<T>[],
  write: (records: DecodedRecord<T>[]) => Promise<number>,
  rejected: RejectedRecord<T>[],
  policy: DataRefusal<T>,
  suspects: {record: DecodedRecord<T>; error: unknown}[],
): Promise<number> {
  if (records.length === 0) return 0
  try {
    return await write(records)
  } catch (error) {
    const blame = await policy.blame(error, records.length)
    if (blame === 'store') throw error
    if (records.length === 1) {
      if (blame === 'data') {
        rejected.push({record: records[0]!, errorClass: 'sink', message: policy.describe(error)})
        return 0
      }
      // A suspect failure may have been a passing one: the row gets a second try alone.
      try {
        return await write(records)
      } catch (again) {
        const second = await policy.blame(again, 1)
        if (second === 'store') throw again
        if (second === 'data') rejected.push({record: records[0]!, errorClass: 'sink', message: policy.describe(again)})
        else suspects.push({record: records[0]!, error: again})
        return 0
      }
    }
    const middle = Math.ceil(records.length / 2)
    return (await isolate(records.slice(0, middle), write, rejected, policy, suspects)) + (await isolate(records.slice(middle), write, rejected, policy, suspects))
  }
}
