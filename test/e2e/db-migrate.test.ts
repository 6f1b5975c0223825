/**
 * `kpipe db migrate` end to end against the stack's PostgreSQL. It only ever migrates the shared
 * `pipeline` schema forward (idempotent), so it is safe beside other tests and running workers.
 */
import {randomBytes} from 'node:crypto'
import {createServer, type Server, type Socket} from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import pg from 'pg'

import {json, runCli, uniqueName} from '../helpers/cli.js'
import {ident, STACK_PG_URL, withAdmin} from '../helpers/services.js'

interface MigrateJson {
  applied: {version: number; name: string}[]
  current: number
}

describe('kpipe db migrate', () => {
  it('creates or upgrades the schema, then finds it up to date (exit 0 both times)', async () => {
    const first = await runCli(['db', 'migrate', '--json'])
    expect(first.code, first.stderr).toBe(0)
    const firstBody = json<MigrateJson>(first)
    expect(firstBody.current).toBeGreaterThanOrEqual(1)

    const second = await runCli(['db', 'migrate', '--json'])
    expect(second.code, second.stderr).toBe(0)
    expect(json<MigrateJson>(second)).toEqual({applied: [], current: firstBody.current})
  })

  it('says so in words without --json', async () => {
    // Migrated first, by this test itself: whatever ran before, the schema is current now.
    expect((await runCli(['db', 'migrate', '--json'])).code).toBe(0)
    const result = await runCli(['db', 'migrate'])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/^The pipeline schema at postgres:\/\/\S+ is up to date \(version \d+\)\.\n$/)
  })

  describe('with a password in the URL', () => {
    // A role of this test's own with a password, so the redaction is exercised whatever the
    // stack's URL holds. The stack trusts loopback connections (scripts/stack.d/lib.sh): the
    // password is accepted without being checked, and must be kept out of the output all the same.
    const role = uniqueName('kpipe_test_role').replaceAll('-', '_')
    const password = `pw-${randomBytes(12).toString('hex')}`
    let url: URL
    beforeAll(async () => {
      const owner = new URL(STACK_PG_URL).username
      // A member of the role kpipe connects as: the same rights on the pipeline schema.
      await withAdmin((client) => client.query(`CREATE ROLE ${ident(role)} LOGIN PASSWORD ${pg.escapeLiteral(password)} IN ROLE ${ident(owner)}`))
      url = new URL(STACK_PG_URL)
      url.username = role
      url.password = password
    })
    afterAll(async () => {
      await withAdmin((client) => client.query(`DROP ROLE IF EXISTS ${ident(role)}`))
    })

    it('never prints it, on success or on failure, in words or in JSON', async () => {
      const ok = await runCli(['db', 'migrate', '--pg-url', url.toString()])
      expect(ok.code, ok.stderr).toBe(0)
      expect(ok.stdout).toContain(`postgres://${role}:***@`)
      const okJson = await runCli(['db', 'migrate', '--pg-url', url.toString(), '--json'])
      expect(okJson.code, okJson.stderr).toBe(0)

      const missing = new URL(url)
      missing.pathname = '/kpipe_no_such_db'
      const failed = await runCli(['db', 'migrate', '--pg-url', missing.toString(), '--json'])
      expect(failed.code).toBe(3)
      const shown = await runCli(['config', 'show', '--json'], {env: {KPIPE_PG_URL: url.toString()}})
      expect(shown.code, shown.stderr).toBe(0)
      expect(shown.stdout).toContain(`postgres://${role}:***@`)
      for (const result of [ok, okJson, failed, shown]) expect(result.stdout + result.stderr).not.toContain(password)
    })
  })

  it('exits 3 with one sentence when PostgreSQL refuses the connection', async () => {
    const result = await runCli(['db', 'migrate', '--pg-url', 'postgres://kpipe@127.0.0.1:1/kpipe', '--json'])
    expect(result.code).toBe(3)
    expect(json<{error: {kind: string; message: string}}>(result).error).toMatchObject({
      kind: 'unreachable',
      message: 'PostgreSQL is unreachable (connect ECONNREFUSED 127.0.0.1:1).',
    })
    expect(result.stderr).not.toMatch(/\n\s+at /)
  })

  describe('against a server that accepts and never answers', () => {
    let server: Server
    let port = 0
    const sockets: Socket[] = []
    beforeAll(async () => {
      server = createServer((socket) => sockets.push(socket))
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      port = (server.address() as {port: number}).port
    })
    afterAll(async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    })

    it('gives up after the bounded connect timeout with exit 3', async () => {
      const result = await runCli(['db', 'migrate', '--pg-url', `postgres://kpipe@127.0.0.1:${port}/kpipe`])
      expect(result.code).toBe(3)
      // The sentence names the connect timeout: kpipe gave up by itself, it did not hang (a hang
      // would be killed by runCli with no exit code).
      expect(result.stderr).toContain(`PostgreSQL is unreachable (postgres at 127.0.0.1:${port}: no connection within the connect timeout).`)
    })
  })

  it('exits 3 naming a database that does not exist', async () => {
    const base = new URL(STACK_PG_URL)
    base.pathname = '/kpipe_no_such_db'
    const result = await runCli(['db', 'migrate', '--pg-url', base.toString()])
    expect(result.code).toBe(3)
    expect(result.stderr).toContain('database "kpipe_no_such_db" does not exist')
  })

  it('exits 3 when the URL asks for TLS the server does not offer', async () => {
    const base = new URL(STACK_PG_URL)
    base.searchParams.set('sslmode', 'require')
    const result = await runCli(['db', 'migrate', '--pg-url', base.toString()])
    // What the server offers decides what must happen: the stack's runs without TLS.
    const client = new pg.Client({connectionString: STACK_PG_URL})
    await client.connect()
    const ssl = (await client.query<{setting: string}>("SELECT setting FROM pg_settings WHERE name = 'ssl'")).rows[0]!.setting
    await client.end()
    if (ssl === 'on') {
      expect(result.code, result.stderr).toBe(0)
    } else {
      expect(result.code).toBe(3)
      expect(result.stderr).toMatch(/does not accept TLS, which the URL's sslmode asks for\./)
    }
  })

  it('exits 2 for a URL that is not one', async () => {
    const result = await runCli(['db', 'migrate', '--pg-url', 'not-a-url'])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('"not-a-url" is not a URL')
  })
})
