/**
 * What an operator must be able to trust in the built CLI, against the real stack: an operator's
 * mistake is named as one (not as a bug), /readyz tells the truth on an idle worker,
 * --shutdown-timeout is a bound even when PostgreSQL hangs, dead-letter writes fit the
 * dead-letter topic or stop the worker with the broker's reason, workers start without kafkajs
 * warnings, and no password given in a URL is ever printed.
 *
 * PostgreSQL outages are made with a TCP proxy of the test's own in front of the shared server,
 * so other suites on the same stack never see PostgreSQL go away.
 */
import {createServer} from 'node:net'

import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import pg from 'pg'

import {runCli} from '../helpers/cli.js'
import {createPrivateDatabase} from '../helpers/services.js'
import {
  BROKERS,
  PG_URL,
  deleteRows,
  deleteTopics,
  eventMessage,
  kafka,
  makeEvents,
  pgPool,
  produce,
  readTopic,
  scrapeMetric,
  startServingWorker,
  startWorker,
  tcpProxy,
  uniqueName,
  waitUntil,
  type TcpProxy,
  type WorkerProcess,
} from '../integration/workers/helpers.js'

async function createTopicPair(topic: string, options: {dlqConfig?: Record<string, string>; partitions?: number} = {}): Promise<void> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {topic, numPartitions: options.partitions ?? 1, replicationFactor: 1},
        {
          topic: `${topic}.dlq`,
          numPartitions: 1,
          replicationFactor: 1,
          configEntries: Object.entries(options.dlqConfig ?? {}).map(([name, value]) => ({name, value})),
        },
      ],
    })
  } finally {
    await admin.disconnect()
  }
}

/** Where the worker's health server listens, from its log. */
async function metricsAddress(worker: WorkerProcess): Promise<{port: number; host: string}> {
  const line = await worker.waitForLog(/serving \/metrics/)
  const parsed = JSON.parse(line) as {port: number; host: string}
  return {port: parsed.port, host: parsed.host}
}

async function readyz(port: number): Promise<{status: number; reasons: string[]}> {
  const response = await fetch(`http://127.0.0.1:${port}/readyz`)
  const body = (await response.json()) as {reasons: string[]}
  return {status: response.status, reasons: body.reasons}
}

const KAFKAJS_NOISE = /switched default partitioner|Limiting retries for the idempotent producer/

describe('kpipe worker events: what an operator can trust', () => {
  const workers: WorkerProcess[] = []
  const topics: string[] = []
  const proxies: TcpProxy[] = []
  let pool: Awaited<ReturnType<typeof pgPool>>

  const start = (args: string[], env: Record<string, string> = {}) => {
    const worker = startWorker(args, env)
    workers.push(worker)
    return worker
  }
  const topicNamed = (prefix: string) => {
    const name = uniqueName(prefix)
    topics.push(name)
    return name
  }

  beforeAll(async () => {
    pool = await pgPool()
  })

  afterEach(async () => {
    for (const worker of workers.splice(0)) {
      if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL')
      await worker.exited
    }
    for (const proxy of proxies.splice(0)) await proxy.dispose()
  })

  afterAll(async () => {
    for (const topic of topics) {
      await deleteRows(pool, topic)
      await deleteTopics(topic)
    }
    await pool.end()
  })

  it('a metrics port already taken is exit 2 naming --metrics-port, not a bug', async () => {
    const topic = topicNamed('e2e-hard-port')
    await createTopicPair(topic)
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const {port} = taken.address() as {port: number}
    try {
      const worker = start(['--topic', topic, '--group', `${topic}-g`, '--metrics-port', String(port), '--no-projections'])
      const {code} = await worker.exited
      expect(code, worker.stderr().slice(-2000)).toBe(2)
      expect(worker.stderr()).toContain(`Error: Cannot listen on 127.0.0.1:${port} for /metrics: the address is already in use`)
      expect(worker.stderr()).toMatch(/Hint: .*--metrics-port/)
      expect(worker.stderr()).not.toMatch(/bug in kpipe/)
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()))
    }
  })

  it('listens on loopback by default, on --metrics-host when given, and starts without kafkajs warnings', async () => {
    const topic = topicNamed('e2e-hard-host')
    await createTopicPair(topic)
    const loopback = await startServingWorker(['--topic', topic, '--group', `${topic}-a`, '--no-projections'])
    expect((await metricsAddress(loopback)).host).toBe('127.0.0.1')
    await loopback.waitForLog(/joined consumer group/)
    const everywhere = await startServingWorker(['--topic', topic, '--group', `${topic}-b`, '--metrics-host', '0.0.0.0', '--no-projections'])
    expect((await metricsAddress(everywhere)).host).toBe('0.0.0.0')
    await everywhere.waitForLog(/joined consumer group/)
    for (const worker of [loopback, everywhere]) {
      worker.child.kill('SIGTERM')
      expect((await worker.exited).code).toBe(0)
      expect(worker.stderr()).not.toMatch(KAFKAJS_NOISE)
    }
  })

  it('/readyz answers 503 while PostgreSQL is unreachable on an idle worker, and 200 once it is back', async () => {
    const topic = topicNamed('e2e-hard-ready')
    await createTopicPair(topic)
    const proxy = await tcpProxy(PG_URL)
    proxies.push(proxy)
    const {port} = await startServingWorker(['--topic', topic, '--group', `${topic}-g`, '--no-projections'], {KPIPE_PG_URL: proxy.url})
    await waitUntil(async () => (await readyz(port)).status === 200, 60_000, 'the worker to be ready')

    proxy.cut()
    await waitUntil(async () => (await readyz(port)).status === 503, 30_000, '/readyz to answer 503 with PostgreSQL unreachable')
    expect((await readyz(port)).reasons.join(' ')).toMatch(/sink events is not reachable/)
    // kpipe_worker_ready is /readyz's answer, for Prometheus.
    expect(await scrapeMetric(port, 'kpipe_worker_ready')).toBe(0)

    proxy.heal()
    await waitUntil(async () => (await readyz(port)).status === 200, 30_000, '/readyz to answer 200 again')
    expect(await scrapeMetric(port, 'kpipe_worker_ready')).toBe(1)
  })

  it('exits within --shutdown-timeout after SIGTERM even while PostgreSQL hangs mid-write, committing nothing', async () => {
    const topic = topicNamed('e2e-hard-hang')
    await createTopicPair(topic)
    const proxy = await tcpProxy(PG_URL)
    proxies.push(proxy)
    // --from-beginning: the topic is empty until after the join, and without it a loaded machine
    // can resolve "latest" only after the produce below, so the worker would never see the batch.
    const worker = await startServingWorker(['--topic', topic, '--group', `${topic}-g`, '--from-beginning', '--no-projections', '--shutdown-timeout', '2s'], {
      KPIPE_PG_URL: proxy.url,
    })
    const {port} = worker
    await worker.waitForLog(/joined consumer group/)
    proxy.freeze()
    await produce(topic, makeEvents(50, topic).map(eventMessage))
    // The batch is read and handed to the sink, whose statement now never returns.
    await waitUntil(async () => ((await scrapeMetric(port, 'kpipe_worker_records_consumed_total')) ?? 0) >= 50, 60_000, 'the batch to reach the sink')
    const signalled = Date.now()
    worker.child.kill('SIGTERM')
    // Before the bound, the worker hung here for ever (the pool waited for the stuck query).
    const killer = setTimeout(() => worker.child.kill('SIGKILL'), 20_000)
    const {code, signal} = await worker.exited
    clearTimeout(killer)
    expect(signal, worker.stderr().slice(-3000)).toBeNull()
    expect(code).toBe(0)
    expect(Date.now() - signalled).toBeLessThan(20_000)
    const admin = kafka.admin()
    await admin.connect()
    const [offsets] = await admin.fetchOffsets({groupId: `${topic}-g`, topics: [topic]})
    await admin.disconnect()
    expect(offsets!.partitions.every((p) => Number(p.offset) <= 0)).toBe(true)
  })

  it('a table dropped under a running worker stops it with exit 2 asking for kpipe db migrate, not as a bug', async () => {
    const topic = topicNamed('e2e-hard-dropped')
    await createTopicPair(topic)
    const database = await createPrivateDatabase()
    try {
      expect((await runCli(['db', 'migrate'], {env: {KPIPE_PG_URL: database.url}})).code).toBe(0)
      // --from-beginning: "latest" may be resolved after the produce below on a loaded machine.
      const worker = start(['--topic', topic, '--group', `${topic}-g`, '--from-beginning', '--metrics-port', '0', '--no-projections'], {KPIPE_PG_URL: database.url})
      await worker.waitForLog(/joined consumer group/)
      const db = new pg.Client({connectionString: database.url})
      await db.connect()
      await db.query('DROP TABLE pipeline.events')
      await db.end()
      await produce(topic, makeEvents(10, topic).map(eventMessage))
      const {code} = await worker.exited
      expect(code, worker.stderr().slice(-2000)).toBe(2)
      expect(worker.stderr()).toMatch(/Error: PostgreSQL lacks part of kpipe's schema \(relation "pipeline.events" does not exist\)/)
      expect(worker.stderr()).toMatch(/Hint: Run `kpipe db migrate`/)
      expect(worker.stderr()).not.toMatch(/bug in kpipe/)
    } finally {
      await database.drop()
    }
  })

  it('splits dead letters to fit a dead-letter topic with a small max.message.bytes', async () => {
    const topic = topicNamed('e2e-hard-dlqsize')
    await createTopicPair(topic, {dlqConfig: {'max.message.bytes': '20000'}})
    // 1,500 poison records with their dead-letter headers are ~700 kB: 35 times the limit.
    const poison = Array.from({length: 1500}, (_, i) => ({key: `p-${i}`, value: `not json ${i}`}))
    await produce(topic, poison)
    const result = await runCli(
      ['worker', 'events', '--topic', topic, '--group', `${topic}-g`, '--from-beginning', '--stop-when-caught-up', '--metrics-port', '0', '--no-projections', '--json'],
      {env: {KPIPE_BROKERS: BROKERS.join(','), KPIPE_PG_URL: PG_URL}, timeoutMs: 120_000},
    )
    expect(result.code, result.stderr.slice(-2000)).toBe(0)
    expect(JSON.parse(result.stdout)).toMatchObject({consumed: 1500, deadLettered: 1500, byErrorClass: {decode: 1500}})
    expect((await readTopic(`${topic}.dlq`)).length).toBe(1500)
    expect(result.stderr).not.toMatch(KAFKAJS_NOISE)
  })

  it('stops with exit 3 naming the dead-letter topic and the broker\'s reason when a dead letter cannot fit', async () => {
    const topic = topicNamed('e2e-hard-dlqbig')
    await createTopicPair(topic, {dlqConfig: {'max.message.bytes': '20000'}})
    await produce(topic, [{key: 'big', value: `not json ${'x'.repeat(30_000)}`}])
    const result = await runCli(
      ['worker', 'events', '--topic', topic, '--group', `${topic}-g`, '--from-beginning', '--stop-when-caught-up', '--metrics-port', '0', '--no-projections'],
      {env: {KPIPE_BROKERS: BROKERS.join(','), KPIPE_PG_URL: PG_URL}, timeoutMs: 120_000},
    )
    expect(result.code, result.stderr.slice(-3000)).toBe(3)
    expect(result.stderr).toMatch(new RegExp(`Error: Kafka refused dead letters for ${topic.replaceAll('.', '\\.')}\\.dlq \\((MESSAGE_TOO_LARGE|RECORD_LIST_TOO_LARGE)`))
    expect(result.stderr).toMatch(/Hint: Raise max\.message\.bytes/)
    expect(result.stderr).toMatch(/takes smaller records than/)
    const admin = kafka.admin()
    await admin.connect()
    const [offsets] = await admin.fetchOffsets({groupId: `${topic}-g`, topics: [topic]})
    await admin.disconnect()
    expect(Number(offsets!.partitions[0]!.offset)).toBeLessThanOrEqual(0) // nothing committed past it
  })
})

describe('kpipe produce: a broker refusal is named', () => {
  const topic = uniqueName('e2e-hard-produce')

  beforeAll(async () => {
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({waitForLeaders: true, topics: [{topic, numPartitions: 1, replicationFactor: 1, configEntries: [{name: 'max.message.bytes', value: '2000'}]}]})
    await admin.disconnect()
  })

  afterAll(async () => {
    const admin = kafka.admin()
    await admin.connect()
    await admin.deleteTopics({topics: [topic]}).catch(() => undefined)
    await admin.disconnect()
  })

  it('a batch over the topic\'s max.message.bytes is exit 2 with the reason, not an unexpected error', async () => {
    const input = Array.from({length: 40}, (_, i) => JSON.stringify({type: 'user.seen', source: 'tests', key: `u-${i}`, payload: {pad: 'x'.repeat(100)}})).join('\n')
    const result = await runCli(['produce', '--topic', topic], {input, env: {KPIPE_BROKERS: BROKERS.join(',')}})
    expect(result.code, result.stderr).toBe(2)
    expect(result.stderr).toMatch(/^Error: Kafka refused a record batch as too large \((MESSAGE_TOO_LARGE|RECORD_LIST_TOO_LARGE)/m)
    expect(result.stderr).toMatch(/Hint: Raise the topic's max\.message\.bytes/)
    expect(result.stderr).not.toMatch(/bug in kpipe|Limiting retries|switched default partitioner/)
  })
})

describe('no password given in a URL is printed', () => {
  const topic = uniqueName('e2e-hard-secret')
  beforeAll(() => createTopicPair(topic))
  afterAll(() => deleteTopics(topic))

  it('config show, db migrate and an unreachable worker keep ?password= to themselves', async () => {
    const secret = 'sekrit-in-query'
    const withSecret = (url: string) => `${url}${url.includes('?') ? '&' : '?'}password=${secret}`
    const show = await runCli(['config', 'show', '--json'], {env: {KPIPE_PG_URL: withSecret(PG_URL)}})
    expect(show.code).toBe(0)
    expect(show.stdout).toContain('password=***')
    const migrate = await runCli(['db', 'migrate'], {env: {KPIPE_PG_URL: withSecret(PG_URL)}})
    expect(migrate.code, migrate.stderr).toBe(0)
    const unreachable = await runCli(['db', 'migrate', '--json'], {env: {KPIPE_PG_URL: withSecret('postgres://127.0.0.1:1/kpipe')}})
    expect(unreachable.code).toBe(3)
    const worker = await runCli(['worker', 'events', '--topic', topic, '--metrics-port', '0', '--debug'], {env: {KPIPE_PG_URL: withSecret('postgres://127.0.0.1:1/kpipe')}})
    expect(worker.code).toBe(3)
    for (const result of [show, migrate, unreachable, worker]) expect(result.stdout + result.stderr).not.toContain(secret)
  })
})
