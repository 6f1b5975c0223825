/**
 * Splitting a batch of rows into insertAll requests within BigQuery's limits (10 MB per HTTP
 * request, 50,000 rows, 500 recommended): bounded by rows and by the bytes of the serialised
 * rows. Pure. A row larger than the byte bound on its own is sent alone, so that BigQuery says
 * whether it takes it.
 */

export interface RequestLimits {
  /** Rows per request (`--max-rows`, default 500). */
  maxRows: number
  /** Bytes per request body (`--max-bytes`, default 9 MB: headroom under Google's 10 MB). */
  maxBytes: number
}

export const DEFAULT_LIMITS: RequestLimits = {maxRows: 500, maxBytes: 9_000_000}

/** Bytes of an insertAll body beyond its rows: `{"rows":[…],"skipInvalidRows":true}` and the like. */
export const REQUEST_OVERHEAD_BYTES = 200

/** Consecutive runs of `items`, each within the limits; order is kept. */
export function planRequests<I>(items: readonly I[], bytesOf: (item: I) => number, limits: RequestLimits): I[][] {
  const requests: I[][] = []
  let current: I[] = []
  let bytes = REQUEST_OVERHEAD_BYTES
  for (const item of items) {
    const size = bytesOf(item)
    if (current.length > 0 && (current.length >= limits.maxRows || bytes + size > limits.maxBytes)) {
      requests.push(current)
      current = []
      bytes = REQUEST_OVERHEAD_BYTES
    }
    current.push(item)
    bytes += size
  }
  if (current.length > 0) requests.push(current)
  return requests
}

/** The bytes of a request holding these items, as planRequests counts them. */
export function requestBytes<I>(items: readonly I[], bytesOf: (item: I) => number): number {
  let bytes = REQUEST_OVERHEAD_BYTES
  for (const item of items) bytes += bytesOf(item)
  return bytes
}
