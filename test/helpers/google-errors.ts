/** Errors shaped as @google-cloud/bigquery throws them, for unit tests of the analytics sink. */

/** @google-cloud/common's ApiError: the HTTP status, Google's errors[] and the response. */
export function apiError(code: number, reason: string, message: string) {
  return Object.assign(new Error(message), {code, errors: [{reason, message}], response: {statusCode: code}})
}

/** node-fetch's FetchError, as teeny-request throws it when the connection fails. */
export function fetchError(code: string, url = 'http://localhost:9050/bigquery/v2/projects/local/datasets/d/tables/t/insertAll') {
  return Object.assign(new Error(`request to ${url} failed, reason: connect ${code} 127.0.0.1:9050`), {name: 'FetchError', type: 'system', code, errno: code, erroredSysCall: 'connect'})
}
