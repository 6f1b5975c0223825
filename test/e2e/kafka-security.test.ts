/**
 * SASL_SSL end to end: the stack's SCRAM-SHA-512 listener with a CA made at start-up
 * (`./scripts/stack up --secure`, which scripts/test and scripts/demo use).
 */
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {json, runCli} from '../helpers/cli.js'
import {mtlsEnv, secureEnv} from '../helpers/secure-stack.js'
import {createTopics, deleteTopics, uniqueName} from '../integration/workers/helpers.js'

/** A topic of this file's own, so that a listing has something to show on a fresh stack too. */
const TOPIC = uniqueName('e2e-security')
beforeAll(async () => {
  await createTopics(TOPIC, 1)
})
afterAll(async () => {
  await deleteTopics(TOPIC)
})

describe('Kafka over SASL_SSL (SCRAM-SHA-512)', () => {
  // Read when the tests run, not while vitest collects them (a failing script then fails a hook,
  // with its message, instead of the collection of the whole file).
  let env: Record<string, string>
  beforeAll(async () => {
    env = await secureEnv()
  })

  it('the stack exports a TLS + SCRAM configuration', () => {
    expect(env).toMatchObject({KPIPE_KAFKA_SSL: 'true', KPIPE_KAFKA_SASL_MECHANISM: 'scram-sha-512'})
    expect(env.KPIPE_KAFKA_CA_FILE).toBeTruthy()
  })

  it('lists topics through the secure listener', async () => {
    const result = await runCli(['topics', 'list', '--json'], {env})
    expect(result.code, result.stderr).toBe(0)
    expect(json<{topics: {name: string}[]}>(result).topics.map((t) => t.name)).toContain(TOPIC)
  })

  it('a wrong password is refused authentication: exit 3, one sentence', async () => {
    const result = await runCli(['topics', 'list'], {env: {...env, KPIPE_KAFKA_PASSWORD: 'wrong-password'}})
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(/^Error: Kafka refused authentication: .*invalid credentials.*$/m)
    expect(result.stderr).not.toContain('wrong-password')
  })

  it('an untrusted certificate says so and points at the CA file', async () => {
    const result = await runCli(['topics', 'list'], {env: {...env, KPIPE_KAFKA_CA_FILE: ''}})
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(/^Error: Kafka's TLS handshake failed \(.*certificate.*\)\.$/m)
    expect(result.stderr).toContain('KPIPE_KAFKA_CA_FILE')
  })

  it('plaintext against the TLS listener is a clear sentence, not a retried hang', async () => {
    const result = await runCli(['topics', 'list'], {env: {...env, KPIPE_KAFKA_SSL: 'false'}})
    expect(result.code).toBe(3)
    // One sentence and exit 3: kpipe gave up by itself (a retried hang would be killed by runCli
    // and leave no exit code).
    expect(result.stderr).toMatch(/^Error: The Kafka broker closed the connection/m)
  })
})

describe('Kafka over mutual TLS (the SSL listener, ssl.client.auth=required)', () => {
  let env: Record<string, string>
  beforeAll(async () => {
    env = await mtlsEnv()
  })

  it('the stack exports a client certificate of its CA', () => {
    expect(env).toMatchObject({KPIPE_KAFKA_SSL: 'true'})
    expect(env.KPIPE_KAFKA_CERT_FILE).toBeTruthy()
    expect(env.KPIPE_KAFKA_KEY_FILE).toBeTruthy()
  })

  it('lists topics with the client certificate (principal User:kpipe-mtls, by ACLs)', async () => {
    const result = await runCli(['topics', 'list', '--json'], {env})
    expect(result.code, result.stderr).toBe(0)
    expect(json<{topics: {name: string}[]}>(result).topics.map((t) => t.name)).toContain(TOPIC)
  })

  it('a worker consumes with the client certificate', async () => {
    const result = await runCli(['worker', 'events', '--topic', TOPIC, '--group', `${TOPIC}-mtls`, '--stop-when-caught-up', '--no-projections', '--json'], {env: {...env, KPIPE_METRICS_PORT: '0'}})
    expect(result.code, result.stderr.slice(-2000)).toBe(0)
    expect(json<{stoppedBy: string}>(result).stoppedBy).toBe('caught-up')
  })

  it('a certificate of another CA is refused: exit 3, one sentence', async () => {
    const foreign = path.join(path.dirname(env.KPIPE_KAFKA_CERT_FILE!), 'foreign')
    const result = await runCli(['topics', 'list'], {env: {...env, KPIPE_KAFKA_CERT_FILE: path.join(foreign, 'client.crt'), KPIPE_KAFKA_KEY_FILE: path.join(foreign, 'client.key')}})
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(/^Error: Kafka refused kpipe's client certificate in the TLS handshake \(TLS alert "[a-z ]+"\): [^\n]*\.$/m)
    expect(result.stderr.split('\n').filter((line) => line.startsWith('Error: '))).toHaveLength(1)
  })

  it('no client certificate is refused the same way', async () => {
    const result = await runCli(['topics', 'list'], {env: {...env, KPIPE_KAFKA_CERT_FILE: '', KPIPE_KAFKA_KEY_FILE: ''}})
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(/^Error: Kafka refused kpipe's client certificate in the TLS handshake/m)
  })
})
