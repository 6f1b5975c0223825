/**
 * The stack's real Prometheus (`./scripts/stack up --monitoring`) scraping a live events worker
 * and `kpipe lag --serve`: the worker's written-records counter and the exporter's lag come back
 * through Prometheus' HTTP API with the values the run produced, and every query of the Grafana
 * dashboard (deploy/grafana/kpipe.json) returns data. The exporters listen on ports of this test,
 * announced to Prometheus through its file_sd directory, not on the well-known ones.
 */
import {spawn} from 'node:child_process'
import {readFileSync} from 'node:fs'
import path from 'node:path'

import type pg from 'pg'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {binRun, repoRoot} from '../helpers/cli.js'
import {addScrapeTargets, ensureMonitoring, promQuery} from '../helpers/monitoring.js'
import {privatePort} from '../helpers/services.js'
import {
  createTopics,
  deleteProjections,
  deleteRows,
  deleteTopics,
  eventMessage,
  makeEvents,
  pgPool,
  produce,
  redisClient,
  startServingWorker,
  uniqueName,
  waitUntil,
  type ServingWorker,
} from '../integration/workers/helpers.js'

const topic = uniqueName('e2e-monitoring')
const group = `${topic}-g`
const EVENTS = 40
let prometheus: string
let pool: pg.Pool
let worker: ServingWorker
let lagServer: ReturnType<typeof spawn> | undefined
let lagPort = 0
let removeTargets = () => undefined as void

/** Starts `kpipe lag --serve` for the test's group on a free port of its own. */
async function startLagExporter(): Promise<void> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const port = privatePort()
    const child = spawn(process.execPath, [binRun, 'lag', '--group', group, '--serve', '--interval', '1s', '--metrics-port', String(port)], {
      cwd: repoRoot,
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    const outcome = await new Promise<'listening' | 'failed'>((resolve) => {
      child.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString()
        if (/Serving lag metrics on/.test(stderr)) resolve('listening')
      })
      child.once('close', () => resolve('failed'))
    })
    if (outcome === 'listening') {
      lagServer = child
      lagPort = port
      return
    }
    if (!/EADDRINUSE|in use/i.test(stderr)) throw new Error(`kpipe lag --serve did not start:\n${stderr}`)
  }
  throw new Error('no free port for kpipe lag --serve after 10 tries')
}

/** Every `expr` of the dashboard, panel by panel, its variables set to this test's worker and group. */
function dashboardQueries(): {panel: string; expr: string}[] {
  const dashboard = JSON.parse(readFileSync(path.join(repoRoot, 'deploy/grafana/kpipe.json'), 'utf8')) as {
    panels: {title: string; type: string; targets?: {expr: string}[]}[]
  }
  const values: Record<string, string> = {
    worker: 'events',
    instance: `127.0.0.1:${worker.port}|127.0.0.1:${lagPort}`,
    lag_instance: `127.0.0.1:${lagPort}`,
    group,
    __rate_interval: '30s',
  }
  return dashboard.panels.flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({
      panel: panel.title,
      expr: target.expr.replaceAll(/\$(\w+)/g, (whole, name: string) => values[name] ?? whole),
    })),
  )
}

beforeAll(async () => {
  prometheus = await ensureMonitoring()
  pool = await pgPool()
  await createTopics(topic, 2)
  const events = makeEvents(EVENTS, topic, {entities: 5})
  await produce(topic, [...events.map(eventMessage), {key: 'poison', value: 'not json'}])
  worker = await startServingWorker(['--topic', topic, '--group', group, '--from-beginning'])
  await startLagExporter()
  removeTargets = addScrapeTargets(topic, [
    {address: `127.0.0.1:${worker.port}`, labels: {exporter: 'worker', test: topic}},
    {address: `127.0.0.1:${lagPort}`, labels: {exporter: 'lag', test: topic}},
  ])
}, 600_000)

afterAll(async () => {
  removeTargets()
  lagServer?.kill('SIGTERM')
  if (!pool) return
  const redis = redisClient()
  await deleteRows(pool, topic)
  await deleteProjections(redis, topic)
  redis.disconnect()
  await pool.end()
  await deleteTopics(topic).catch(() => undefined)
})

describe('the stack Prometheus scraping a worker and kpipe lag --serve', () => {
  it('holds the records the worker wrote and the lag of its group, and has data for every query of the Grafana dashboard', async () => {
    const written = `kpipe_worker_records_written_total{instance="127.0.0.1:${worker.port}", topic="${topic}"}`
    let value = ''
    await waitUntil(
      async () => {
        value = (await promQuery(prometheus, written))[0]?.value[1] ?? ''
        return value === String(EVENTS)
      },
      90_000,
      `${written} = ${EVENTS} in Prometheus (last: ${value || 'absent'})`,
    )
    const [series] = await promQuery(prometheus, written)
    expect(series!.metric).toMatchObject({job: 'kpipe', worker: 'events', exporter: 'worker', test: topic})

    // Caught up: each of the two partitions has a lag series, all zero, from the exporter.
    const lag = `kpipe_lag_partition_lag{group="${group}"}`
    await waitUntil(async () => {
      const samples = await promQuery(prometheus, lag)
      return samples.length === 2 && samples.every((s) => s.value[1] === '0')
    }, 90_000, `${lag} = 0 on both partitions`)
    const samples = await promQuery(prometheus, lag)
    expect(samples.map((s) => s.metric.partition).sort()).toEqual(['0', '1'])
    expect(samples[0]!.metric).toMatchObject({instance: `127.0.0.1:${lagPort}`, topic, exporter: 'lag'})
    const dead = await promQuery(prometheus, `kpipe_worker_records_dead_lettered_total{instance="127.0.0.1:${worker.port}"}`)
    // Every error class has its series from the worker's start, at 0 but for the one poison record.
    expect(Object.fromEntries(dead.map((s) => [s.metric.error_class, s.value[1]]))).toEqual({decode: '1', schema: '0', validation: '0', oversize: '0', sink: '0'})
    const ready = await promQuery(prometheus, `kpipe_worker_ready{instance="127.0.0.1:${worker.port}"}`)
    expect(ready.map((s) => s.value[1])).toEqual(['1'])

    // The Grafana dashboard, in the same test: the helpers stop a test's workers when it ends.
    const queries = dashboardQueries()
    expect(queries.length).toBeGreaterThan(15)
    let empty: string[] = []
    // rate() needs two scrapes of a series: the last ones to appear get a few seconds.
    await waitUntil(
      async () => {
        empty = []
        for (const q of queries) if ((await promQuery(prometheus, q.expr)).length === 0) empty.push(`${q.panel}: ${q.expr}`)
        return empty.length === 0
      },
      60_000,
      'data for every dashboard query',
    ).catch(() => undefined)
    expect(empty).toEqual([])
  })
})
