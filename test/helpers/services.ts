/**
 * Servers of a test's own, beside the shared stack: a Redis and a PostgreSQL cluster that a test
 * may stop, restart or empty without anyone else noticing, and private databases on the stack's
 * PostgreSQL. Tests that break a dependency on purpose use these, so the shared stack is never
 * stopped or flushed under other tests (or under other engineers' runs on the same machine).
 */
import {execFile, execFileSync, spawn, type ChildProcess} from 'node:child_process'
import {randomUUID} from 'node:crypto'
import {chownSync, mkdtempSync, readFileSync, readlinkSync, rmSync} from 'node:fs'
import {tmpdir, userInfo} from 'node:os'
import path from 'node:path'
import {promisify} from 'node:util'

import {Redis} from 'ioredis'
import pg from 'pg'

import {pgConnectionString} from '../../src/lib/postgres/pool.js'

const run = promisify(execFile)

/** The stack's PostgreSQL as kpipe reaches it (the OS user fills in a URL without one, as psql does). */
export const STACK_PG_URL = pgConnectionString(process.env.KPIPE_PG_URL ?? 'postgres://localhost:5432/kpipe')

/**
 * A superuser connection to the stack's PostgreSQL, for what a test must set up around kpipe
 * (roles, databases). The stack creates the OS user as a superuser and trusts loopback
 * (scripts/stack.d/lib.sh, pg_bootstrap); KPIPE_TEST_PG_ADMIN_URL points elsewhere.
 */
export function adminPgUrl(): string {
  if (process.env.KPIPE_TEST_PG_ADMIN_URL) return process.env.KPIPE_TEST_PG_ADMIN_URL
  const url = new URL(STACK_PG_URL)
  url.username = userInfo().username
  url.password = ''
  return url.toString()
}

export async function withAdmin<T>(action: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({connectionString: adminPgUrl()})
  await client.connect()
  try {
    return await action(client)
  } finally {
    await client.end().catch(() => undefined)
  }
}

/** SQL identifier quoting (node-postgres' own). */
export const ident = (name: string): string => pg.escapeIdentifier(name)

export interface PrivateDatabase {
  name: string
  /** The stack's URL with this database instead of `kpipe`. */
  url: string
  drop(): Promise<void>
}

/**
 * A database of one test on the stack's PostgreSQL, owned by the user kpipe connects as: its
 * pipeline schema, projection backlog and rows are the test's alone (kpipe reads whole tables
 * there: `cache rebuild`, a worker's full projection rebuild).
 */
export async function createPrivateDatabase(options: {encoding?: string} = {}): Promise<PrivateDatabase> {
  const name = `kpipe_test_${randomUUID().replaceAll('-', '').slice(0, 12)}`
  const owner = new URL(STACK_PG_URL).username
  // template0 and the C locale: the only combination every encoding accepts.
  await withAdmin((client) =>
    client.query(`CREATE DATABASE ${ident(name)} OWNER ${ident(owner)} ENCODING '${options.encoding ?? 'UTF8'}' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`),
  )
  const url = new URL(STACK_PG_URL)
  url.pathname = `/${name}`
  return {
    name,
    url: url.toString(),
    drop: () => withAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`)).then(() => undefined),
  }
}

// ---------------------------------------------------------------------------------------------
// Ports for private servers
// ---------------------------------------------------------------------------------------------

/**
 * A random port below the kernel's ephemeral range: no `listen(0)` anywhere on the machine is
 * ever handed it, so it cannot be taken between a stop and a restart of the server that owns it
 * (a port from `listen(0)` can). A server that finds it taken anyway is started again on another.
 */
export function privatePort(): number {
  let low = 32768
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low
  } catch {
    // not Linux: keep the usual start of the range
  }
  // Above every port the stack uses (its defaults moved up to 9 × 1000) and below the range.
  const from = 20_000
  const to = Math.max(from + 1000, low)
  return from + Math.floor(Math.random() * (to - from))
}

/**
 * Stops a private server even when the test process dies without its afterAll (a crash, a
 * SIGKILL from the runner): a shell reads from a pipe held by this process and runs `script`
 * once the pipe closes, which happens however this process ends. Returns a disarm function for
 * the normal clean-up. Node has no "kill my children when I die" (prctl PDEATHSIG), hence this.
 */
export function watchdog(script: string): () => void {
  const guard = spawn('bash', ['-c', `read -r _ || true; ${script}`], {stdio: ['pipe', 'ignore', 'ignore'], detached: true})
  guard.on('error', () => undefined)
  guard.unref()
  ;(guard.stdin as unknown as {unref(): void}).unref()
  return () => {
    guard.kill('SIGKILL')
  }
}

/** A shell word. */
export function sq(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`
}

// ---------------------------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------------------------

export interface PrivateRedis {
  url: string
  /** Stops the server: with no persistence configured, its data is gone (as after a crash). */
  stop(): Promise<void>
  /** Starts it again, empty, on the same port. */
  start(): Promise<void>
  /** A client of this server (the caller disconnects it). */
  client(): Redis
  dispose(): Promise<void>
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const dir = mkdtempSync(path.join(tmpdir(), 'kpipe-test-redis-'))
  let port = 0
  let child: ChildProcess | undefined
  let closed: Promise<void> = Promise.resolve()

  const launch = async (): Promise<'ok' | 'port-taken'> => {
    const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    server.stdout.on('data', (d: Buffer) => (output += d.toString()))
    server.stderr.on('data', (d: Buffer) => (output += d.toString()))
    const exited = new Promise<void>((resolve) => server.once('close', () => resolve()))
    server.once('error', () => undefined) // reported below through the exit
    const ready = await new Promise<boolean>((resolve) => {
      const check = () => {
        if (/Ready to accept connections/.test(output)) resolve(true)
      }
      server.stdout.on('data', check)
      void exited.then(() => resolve(false))
      check()
    })
    if (!ready) {
      if (/Address already in use/i.test(output)) return 'port-taken'
      throw new Error(`redis-server did not start on port ${port}:\n${output.slice(-2000)}`)
    }
    child = server
    closed = exited
    return 'ok'
  }

  for (let attempt = 0; ; attempt++) {
    port = privatePort()
    if ((await launch()) === 'ok') break
    if (attempt === 9) throw new Error('no free port for a private redis-server after 10 tries')
  }
  const disarm = watchdog(`redis-cli -h 127.0.0.1 -p ${port} shutdown nosave >/dev/null 2>&1; rm -rf ${sq(dir)}`)

  const stop = async () => {
    child?.kill('SIGTERM')
    await closed
    child = undefined
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    stop,
    start: async () => {
      if ((await launch()) !== 'ok') throw new Error(`port ${port} of the private Redis was taken while it was stopped`)
    },
    client: () => new Redis(`redis://127.0.0.1:${port}`, {maxRetriesPerRequest: 3}),
    dispose: async () => {
      await stop()
      disarm()
      rmSync(dir, {recursive: true, force: true})
    },
  }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------------------------

export interface PrivatePostgres {
  url: string
  /** `pg_ctl stop -m fast`: clients are told the server is shutting down, then refused. */
  stop(): Promise<void>
  /** Starts it again on the same port, with its data. */
  start(): Promise<void>
  dispose(): Promise<void>
}

/**
 * The directory of the PostgreSQL binaries the stack runs: asked of the server itself (the
 * postmaster is the parent of our backend), so neither a version nor a layout is assumed.
 */
async function stackPgBinDir(): Promise<string> {
  const client = new pg.Client({connectionString: STACK_PG_URL})
  await client.connect()
  try {
    const {rows} = await client.query<{pid: number}>('SELECT pg_backend_pid() AS pid')
    const status = readFileSync(`/proc/${rows[0]!.pid}/status`, 'utf8')
    const postmaster = /^PPid:\s+(\d+)$/m.exec(status)![1]
    return path.dirname(readlinkSync(`/proc/${postmaster}/exe`))
  } catch {
    // Not allowed to read the server's /proc entries: the installation's own answer.
    return (await run('pg_config', ['--bindir'])).stdout.trim()
  } finally {
    await client.end().catch(() => undefined)
  }
}

/** The uid and gid of the postgres OS user, which owns a private cluster's files when we run as root. */
export function postgresOsUser(): {uid: number; gid: number} {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], {encoding: 'utf8'}).trim())
  return {uid: id('-u'), gid: id('-g')}
}

/** A PostgreSQL cluster of its own (initdb into a temporary directory), listening on 127.0.0.1. */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = await stackPgBinDir()
  const dir = mkdtempSync(path.join(tmpdir(), 'kpipe-test-pg-'))
  const data = path.join(dir, 'data')
  const log = path.join(dir, 'postgres.log')
  // PostgreSQL refuses to run as root: as root, the cluster belongs to the postgres OS user.
  const asRoot = process.getuid?.() === 0
  const asPg = (command: string, args: string[]) => (asRoot ? {file: 'runuser', args: ['-u', 'postgres', '--', command, ...args]} : {file: command, args})
  const pgRun = async (command: string, args: string[]) => {
    const {file, args: argv} = asPg(path.join(bin, command), args)
    return run(file, argv, {cwd: dir, timeout: 120_000})
  }
  if (asRoot) {
    const {uid, gid} = postgresOsUser()
    chownSync(dir, uid, gid)
  }
  await pgRun('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync'])

  let port = 0
  const launch = async (): Promise<'ok' | 'port-taken'> => {
    const options = `-c port=${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir} -c fsync=off -c max_connections=50`
    try {
      await pgRun('pg_ctl', ['-D', data, '-l', log, '-w', '-t', '60', '-o', options, 'start'])
      return 'ok'
    } catch (error) {
      const text = readFileSync(log, 'utf8')
      if (/could not bind|Address already in use/i.test(text)) return 'port-taken'
      throw new Error(`a private PostgreSQL did not start: ${(error as Error).message}\n${text.slice(-2000)}`, {cause: error})
    }
  }
  for (let attempt = 0; ; attempt++) {
    port = privatePort()
    if ((await launch()) === 'ok') break
    if (attempt === 9) throw new Error('no free port for a private PostgreSQL after 10 tries')
  }
  const pgCtl = `${asRoot ? 'runuser -u postgres -- ' : ''}${sq(path.join(bin, 'pg_ctl'))}`
  const disarm = watchdog(`${pgCtl} -D ${sq(data)} -m immediate stop >/dev/null 2>&1; rm -rf ${sq(dir)}`)

  const stop = async () => {
    await pgRun('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop'])
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop,
    start: async () => {
      if ((await launch()) !== 'ok') throw new Error(`port ${port} of the private PostgreSQL was taken while it was stopped`)
    },
    dispose: async () => {
      await stop().catch(() => undefined)
      disarm()
      rmSync(dir, {recursive: true, force: true})
    },
  }
}
