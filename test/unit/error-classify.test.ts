import {describe, expect, it} from 'vitest'

import {bigqueryDependencyError, classifyError, kafkaAccessError, postgresDependencyError, type Endpoints} from '../../src/lib/error-classify.js'
import {CheckFailedError, DependencyError, InternalError, UsageError} from '../../src/lib/errors.js'
import {apiError, fetchError} from '../helpers/google-errors.js'

function kafkaError(name: string, message: string, cause?: unknown) {
  return Object.assign(new Error(message), {name, cause})
}

/** A socket error as Node makes it (net.connect's errors carry syscall, address and port). */
function socketError(code: string, address: string, port: number, syscall = 'connect') {
  return Object.assign(new Error(`${syscall} ${code} ${address}:${port}`), {code, errno: -111, syscall, address, port})
}

/** A server error as node-postgres makes it: a SQLSTATE and a severity. */
function pgServerError(code: string, message: string) {
  return Object.assign(new Error(message), {name: 'error', code, severity: 'ERROR'})
}

const STACK: Endpoints = {
  kafka: ['localhost:9092'],
  postgres: 'postgres://localhost:5432/kpipe',
  redis: 'redis://localhost:6379',
  bigquery: 'http://localhost:9050',
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
    const relation = Object.assign(
      new Error('The following errors occurred:\n  --watch=true cannot also be provided when using --sample\n  --serve=true cannot also be provided when using --sample\nSee more help with --help'),
      {parse: {}},
    )
    expect(classifyError(relation)).toMatchObject({
      message: '--watch=true cannot also be provided when using --sample; --serve=true cannot also be provided when using --sample',
      exitCode: 2,
    })
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
    const refused = socketError('ECONNREFUSED', '127.0.0.1', 5432)
    expect(classifyError(refused, {endpoints: STACK})).toMatchObject({exitCode: 3, message: 'PostgreSQL is unreachable (connect ECONNREFUSED 127.0.0.1:5432).'})
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

describe('classifyError: mutual TLS', () => {
  it.each(['certificate unknown', 'bad certificate', 'unknown ca', 'certificate required'])('the broker alert "%s" is a refused client certificate, one line', (alert) => {
    const error = kafkaError('KafkaJSConnectionError', `Connection error: 40BD02B5E87F0000:error:0A000412:SSL routines:ssl3_read_bytes:ssl/tls alert ${alert}:../deps/openssl/rec_layer_s3.c:918:SSL alert number 42\n`)
    const result = classifyError(error)
    expect(result.exitCode).toBe(3)
    expect(result.message).toBe(`Kafka refused kpipe's client certificate in the TLS handshake (TLS alert "${alert}"): the brokers require one signed by a CA they trust.`)
    expect(result.hint).toMatch(/KPIPE_KAFKA_CERT_FILE/)
  })
})

describe('kafkaAccessError: the missing permission, by what the client was doing', () => {
  const refused = (type: string) => kafkaError('KafkaJSNonRetriableError', 'no', Object.assign(new Error('Not authorized'), {name: 'KafkaJSProtocolError', type, retriable: false}))
  const access = {principal: 'User:app', topic: {name: 'events', operation: 'READ'}, group: {name: 'kpipe-events', operation: 'READ'}, transactionalId: {name: 'r.txn', operation: 'WRITE'}, cluster: {operation: 'IDEMPOTENT_WRITE'}}

  it.each([
    ['TOPIC_AUTHORIZATION_FAILED', 'READ on topic events', '--operation Read --topic events'],
    ['GROUP_AUTHORIZATION_FAILED', 'READ on group kpipe-events', '--operation Read --group kpipe-events'],
    ['TRANSACTIONAL_ID_AUTHORIZATION_FAILED', 'WRITE on transactional id r.txn', '--operation Write --transactional-id r.txn'],
    ['CLUSTER_AUTHORIZATION_FAILED', 'IDEMPOTENT_WRITE on the cluster', '--operation IdempotentWrite --cluster'],
  ])('%s: one sentence naming the principal and the permission', (type, permission, grant) => {
    const result = kafkaAccessError(refused(type), access)!
    expect(result.exitCode).toBe(3)
    expect(result.message).toBe(`Kafka refused User:app (${type}): it lacks ${permission}.`)
    expect(result.hint).toContain(`--allow-principal User:app ${grant}`)
  })

  it('a prefixed name is granted on its prefix; a refusal the access does not explain, or none, is left alone', () => {
    const result = kafkaAccessError(refused('GROUP_AUTHORIZATION_FAILED'), {group: {name: 'kpipe-integrity-1', operation: 'READ', prefix: 'kpipe-integrity-'}})!
    expect(result.message).toBe("Kafka refused kpipe's principal (GROUP_AUTHORIZATION_FAILED): it lacks READ on group kpipe-integrity-1 (an ACL on the prefix kpipe-integrity-).")
    expect(result.hint).toContain('--resource-pattern-type prefixed --group kpipe-integrity-')
    expect(kafkaAccessError(refused('GROUP_AUTHORIZATION_FAILED'), {topic: access.topic})).toBeUndefined()
    expect(kafkaAccessError(refused('UNKNOWN_TOPIC_OR_PARTITION'), access)).toBeUndefined()
  })

  it('topic creation refused (KafkaJSCreateTopicError names the topic) is CREATE on it', () => {
    const create = Object.assign(new Error('Not authorized'), {name: 'KafkaJSCreateTopicError', type: 'TOPIC_AUTHORIZATION_FAILED', topic: 't1', retriable: false})
    const result = classifyError(Object.assign(kafkaError('KafkaJSAggregateError', 'Topic creation errors'), {errors: [create]}))
    expect(result.exitCode).toBe(3)
    expect(result.message).toBe("Kafka refused kpipe's principal (TOPIC_AUTHORIZATION_FAILED): it lacks CREATE on topic t1.")
  })
})

describe('classifyError: a socket error names the service at its address, never a guess', () => {
  it.each([
    ['PostgreSQL', socketError('ECONNREFUSED', '127.0.0.1', 5432), /^PostgreSQL is unreachable/, 'KPIPE_PG_URL'],
    ['Redis', socketError('ECONNREFUSED', '127.0.0.1', 6379), /^Redis is unreachable/, 'KPIPE_REDIS_URL'],
    ['Kafka', socketError('ECONNREFUSED', '::1', 9092), /^Kafka is unreachable/, 'KPIPE_BROKERS'],
    ['BigQuery', socketError('ECONNRESET', '127.0.0.1', 9050, 'read'), /^BigQuery is unreachable/, 'KPIPE_BQ_ENDPOINT'],
  ])('%s', (_name, error, message, setting) => {
    const result = classifyError(error, {endpoints: STACK})
    expect(result.exitCode).toBe(3)
    expect(result.message).toMatch(message)
    expect(result.hint).toContain(setting)
  })

  it('a refused Redis is not blamed on PostgreSQL, even though the message says "connect"', () => {
    const result = classifyError(socketError('ECONNREFUSED', '127.0.0.1', 6379), {endpoints: {...STACK, redis: undefined}})
    expect(result.exitCode).toBe(3)
    expect(result.message).not.toMatch(/PostgreSQL/)
    expect(result.message).toMatch(/none of the configured services/)
  })

  it('matches a host name that failed to resolve', () => {
    const error = Object.assign(new Error('getaddrinfo ENOTFOUND db.internal'), {code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname: 'db.internal'})
    expect(classifyError(error, {endpoints: {postgres: 'postgres://db.internal/kpipe'}}).message).toMatch(/^PostgreSQL is unreachable/)
  })

  it('a PostgreSQL client error is PostgreSQL\'s, whatever the socket', () => {
    expect(postgresDependencyError(socketError('ECONNREFUSED', '10.0.0.9', 6432), {fromPostgres: true})?.message).toMatch(/^PostgreSQL is unreachable/)
    expect(postgresDependencyError(socketError('ECONNREFUSED', '10.0.0.9', 6432))).toBeUndefined()
    const noSocket = Object.assign(new Error('connect ENOENT /missing/.s.PGSQL.5432'), {code: 'ENOENT', syscall: 'connect', address: '/missing/.s.PGSQL.5432'})
    expect(postgresDependencyError(noSocket, {fromPostgres: true})).toMatchObject({exitCode: 3})
  })
})

describe('classifyError: operator mistakes are not bugs', () => {
  it('a metrics port already in use is exit 2, naming the flag', () => {
    const result = classifyError(socketError('EADDRINUSE', '127.0.0.1', 9464, 'listen'))
    expect(result.exitCode).toBe(2)
    expect(result.message).toBe('Cannot listen on 127.0.0.1:9464 for /metrics: the address is already in use (another worker on this host?).')
    expect(result.hint).toMatch(/--metrics-port/)
  })

  it('a dropped table is exit 2 asking for kpipe db migrate', () => {
    const result = classifyError(pgServerError('42P01', 'relation "pipeline.events" does not exist'))
    expect(result.exitCode).toBe(2)
    expect(result.message).toMatch(/relation "pipeline.events" does not exist/)
    expect(result.hint).toMatch(/kpipe db migrate/)
  })

  it('a refused privilege and a server shutting down are exit 3', () => {
    expect(classifyError(pgServerError('42501', 'permission denied for schema pipeline')).exitCode).toBe(3)
    expect(classifyError(pgServerError('57P01', 'terminating connection due to administrator command')).message).toMatch(/^PostgreSQL is unavailable/)
    expect(classifyError(pgServerError('53300', 'sorry, too many clients already')).exitCode).toBe(3)
  })

  it('a full disk or exhausted memory on the server is exit 3, named as such', () => {
    const disk = classifyError(pgServerError('53100', 'could not extend file "base/5/16390": No space left on device'))
    expect(disk.exitCode).toBe(3)
    expect(disk.message).toBe('PostgreSQL is out of disk space: could not extend file "base/5/16390": No space left on device.')
    expect(disk.hint).toMatch(/Free space/)
    expect(classifyError(pgServerError('53200', 'out of memory')).message).toBe('PostgreSQL is out of memory: out of memory.')
  })

  it('a SQLSTATE-like code without a severity is not taken for a PostgreSQL error', () => {
    expect(classifyError(Object.assign(new Error('x'), {code: '42P01'})).exitCode).toBe(70)
  })

  it.each([
    ['MESSAGE_TOO_LARGE', 2, /too large/],
    ['RECORD_LIST_TOO_LARGE', 2, /too large/],
    ['TOPIC_AUTHORIZATION_FAILED', 3, /not authorised/],
    ['CLUSTER_AUTHORIZATION_FAILED', 3, /not authorised/],
    ['UNKNOWN_TOPIC_OR_PARTITION', 2, /no such topic/],
    ['POLICY_VIOLATION', 2, /refused the request/],
    ['LEADER_NOT_AVAILABLE', 3, /partition without a leader/],
    ['NOT_LEADER_OR_FOLLOWER', 3, /partition without a leader/],
    ['OUT_OF_ORDER_SEQUENCE_NUMBER', 3, /idempotent producer's next batch after a leader change/],
    ['UNKNOWN_PRODUCER_ID', 3, /idempotent producer's next batch after a leader change/],
  ])('a broker refusing with %s (wrapped as kafkajs does) is exit %i', (type, exitCode, message) => {
    const protocol = Object.assign(new Error('The broker says no'), {name: 'KafkaJSProtocolError', type, retriable: false})
    const wrapped = kafkaError('KafkaJSNonRetriableError', 'The broker says no', protocol)
    const result = classifyError(wrapped)
    expect(result.exitCode).toBe(exitCode)
    expect(result.message).toMatch(message)
    expect(result.message).toContain(type)
  })

  it('names Redis failures from ioredis', () => {
    const retries = Object.assign(new Error('Reached the max retries per request limit (which is 1). Refer to "maxRetriesPerRequest" option for details.'), {name: 'MaxRetriesPerRequestError'})
    expect(classifyError(retries)).toMatchObject({exitCode: 3})
    expect(classifyError(retries).message).toMatch(/^Redis is unreachable/)
    expect(classifyError(Object.assign(new Error('WRONGPASS invalid username-password pair or user is disabled.'), {name: 'ReplyError'})).message).toMatch(/^Redis refused authentication/)
  })

  it('looks through aggregate errors (one failure per address)', () => {
    const aggregate = Object.assign(new AggregateError([socketError('ECONNREFUSED', '::1', 6379), socketError('ECONNREFUSED', '127.0.0.1', 6379)], ''), {code: 'ECONNREFUSED'})
    expect(classifyError(aggregate, {endpoints: STACK}).message).toMatch(/^Redis is unreachable/)
  })

  it('names BigQuery as unreachable (exit 3) when its endpoint refuses, whatever the port', () => {
    const refused = fetchError('ECONNREFUSED', 'http://127.0.0.1:1/bigquery/v2/projects/local/datasets/analytics?prettyPrint=false')
    const result = classifyError(refused, {endpoints: STACK})
    expect(result).toBeInstanceOf(DependencyError)
    expect(result.exitCode).toBe(3)
    expect(result.message).toBe('BigQuery is unreachable at http://127.0.0.1:1 (connect ECONNREFUSED 127.0.0.1:9050).')
    expect(result.hint).toMatch(/--bq-endpoint/)
    const timeout = Object.assign(new Error('network timeout at: https://bigquery.googleapis.com/bigquery/v2/projects/p/datasets/d'), {name: 'FetchError', type: 'request-timeout'})
    expect(classifyError(timeout).message).toBe('BigQuery is unreachable at https://bigquery.googleapis.com (no answer before the timeout).')
  })

  it('BigQuery credentials and permissions are exit 3; a missing project or a refused name is exit 2', () => {
    const noCredentials = new Error('Could not load the default credentials. Browse to https://cloud.google.com/docs/authentication/getting-started for more information.')
    expect(classifyError(noCredentials)).toMatchObject({exitCode: 3, message: expect.stringMatching(/^BigQuery needs credentials/)})
    expect(classifyError(apiError(403, 'accessDenied', 'Access Denied: Dataset p:d: Permission bigquery.datasets.get denied'))).toMatchObject({
      exitCode: 3,
      message: expect.stringMatching(/^BigQuery refused kpipe's credentials or permissions at https:\/\/bigquery\.googleapis\.com \(HTTP 403/),
    })
    expect(classifyError(apiError(404, 'notFound', 'project other is not found'))).toMatchObject({exitCode: 2, message: 'BigQuery has no such project (project other is not found).'})
    expect(classifyError(apiError(400, 'invalid', 'Invalid dataset ID "bad-name".'))).toMatchObject({exitCode: 2, message: expect.stringMatching(/^BigQuery refused a name from the configuration/)})
    expect(bigqueryDependencyError(new Error('unrelated'))).toBeUndefined()
  })
})
