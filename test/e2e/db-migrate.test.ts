/**
 * `kpipe db migrate` end to end against the stack's PostgreSQL. It only ever migrates the shared
 * `pipeline` schema forward (idempotent), so it is safe beside other tests and running workers.
 */
import {createServer, type Server, type Socket} from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {json, runCli} from '../helpers/cli.js'

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
    const result = await runCli(['db', 'migrate'])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/^The pipeline schema at postgres:\/\/\S+ is up to date \(version \d+\)\.\n$/)
  })

  it('never prints the password of the URL', async () => {
    const url = process.env.KPIPE_PG_URL
    if (!url || !new URL(url).password) return
    const result = await runCli(['db', 'migrate'])
    expect(result.stdout + result.stderr).not.toContain(`:${new URL(url).password}@`)
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
      expect(result.stderr).toContain(`PostgreSQL is unreachable (postgres at 127.0.0.1:${port}: no connection within the connect timeout).`)
      expect(result.durationMs).toBeLessThan(10_000)
    })
  })

  it('exits 3 naming a database that does not exist', async () => {
    const base = new URL(process.env.KPIPE_PG_URL ?? 'postgres://localhost:5432/kpipe')
    base.pathname = '/kpipe_no_such_db'
    const result = await runCli(['db', 'migrate', '--pg-url', base.toString()])
    expect(result.code).toBe(3)
    expect(result.stderr).toContain('database "kpipe_no_such_db" does not exist')
  })

  it('exits 3 when the URL asks for TLS the server does not offer', async () => {
    const base = new URL(process.env.KPIPE_PG_URL ?? 'postgres://localhost:5432/kpipe')
    base.searchParams.set('sslmode', 'require')
    const result = await runCli(['db', 'migrate', '--pg-url', base.toString()])
    // The stack's PostgreSQL runs without TLS; a server with TLS would simply succeed.
    if (result.code === 0) return
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(/does not accept TLS, which the URL's sslmode asks for\./)
  })

  it('exits 2 for a URL that is not one', async () => {
    const result = await runCli(['db', 'migrate', '--pg-url', 'not-a-url'])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('"not-a-url" is not a URL')
  })
})
