/**
 * What a failed BigQuery request means for the analytics sink. Pure. The cases are those of
 * Kafka Connect's BigQuery sink (BigQueryErrorResponses, TableWriter) and Google's error table
 * (https://cloud.google.com/bigquery/docs/error-messages):
 *
 * - `too-large`: the request is over a limit (HTTP 413, or 400 "Request payload size exceeds the
 *   limit" / "too many rows present in the request"): halve it and send the halves.
 * - `unavailable`: the service or the network (connection errors, timeouts, 408, 429, 502–504,
 *   and the reasons backendError, rateLimitExceeded, quotaExceeded): the engine retries.
 * - `ambiguous`: another HTTP 500. Google means a passing failure; goccy/bigquery-emulator answers
 *   a row of the wrong type this way for the whole request. Only a question to the server tells.
 * - `data`: a 400 refusing the request's content: split it to find the rows.
 * - `not-found`: the dataset or table is gone (404): recreate it, then retry.
 * - `refused`: credentials or permissions (401, 403): retrying cannot help; the worker stops.
 */

export type InsertFailure = 'too-large' | 'unavailable' | 'ambiguous' | 'data' | 'not-found' | 'refused'

interface GoogleErrorLike {
  name?: string
  code?: unknown
  type?: string
  message?: string
  errors?: {reason?: string; message?: string}[]
  response?: {statusCode?: number}
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED', 'UND_ERR_SOCKET'])
const TRANSIENT_REASONS = new Set(['backendError', 'rateLimitExceeded', 'userRateLimitExceeded', 'quotaExceeded', 'tableUnavailable'])
const TRANSIENT_STATUS = new Set([408, 429, 502, 503, 504])
const TOO_LARGE = /payload size exceeds the limit|too many rows present in the request|request entity too large|request too large/i

/** The HTTP status of a googleapis error, if it has one. */
export function httpStatus(error: unknown): number | undefined {
  const e = error as GoogleErrorLike | undefined
  if (typeof e?.code === 'number') return e.code
  return typeof e?.response?.statusCode === 'number' ? e.response.statusCode : undefined
}

export function errorReasons(error: unknown): string[] {
  const errors = (error as GoogleErrorLike | undefined)?.errors
  return Array.isArray(errors) ? errors.map((e) => e?.reason ?? '').filter(Boolean) : []
}

/** A failure to talk to the server at all: refused, reset, timed out, name not resolved. */
export function isConnectionError(error: unknown): boolean {
  const e = error as GoogleErrorLike | undefined
  if (!e || typeof e !== 'object') return false
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return true
  if (e.name === 'FetchError' && (e.type === 'system' || e.type === 'request-timeout')) return true
  if (e.name === 'AbortError' || e.name === 'TimeoutError') return true
  return /socket hang up|network timeout|ECONNRESET|ECONNREFUSED/.test(e.message ?? '')
}

export function classifyInsertFailure(error: unknown): InsertFailure {
  if (isConnectionError(error)) return 'unavailable'
  const status = httpStatus(error)
  const reasons = errorReasons(error)
  const message = (error as GoogleErrorLike | undefined)?.message ?? ''
  if (status === 413 || (status === 400 && TOO_LARGE.test(message))) return 'too-large'
  // Quota and rate limits come as 403 (and 429): reasons first, then the status.
  if (reasons.some((r) => TRANSIENT_REASONS.has(r))) return 'unavailable'
  if (status !== undefined && TRANSIENT_STATUS.has(status)) return 'unavailable'
  if (status === 500) return 'ambiguous'
  if (status === 401 || status === 403 || /Could not load the default credentials|invalid_grant|unauthorized_client/i.test(message)) return 'refused'
  if (status === 404) return 'not-found'
  if (status === 400) return 'data'
  // Anything else without a status (a DNS hiccup in a library, a half-read response): retry.
  return 'unavailable'
}

/**
 * Per-row insertErrors: `invalid` (and any reason naming the row's content) is the row's fault,
 * for the dead-letter topic; `stopped` means "not inserted because another row was invalid" and,
 * with the transient reasons, is worth sending again.
 */
export function isRowRetriable(reasons: readonly string[]): boolean {
  return reasons.length > 0 && reasons.every((r) => r === 'stopped' || r === 'timeout' || r === 'internalError' || TRANSIENT_REASONS.has(r))
}

/** One line for logs and dead letters: the reasons and messages BigQuery gave. */
export function describeBigQueryError(error: unknown): string {
  const e = error as GoogleErrorLike | undefined
  const status = httpStatus(error)
  const parts = (Array.isArray(e?.errors) ? e.errors : []).map((x) => `${x.reason ? `${x.reason}: ` : ''}${x.message ?? ''}`.trim()).filter(Boolean)
  const text = parts.length > 0 ? [...new Set(parts)].join('; ') : (e?.message ?? String(error))
  return `${status !== undefined ? `HTTP ${status} ` : ''}${text}`.slice(0, 2000)
}
