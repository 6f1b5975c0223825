/**
 * PostgreSQL over TLS and Redis with a password (and TLS) on the secure stack: `up --secure`
 * turns on ssl in PostgreSQL with a server certificate of the stack's CA, and gives Redis an ACL
 * user with a password and a TLS port (.stack/tls/services.env). Plain connections stay as they
 * were for every other test.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {runCli} from '../helpers/cli.js'
import {secureServicesEnv} from '../helpers/secure-stack.js'
import {createPrivateDatabase, type PrivateDatabase} from '../helpers/services.js'

describe('PostgreSQL over TLS and Redis with a password', () => {
  let env: Record<string, string>
  let db: PrivateDatabase
  /** The stack's TLS URL, pointed at this test's own database. */
  let pgTls: URL

  beforeAll(async () => {
    env = await secureServicesEnv()
    db = await createPrivateDatabase()
    pgTls = new URL(env.KPIPE_PG_URL!)
    pgTls.pathname = `/${db.name}`
  })

  afterAll(async () => {
    await db?.drop()
  })

  function withMode(search: Record<string, string>): string {
    const url = new URL(pgTls)
    url.search = new URLSearchParams(search).toString()
    return url.toString()
  }

  it('db migrate over TLS with sslmode=verify-full and the stack CA as sslrootcert', async () => {
    const result = await runCli(['db', 'migrate', '--pg-url', pgTls.toString()])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/sslmode=verify-full/)
  })

  it('sslmode=require encrypts without verifying; verify-full without the CA is refused: exit 3, one sentence', async () => {
    const required = await runCli(['db', 'migrate', '--pg-url', withMode({sslmode: 'require'})])
    expect(required.code, required.stderr).toBe(0)
    // That the server's certificate was checked (and failed) shows the connection used TLS.
    const unverified = await runCli(['db', 'migrate', '--pg-url', withMode({sslmode: 'verify-full'})], {env: {NODE_EXTRA_CA_CERTS: ''}})
    expect(unverified.code).toBe(3)
    expect(unverified.stderr).toMatch(/^Error: PostgreSQL's TLS certificate at localhost:\d+ is not trusted \([^)]*certificate[^)]*\)\.$/m)
  })

  it('Redis over TLS (rediss://) with the ACL user and its password', async () => {
    // cache rebuild on this test's own (empty) database: it connects, authenticates and writes nothing.
    await runCli(['db', 'migrate', '--pg-url', pgTls.toString()])
    const result = await runCli(['cache', 'rebuild', '--no-flush', '--pg-url', pgTls.toString(), '--redis-url', env.KPIPE_REDIS_URL!], {env: {NODE_EXTRA_CA_CERTS: env.NODE_EXTRA_CA_CERTS!}})
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/Rebuilt the Redis projections from 0 events/)
  })

  it('a wrong Redis password, and an untrusted Redis certificate: exit 3, one sentence each, no secret shown', async () => {
    const wrong = new URL(env.KPIPE_REDIS_URL!)
    wrong.password = 'not-the-password-7f3a'
    const refused = await runCli(['cache', 'rebuild', '--no-flush', '--pg-url', pgTls.toString(), '--redis-url', wrong.toString()], {env: {NODE_EXTRA_CA_CERTS: env.NODE_EXTRA_CA_CERTS!}})
    expect(refused.code).toBe(3)
    expect(refused.stderr).toMatch(/^Error: Redis at rediss:\/\/kpipe-redis:\*\*\*@localhost:\d+ refused authentication: WRONGPASS[^\n]*\.$/m)
    expect(refused.stdout + refused.stderr).not.toContain('not-the-password-7f3a')
    const untrusted = await runCli(['cache', 'rebuild', '--no-flush', '--pg-url', pgTls.toString(), '--redis-url', env.KPIPE_REDIS_URL!], {env: {NODE_EXTRA_CA_CERTS: ''}})
    expect(untrusted.code).toBe(3)
    expect(untrusted.stderr).toMatch(/^Error: Redis's TLS certificate at rediss:\/\/kpipe-redis:\*\*\*@localhost:\d+ is not trusted \([^)]*\)\.$/m)
    expect(untrusted.stdout + untrusted.stderr).not.toContain(new URL(env.KPIPE_REDIS_URL!).password)
  })

  it('the events worker with a wrong Redis password stops at start: exit 3, one sentence, no secret shown', async () => {
    await runCli(['db', 'migrate', '--pg-url', pgTls.toString()])
    const wrong = new URL(env.KPIPE_REDIS_URL!)
    wrong.password = 'not-the-password-5e1c'
    const result = await runCli(['worker', 'events', '--topic', 'events', '--group', `kpipe-wrong-redis-${Date.now()}`, '--metrics-port', '0', '--pg-url', pgTls.toString(), '--redis-url', wrong.toString()], {env: {NODE_EXTRA_CA_CERTS: env.NODE_EXTRA_CA_CERTS!}})
    expect(result.code, result.stderr).toBe(3)
    expect(result.stderr).toMatch(/^Error: Redis at rediss:\/\/kpipe-redis:\*\*\*@localhost:\d+ refused authentication: WRONGPASS[^\n]*\.$/m)
    expect(result.stdout + result.stderr).not.toContain('not-the-password-5e1c')
  })
})
