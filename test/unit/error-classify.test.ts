import {describe, expect, it} from 'vitest'

import {classifyError} from '../../src/lib/error-classify.js'
import {CheckFailedError, DependencyError, InternalError, UsageError} from '../../src/lib/errors.js'

function kafkaError(name: string, message: string, cause?: unknown) {
  return Object.assign(new Error(message), {name, cause})
}

describe('classifyError', () => {
  it('keeps kpipe errors as they are', () => {
    const error = new CheckFailedError('lag over threshold')
    expect(classifyError(error)).toBe(error)
    expect(error.exitCode).toBe(1)
  })

  it('cleans oclif flag parse messages into one sentence, exit 2', () => {
    const wrapped = new UsageError('x')
    wrapped.message = 'Parsing --retention \n\t"7x" is not a duration\nSee more help with --help'
    const result = classifyError(wrapped)
    expect(result.message).toBe('--retention: "7x" is not a duration')
    expect(result.exitCode).toBe(2)
    const parse = Object.assign(new Error('Nonexistent flag: --bogus\nSee more help with --help'), {parse: {}})
    expect(classifyError(parse)).toMatchObject({message: 'Nonexistent flag: --bogus', exitCode: 2})
  })

  it('maps unreachable brokers to exit 3', () => {
    const error = kafkaError('KafkaJSNumberOfRetriesExceeded', 'retries', kafkaError('KafkaJSConnectionError', 'Connection error: connect ECONNREFUSED 127.0.0.1:1'))
    const result = classifyError(error)
    expect(result).toBeInstanceOf(DependencyError)
    expect(result.exitCode).toBe(3)
    expect(result.message).toBe('Kafka is unreachable (Connection error: connect ECONNREFUSED 127.0.0.1:1).')
  })

  it('names authentication failures and closed connections', () => {
    expect(classifyError(kafkaError('KafkaJSSASLAuthenticationError', 'SASL SCRAM SHA512 authentication failed')).message).toMatch(/^Kafka refused authentication/)
    expect(classifyError(kafkaError('KafkaJSConnectionClosedError', 'Closed connection')).message).toMatch(/closed the connection/)
  })

  it('maps PostgreSQL connection and auth failures to exit 3', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {code: 'ECONNREFUSED'})
    expect(classifyError(refused)).toMatchObject({exitCode: 3, message: 'PostgreSQL is unreachable (connect ECONNREFUSED 127.0.0.1:5432).'})
    const auth = Object.assign(new Error('password authentication failed for user "x"'), {code: '28P01'})
    expect(classifyError(auth)).toMatchObject({exitCode: 3})
    expect(classifyError(Object.assign(new Error('database "nope" does not exist'), {code: '3D000'})).exitCode).toBe(3)
  })

  it('treats anything else as a bug, exit 70', () => {
    const result = classifyError(new TypeError('undefined is not a function'))
    expect(result).toBeInstanceOf(InternalError)
    expect(result.exitCode).toBe(70)
    expect(classifyError('a string').exitCode).toBe(70)
  })
})

describe('classifyError: TLS', () => {
  it('names an untrusted broker certificate and points at the CA file', () => {
    const error = kafkaError('KafkaJSNumberOfRetriesExceeded', 'retries', kafkaError('KafkaJSConnectionError', 'Connection error: self-signed certificate in certificate chain'))
    const result = classifyError(error)
    expect(result.exitCode).toBe(3)
    expect(result.message).toBe("Kafka's TLS handshake failed (Connection error: self-signed certificate in certificate chain).")
    expect(result.hint).toMatch(/KPIPE_KAFKA_CA_FILE/)
  })
})
