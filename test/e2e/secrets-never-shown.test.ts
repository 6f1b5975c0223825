/**
 * Secrets never appear in any output: commands run (successful ones, failing ones, --json,
 * --debug with kafkajs' client logs, a worker briefly) with known passwords for Kafka (SASL),
 * PostgreSQL and Redis, and all of their stdout and stderr is searched for each.
 *
 * The stack's PostgreSQL trusts loopback and its Redis default user has no password, so both
 * accept any password: unique ones made here go through real, successful connections.
 */
import {randomUUID} from 'node:crypto'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {runCli, type CliResult} from '../helpers/cli.js'
import {secureEnv} from '../helpers/secure-stack.js'
import {createTopics, deleteTopics, PG_URL, REDIS_URL, uniqueName} from '../integration/workers/helpers.js'

const PG_SECRET = `pg-${randomUUID()}`
const REDIS_SECRET = `redis-${randomUUID()}`
const WRONG_KAFKA_SECRET = `kafka-${randomUUID()}`

function withPassword(url: string, password: string, username?: string): string {
  const parsed = new URL(url)
  if (username) parsed.username = username
  if (!parsed.username) parsed.username = 'kpipe'
  parsed.password = password
  return parsed.toString()
}

describe('secrets never appear in output', () => {
  let env: Record<string, string>
  let kafkaSecret: string
  const topic = uniqueName('e2e-secrets')
  const results: {what: string; result: CliResult}[] = []

  beforeAll(async () => {
    const secure = await secureEnv()
    kafkaSecret = secure.KPIPE_KAFKA_PASSWORD!
    env = {
      ...secure,
      KPIPE_PG_URL: withPassword(PG_URL, PG_SECRET),
      KPIPE_REDIS_URL: withPassword(REDIS_URL, REDIS_SECRET, 'default'),
      KPIPE_METRICS_PORT: '0',
    }
    await createTopics(topic, 1)
  })

  afterAll(async () => {
    await deleteTopics(topic)
  })

  async function run(what: string, args: string[], extra: Record<string, string> = {}, expectedCode?: number): Promise<CliResult> {
    const result = await runCli(args, {env: {...env, ...extra}, timeoutMs: 60_000})
    if (expectedCode !== undefined) expect(result.code, `${what}: ${result.stderr.slice(-1500)}`).toBe(expectedCode)
    results.push({what, result})
    return result
  }

  function expectNoSecret(): void {
    const secrets = [PG_SECRET, REDIS_SECRET, WRONG_KAFKA_SECRET, kafkaSecret]
    for (const {what, result} of results) {
      for (const secret of secrets) {
        expect(result.stdout.includes(secret), `${what}: stdout shows a secret`).toBe(false)
        expect(result.stderr.includes(secret), `${what}: stderr shows a secret`).toBe(false)
      }
    }
  }

  it('config show, plain and --json, with --debug', async () => {
    const shown = await run('config show', ['config', 'show', '--debug'], {}, 0)
    expect(shown.stdout).toMatch(/\*\*\*/)
    await run('config show --json', ['config', 'show', '--json', '--debug'], {}, 0)
    expectNoSecret()
  })

  it('commands that succeed, with --debug (kafkajs client logs) and --json', async () => {
    const listed = await run('topics list', ['topics', 'list', '--json', '--debug'], {}, 0)
    expect(listed.stderr.length).toBeGreaterThan(0) // --debug wrote the client's logs
    await run('db migrate', ['db', 'migrate', '--json', '--debug'], {}, 0)
    await run('worker events', ['worker', 'events', '--topic', topic, '--group', `${topic}-g`, '--stop-when-caught-up', '--json', '--debug'], {KPIPE_LOG_LEVEL: 'debug'}, 0)
    await run('lag', ['lag', '--group', `${topic}-g`, '--json', '--debug'])
    expectNoSecret()
  })

  it('commands that fail: a wrong Kafka password, PostgreSQL and Redis unreachable', async () => {
    await run('wrong Kafka password', ['topics', 'list', '--debug'], {KPIPE_KAFKA_PASSWORD: WRONG_KAFKA_SECRET}, 3)
    await run('wrong Kafka password --json', ['topics', 'list', '--json'], {KPIPE_KAFKA_PASSWORD: WRONG_KAFKA_SECRET}, 3)
    await run('PostgreSQL unreachable', ['db', 'migrate', '--debug'], {KPIPE_PG_URL: `postgres://kpipe:${PG_SECRET}@127.0.0.1:1/kpipe`}, 3)
    await run('Redis unreachable', ['cache', 'rebuild', '--no-flush', '--debug'], {KPIPE_REDIS_URL: `redis://default:${REDIS_SECRET}@127.0.0.1:1`, KPIPE_PG_URL: env.KPIPE_PG_URL!}, 3)
    await run('worker with PostgreSQL unreachable', ['worker', 'events', '--topic', topic, '--stop-when-caught-up', '--debug'], {KPIPE_PG_URL: `postgres://kpipe:${PG_SECRET}@127.0.0.1:1/kpipe`}, 3)
    expectNoSecret()
  })
})
