/**
 * `kpipe logs search` end to end: the built CLI against the stack's PostgreSQL. The shared
 * `pipeline` schema is only migrated forward (idempotent); the rows are written with insertLogs
 * under a topic and service names of this run, and deleted afterwards.
 */
import {spawn} from 'node:child_process'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {defaultConfig} from '../../src/lib/config.js'
import type {LogRow} from '../../src/lib/logs/log-line.js'
import {LogsWriter} from '../../src/lib/postgres/logs-store.js'
import {createPgPool} from '../../src/lib/postgres/pool.js'
import {binRun, repoRoot, runCli, uniqueName, type CliResult} from '../helpers/cli.js'
import {tcpProxy} from '../integration/workers/helpers.js'

const url = process.env.KPIPE_PG_URL ?? defaultConfig().postgres.url
const pool = createPgPool({url}, {max: 2})
const writer = new LogsWriter(pool)
const topic = uniqueName('e2e-logs')
const svc = (name: string) => `${topic}-${name}`
const NOW = Date.now()

let offset = 0
function row(overrides: Partial<LogRow> = {}): LogRow {
  return {
    tsMs: NOW - 60_000,
    service: svc('api'),
    level: 'info',
    message: 'hello',
    correlationId: null,
    attrs: {},
    kafkaTopic: topic,
    kafkaPartition: 0,
    kafkaOffset: String(offset++),
    ...overrides,
  }
}

// As users run it: under NODE_ENV=test (vitest's), oclif warns on stderr that it runs compiled code.
const env = {NODE_ENV: 'production'}
const search = (...args: string[]) => runCli(['logs', 'search', ...args], {env})
const jsonLines = (result: CliResult) => {
  expect(result.stdout.endsWith('\n') || result.stdout === '', result.stdout).toBe(true)
  return result.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>)
}
const jsonMessages = (result: CliResult) => jsonLines(result).map((r) => r.message)

/** `kpipe logs search --follow --json ARGS` as a child process, with what it printed so far. */
function follow(args: string[]) {
  const child = spawn(process.execPath, [binRun, 'logs', 'search', '--follow', '--json', ...args], {
    cwd: repoRoot,
    env: {...process.env, ...env},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const out = {stdout: '', stderr: ''}
  child.stdout.on('data', (chunk: Buffer) => (out.stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (out.stderr += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const shown = () => out.stdout.split('\n').filter(Boolean).map((line) => (JSON.parse(line) as {message: string}).message)
  /** Waits until `done()` holds; fails naming `what` if the command exits or 30 s pass first. */
  const until = async (what: string, done: () => boolean) => {
    const deadline = Date.now() + 30_000
    while (!done()) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${what} never came; stdout:\n${out.stdout}\nstderr:\n${out.stderr}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  return {child, out, exited, shown, until}
}

beforeAll(async () => {
  const migrated = await runCli(['db', 'migrate'], {env})
  expect(migrated.code, migrated.stderr).toBe(0)
  await writer.write([
    row({tsMs: NOW - 2 * 3_600_000, message: 'two hours ago'}),
    row({tsMs: NOW - 50 * 60_000, level: 'debug', message: 'cache miss for user 7'}),
    row({tsMs: NOW - 40 * 60_000, service: svc('billing'), level: 'warn', message: 'Payment GATEWAY slow', correlationId: 'req-1', attrs: {status: 504, user: 'u1'}}),
    row({tsMs: NOW - 30 * 60_000, level: 'error', message: 'disk 100% full', correlationId: 'req-1', kafkaPartition: 1}),
    row({tsMs: NOW - 20 * 60_000, service: svc('auth'), level: 'fatal', message: 'out of memory', attrs: {user: 'u1'}}),
    row({tsMs: NOW - 10 * 60_000, message: 'request done', correlationId: 'req-2'}),
  ])
})

afterAll(async () => {
  await pool.query('DELETE FROM pipeline.logs WHERE kafka_topic = $1', [topic])
  await pool.end()
})

describe('kpipe logs search', () => {
  const all = ['--service', svc('api'), '--service', svc('billing'), '--service', svc('auth')]

  it('prints one plain line per record, newest last, and a count on stderr', async () => {
    const result = await search(...all)
    expect(result.code, result.stderr).toBe(0)
    const lines = result.stdout.split('\n').filter(Boolean)
    expect(lines).toHaveLength(5)
    expect(lines[0]).toBe(`${new Date(NOW - 50 * 60_000).toISOString()} DEBUG ${svc('api')} cache miss for user 7`)
    expect(lines[1]).toBe(`${new Date(NOW - 40 * 60_000).toISOString()} WARN  ${svc('billing')} Payment GATEWAY slow [req-1]`)
    expect(lines[4]).toBe(`${new Date(NOW - 10 * 60_000).toISOString()} INFO  ${svc('api')} request done [req-2]`)
    // Piped, not a terminal: no colour.
    expect(result.stdout).not.toContain('\u001b[')
    expect(result.stderr).toBe('5 lines, newest last.\n')
  })

  it('prints exactly one JSON object per line with --json, with the documented fields', async () => {
    const result = await search(...all, '--json')
    expect(result.code, result.stderr).toBe(0)
    expect(result.stderr).toBe('')
    const records = jsonLines(result)
    expect(records).toHaveLength(5)
    expect(result.stdout.split('\n')).toHaveLength(6)
    for (const record of records) {
      expect(Object.keys(record).sort()).toEqual(['attrs', 'correlationId', 'kafkaOffset', 'kafkaPartition', 'kafkaTopic', 'level', 'message', 'service', 'ts'])
    }
    expect(records[1]).toEqual({
      ts: new Date(NOW - 40 * 60_000).toISOString(),
      level: 'warn',
      service: svc('billing'),
      message: 'Payment GATEWAY slow',
      correlationId: 'req-1',
      attrs: {status: 504, user: 'u1'},
      kafkaTopic: topic,
      kafkaPartition: 0,
      kafkaOffset: expect.stringMatching(/^\d+$/),
    })
    const times = records.map((r) => Date.parse(r.ts as string))
    expect([...times].sort((a, b) => a - b)).toEqual(times)
  })

  it('filters by level and worse, text, correlation id, attribute and service', async () => {
    expect(jsonMessages(await search(...all, '--level', 'warn', '--json'))).toEqual(['Payment GATEWAY slow', 'disk 100% full', 'out of memory'])
    expect(jsonMessages(await search(...all, '--level', 'fatal', '--json'))).toEqual(['out of memory'])
    expect(jsonMessages(await search(...all, '--grep', 'gateway', '--json'))).toEqual(['Payment GATEWAY slow'])
    expect(jsonMessages(await search(...all, '--grep', '100%', '--json'))).toEqual(['disk 100% full'])
    expect(jsonMessages(await search('--correlation-id', 'req-1', ...all, '--json'))).toEqual(['Payment GATEWAY slow', 'disk 100% full'])
    expect(jsonMessages(await search(...all, '--attr', 'user=u1', '--json'))).toEqual(['Payment GATEWAY slow', 'out of memory'])
    expect(jsonMessages(await search(...all, '--attr', 'user=u1', '--attr', 'status=504', '--json'))).toEqual(['Payment GATEWAY slow'])
    expect(jsonMessages(await search('--service', svc('auth'), '--json'))).toEqual(['out of memory'])
  })

  it('bounds the time with --since and --until, durations or ISO-8601 times', async () => {
    expect(jsonMessages(await search(...all, '--since', '3h', '--until', '45m', '--json'))).toEqual(['two hours ago', 'cache miss for user 7'])
    const since = new Date(NOW - 35 * 60_000).toISOString()
    const until = new Date(NOW - 15 * 60_000).toISOString()
    expect(jsonMessages(await search(...all, '--since', since, '--until', until, '--json'))).toEqual(['disk 100% full', 'out of memory'])
  })

  it('keeps the newest --limit lines, newest last, and says there may be more', async () => {
    const result = await search(...all, '--limit', '2')
    expect(result.code).toBe(0)
    expect(result.stdout.split('\n').filter(Boolean).map((l) => l.slice(l.indexOf(`${topic}-`)).replace(/^\S+ /, ''))).toEqual(['out of memory', 'request done [req-2]'])
    expect(result.stderr).toMatch(/^2 lines, newest last: the newest of possibly more/)
  })

  it('exits 0 with empty output when nothing matches', async () => {
    const json = await search('--service', svc('nobody'), '--json')
    expect(json.code, json.stderr).toBe(0)
    expect(json.stdout).toBe('')
    const plain = await search('--service', svc('nobody'))
    expect(plain.code).toBe(0)
    expect(plain.stdout).toBe('')
    expect(plain.stderr).toBe('No log lines match.\n')
  })

  it('exits 2 with one sentence for a bad --since, --attr or --level', async () => {
    const since = await search('--since', 'yesterday')
    expect(since.code).toBe(2)
    expect(since.stdout).toBe('')
    expect(since.stderr).toMatch(/^Error: --since: "yesterday" is neither a duration \(15m, 2h, 7d\) nor an ISO-8601 time \(2024-05-01T12:00:00Z\)\.\n/)
    expect((await search('--attr', 'user')).code).toBe(2)
    const level = await search('--level', 'verbose', '--json')
    expect(level.code).toBe(2)
    expect(jsonLines(level)).toEqual([{error: expect.objectContaining({kind: 'usage', exitCode: 2})}])
  })

  it('exits 3 when PostgreSQL is unreachable, the error one JSON line under --json', async () => {
    const result = await search('--pg-url', 'postgres://kpipe@127.0.0.1:1/kpipe', '--json')
    expect(result.code).toBe(3)
    expect(jsonLines(result)).toEqual([
      {error: {kind: 'unreachable', message: 'PostgreSQL is unreachable (connect ECONNREFUSED 127.0.0.1:1).', hint: expect.any(String), exitCode: 3}},
    ])
    expect(result.stderr).not.toMatch(/\n\s+at /)
  })

  it('--follow prints the newest lines, then a line stored after it started exactly once, and exits 0 on SIGINT', async () => {
    const service = svc('follow')
    await writer.write([row({service, message: 'before start', tsMs: NOW - 5000})])
    const {child, out, exited, shown, until: waitFor} = follow(['--service', service, '--interval', '100ms'])
    const until = (message: string) => waitFor(`"${message}"`, () => shown().includes(message))
    try {
      await until('before start')
      await writer.write([row({service, message: 'after start', tsMs: NOW - 1000})])
      await until('after start')
      // Older than a line already shown, stored later: printed too, once.
      await writer.write([row({service, message: 'late arrival', tsMs: NOW - 3000, kafkaPartition: 2})])
      await until('late arrival')
      // Once the sentinel is out, every poll that could repeat the lines above has run.
      await writer.write([row({service, message: 'sentinel', tsMs: NOW})])
      await until('sentinel')
    } finally {
      child.kill('SIGINT')
    }
    expect(await exited, out.stderr).toBe(0)
    expect(shown()).toEqual(['before start', 'after start', 'late arrival', 'sentinel'])
  })

  it('--follow rides out PostgreSQL going away: it says so once, goes on where it was, and prints what was stored meanwhile once', async () => {
    const service = svc('follow-outage')
    const proxy = await tcpProxy(url)
    await writer.write([row({service, message: 'before the outage', tsMs: NOW - 5000})])
    const {child, out, exited, shown, until} = follow(['--service', service, '--interval', '200ms', '--pg-url', proxy.url])
    try {
      await until('the first line', () => shown().includes('before the outage'))
      proxy.cut()
      await until('the outage note', () => /still following/.test(out.stderr))
      // Stored while kpipe cannot reach PostgreSQL (straight to the server, not through the proxy).
      await writer.write([row({service, message: 'during the outage', tsMs: NOW - 4000})])
      await new Promise((resolve) => setTimeout(resolve, 1000)) // a few more failed polls
      proxy.heal()
      await until('the recovery note', () => /PostgreSQL answers again; following\./.test(out.stderr))
      await until('the line stored meanwhile', () => shown().includes('during the outage'))
      await writer.write([row({service, message: 'sentinel', tsMs: NOW})])
      await until('the sentinel', () => shown().includes('sentinel'))
    } finally {
      child.kill('SIGINT')
      await proxy.dispose()
    }
    expect(await exited, out.stderr).toBe(0)
    expect(shown()).toEqual(['before the outage', 'during the outage', 'sentinel'])
    // One sentence on stderr for the whole outage (also under --json: stdout stays the lines).
    expect(out.stderr.match(/still following/g)).toHaveLength(1)
    expect(out.stderr).toMatch(/^PostgreSQL .*; still following, trying again every 200ms\.$/m)
  })
})
