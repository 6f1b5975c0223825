/**
 * kpipe installed the way its users install a CLI: `npm pack` of the built tree, `npm install -g`
 * of the tarball into a scratch prefix, then the installed `kpipe` run from a directory with no
 * repository in it — help, a command against the stack, a worker, the completion scripts — and
 * the one-sentence refusal of a Node that is too old.
 */
import {execFile} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {promisify} from 'node:util'

import type pg from 'pg'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {json, repoRoot, runCli} from '../helpers/cli.js'
import {
  assertBuilt,
  BROKERS,
  createTopics,
  deleteProjections,
  deleteRows,
  deleteTopics,
  eventMessage,
  makeEvents,
  PG_URL,
  pgPool,
  produce,
  REDIS_URL,
  redisClient,
  rowCounts,
  uniqueName,
} from '../integration/workers/helpers.js'

const run = promisify(execFile)
// Debian's node, older than kpipe supports; the tests themselves run on the project's Node 24.
const SYSTEM_NODE = '/usr/bin/node'

const scratch = mkdtempSync(path.join(tmpdir(), 'kpipe-pack-'))
const prefix = path.join(scratch, 'prefix')
const kpipe = path.join(prefix, 'bin', 'kpipe')
// No kpipe.yaml, no node_modules, no repository above it: only what the package brought.
const elsewhere = mkdtempSync(path.join(tmpdir(), 'kpipe-nowhere-'))
// PATH as a user's: the installed kpipe first, then the Node that runs the tests.
const env: NodeJS.ProcessEnv = {
  PATH: `${path.join(prefix, 'bin')}:${path.dirname(process.execPath)}:/usr/bin:/bin`,
  HOME: scratch,
  // oclif's autocomplete cache (and anything else cached) stays in the scratch directory.
  XDG_CACHE_HOME: path.join(scratch, 'cache'),
  KPIPE_BROKERS: BROKERS.join(','),
  KPIPE_PG_URL: PG_URL,
  KPIPE_REDIS_URL: REDIS_URL,
}
let packed: string[] = []
let pool: pg.Pool | undefined
const topic = uniqueName('e2e-pack')

beforeAll(async () => {
  assertBuilt()
  const {stdout} = await run('npm', ['pack', '--json', '--pack-destination', scratch], {cwd: repoRoot})
  const [info] = JSON.parse(stdout) as {filename: string; files: {path: string}[]}[]
  packed = info!.files.map((f) => f.path)
  // --prefer-offline: the dependencies come from npm's cache when it has them (fast, and the same
  // versions the lockfile resolved); the registry is asked only for what the cache lacks.
  await run('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', path.join(scratch, info!.filename)], {
    cwd: scratch,
    env: {...process.env, npm_config_update_notifier: 'false'},
  })
}, 300_000)

afterAll(async () => {
  if (pool) {
    const redis = redisClient()
    await deleteRows(pool, topic)
    await deleteProjections(redis, topic)
    redis.disconnect()
    await pool.end()
  }
  await deleteTopics(topic).catch(() => undefined)
  rmSync(scratch, {recursive: true, force: true})
  rmSync(elsewhere, {recursive: true, force: true})
})

describe('the npm package', () => {
  it('holds the built CLI, its manifest and schemas, and nothing of the development tree', () => {
    for (const needed of ['bin/run.js', 'dist/commands/worker/events.js', 'dist/hooks/command-not-found.js', 'oclif.manifest.json', 'schemas/event/v1.avsc', 'package.json']) {
      expect(packed).toContain(needed)
    }
    const junk = packed.filter((p) => /^(src|test|bench|scripts|deploy|docs|\.stack|\.tools|node_modules)\//.test(p) || p.endsWith('.map') || p === 'bin/dev.js')
    expect(junk).toEqual([])
  })

  it('installs a kpipe that shows its help from a directory without the repository', async () => {
    expect(existsSync(kpipe)).toBe(true)
    const result = await runCli(['--help'], {bin: kpipe, cwd: elsewhere, env})
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toMatch(/worker/)
    expect(result.stdout).toMatch(/kpipe\/0\.\d+\.\d+/)
  })

  it('lists the topics of the stack as JSON', async () => {
    await createTopics(topic, 2)
    const result = await runCli(['topics', 'list', '--json'], {bin: kpipe, cwd: elsewhere, env})
    expect(result.code, result.stderr).toBe(0)
    const {topics} = json<{topics: {name: string; partitions: number}[]}>(result)
    expect(topics).toContainEqual(expect.objectContaining({name: topic, partitions: 2}))
  })

  it('runs the events worker over a few events until it has caught up', async () => {
    pool = await pgPool()
    const events = makeEvents(5, topic)
    await produce(topic, events.map(eventMessage))
    const result = await runCli(
      ['worker', 'events', '--topic', topic, '--group', `${topic}-g`, '--from-beginning', '--stop-when-caught-up', '--metrics-port', '0', '--json'],
      {bin: kpipe, cwd: elsewhere, env, timeoutMs: 120_000},
    )
    expect(result.code, result.stderr.slice(-2000)).toBe(0)
    expect(json(result)).toMatchObject({consumed: 5, written: 5, deadLettered: 0, stoppedBy: 'caught-up'})
    expect(await rowCounts(pool, topic)).toEqual({rows: 5, distinct: 5})
  })

  it('generates the bash and zsh completion scripts', async () => {
    for (const shell of ['bash', 'zsh']) {
      const setup = await runCli(['autocomplete', 'script', shell], {bin: kpipe, cwd: elsewhere, env})
      expect(setup.code, setup.stderr).toBe(0)
      expect(setup.stdout).toContain(`KPIPE_AC_${shell.toUpperCase()}_SETUP_PATH`)
      const built = await runCli(['autocomplete', shell], {bin: kpipe, cwd: elsewhere, env})
      expect(built.code, built.stderr).toBe(0)
    }
    const functions = path.join(scratch, 'cache', 'kpipe', 'autocomplete', 'functions')
    const bash = path.join(functions, 'bash', 'kpipe.bash')
    expect(readFileSync(bash, 'utf8')).toMatch(/worker:events .*--shutdown-timeout/)
    await run('bash', ['-n', bash]) // the script bash would source parses
    const zsh = readFileSync(path.join(functions, 'zsh', '_kpipe'), 'utf8')
    expect(zsh).toMatch(/^#compdef kpipe/)
    expect(zsh).toContain('worker')
  })

  it('on Node 20 says in one sentence which Node it needs and exits 2', async () => {
    const {stdout: version} = await run(SYSTEM_NODE, ['--version'])
    expect(Number(version.trim().slice(1).split('.')[0])).toBeLessThan(22)
    // As a user with Debian's node first on PATH would run it: the shebang picks that node.
    const result = await runCli(['--help'], {bin: kpipe, cwd: elsewhere, env: {...env, PATH: `${path.join(prefix, 'bin')}:/usr/bin:/bin`}})
    expect(result.code).toBe(2)
    expect(result.stdout).toBe('')
    const [sentence, ...rest] = result.stderr.trim().split('\n')
    expect(sentence).toMatch(/^Error: kpipe needs Node\.js 22\.15 or newer; this is v20\.\d+\.\d+\.$/)
    // At most the hint line after it, and no stack trace or TypeError from deeper in.
    expect(rest.length).toBeLessThanOrEqual(1)
    expect(result.stderr).not.toMatch(/TypeError|\n\s+at /)
  })
})
