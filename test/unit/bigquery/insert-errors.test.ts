import {describe, expect, it} from 'vitest'

import {apiError, fetchError} from '../../helpers/google-errors.js'
import {classifyInsertFailure, describeBigQueryError, isConnectionError, isRowRetriable} from '../../../src/lib/bigquery/insert-errors.js'

describe('classifyInsertFailure', () => {
  it('too large: 413, and a 400 about the payload size or the row count (as Kafka Connect reads them)', () => {
    expect(classifyInsertFailure(apiError(413, '', 'Request Entity Too Large'))).toBe('too-large')
    expect(classifyInsertFailure(apiError(400, 'invalid', 'Request payload size exceeds the limit: 10485760 bytes.'))).toBe('too-large')
    expect(classifyInsertFailure(apiError(400, 'invalid', 'too many rows present in the request, limit: 50000 row count: 50001.'))).toBe('too-large')
  })

  it('unavailable (the engine retries): connection errors, timeouts, 5xx other than 500, quota and rate limits', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN']) expect(classifyInsertFailure(fetchError(code))).toBe('unavailable')
    expect(classifyInsertFailure(Object.assign(new Error('network timeout at: http://x/bigquery/v2/'), {name: 'FetchError', type: 'request-timeout'}))).toBe('unavailable')
    expect(classifyInsertFailure(new Error('socket hang up'))).toBe('unavailable')
    for (const code of [408, 429, 502, 503, 504]) expect(classifyInsertFailure(apiError(code, 'backendError', 'x'))).toBe('unavailable')
    expect(classifyInsertFailure(apiError(403, 'quotaExceeded', 'Exceeded rate limits'))).toBe('unavailable')
    expect(classifyInsertFailure(apiError(403, 'rateLimitExceeded', 'Exceeded rate limits'))).toBe('unavailable')
    expect(classifyInsertFailure(apiError(500, 'backendError', 'Backend error'))).toBe('unavailable')
  })

  it('ambiguous: any other 500 (the emulator\'s answer to a row of the wrong type)', () => {
    expect(classifyInsertFailure(apiError(500, 'internalError', 'strconv.ParseInt: parsing "eyJ…": invalid syntax'))).toBe('ambiguous')
  })

  it('data, not found and refused', () => {
    expect(classifyInsertFailure(apiError(400, 'invalid', 'Invalid value'))).toBe('data')
    expect(classifyInsertFailure(apiError(404, 'notFound', 'table events is not found'))).toBe('not-found')
    expect(classifyInsertFailure(apiError(401, 'unauthorized', 'Request had invalid authentication credentials'))).toBe('refused')
    expect(classifyInsertFailure(apiError(403, 'accessDenied', 'Access Denied: Table p:d.t'))).toBe('refused')
    expect(classifyInsertFailure(new Error('Could not load the default credentials. Browse to https://cloud.google.com/docs/authentication/getting-started'))).toBe('refused')
  })

  it('tells connection errors from answers', () => {
    expect(isConnectionError(fetchError('ECONNREFUSED'))).toBe(true)
    expect(isConnectionError(apiError(500, 'internalError', 'x'))).toBe(false)
    expect(isConnectionError(undefined)).toBe(false)
  })
})

describe('per-row reasons', () => {
  it('retries stopped and transient rows; a row refused as invalid is not retried', () => {
    expect(isRowRetriable(['stopped'])).toBe(true)
    expect(isRowRetriable(['backendError'])).toBe(true)
    expect(isRowRetriable(['invalid'])).toBe(false)
    expect(isRowRetriable(['invalid', 'stopped'])).toBe(false)
    expect(isRowRetriable([])).toBe(false)
  })

  it('describes an error with its status, reasons and messages', () => {
    expect(describeBigQueryError(apiError(500, 'internalError', 'boom'))).toBe('HTTP 500 internalError: boom')
    expect(describeBigQueryError({errors: [{reason: 'invalid', message: 'no such field: x.'}]})).toBe('invalid: no such field: x.')
  })
})
