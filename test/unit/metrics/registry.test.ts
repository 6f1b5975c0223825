/**
 * Every metric kpipe serves, as a table: name, type, unit and label names. A renamed metric, a
 * changed unit or a new label breaks it, and so must be a decision (README's metrics table,
 * deploy/prometheus/alerts.yml and deploy/grafana/kpipe.json read these names). Beside it, the
 * naming guide's rules (prometheus.io/docs/practices/naming) checked on every name, and the
 * series a worker has from its first scrape.
 */
import type {Registry} from 'prom-client'
import {describe, expect, it} from 'vitest'

import {createLagMetrics} from '../../../src/lib/lag/lag-metrics.js'
import {createWorkerMetrics} from '../../../src/lib/metrics/worker-metrics.js'
import {createProjectionMetrics} from '../../../src/lib/redis/projector.js'
import {createAnalyticsMetrics} from '../../../src/lib/workers/analytics-sink.js'

type Row = [name: string, type: 'counter' | 'gauge' | 'histogram', unit: '' | 'seconds' | 'bytes', labels: string[]]

const WORKER: Row[] = [
  ['kpipe_worker_records_consumed_total', 'counter', '', ['topic']],
  ['kpipe_worker_records_written_total', 'counter', '', ['topic']],
  ['kpipe_worker_records_inserted_total', 'counter', '', ['topic']],
  ['kpipe_worker_records_dead_lettered_total', 'counter', '', ['topic', 'error_class']],
  ['kpipe_worker_sink_failures_total', 'counter', '', ['topic']],
  ['kpipe_worker_offset_commits_total', 'counter', '', ['topic']],
  ['kpipe_worker_rebalances_total', 'counter', '', []],
  ['kpipe_worker_batch_records', 'histogram', '', ['topic']],
  ['kpipe_worker_sink_latency_seconds', 'histogram', 'seconds', ['topic']],
  ['kpipe_worker_consumer_lag', 'gauge', '', ['topic', 'partition']],
  ['kpipe_worker_sink_up', 'gauge', '', []],
  ['kpipe_worker_consumer_joined', 'gauge', '', []],
  ['kpipe_worker_ready', 'gauge', '', []],
  ['kpipe_worker_fetch_partition_max_bytes', 'gauge', 'bytes', []],
]

/** The events worker's, when it projects to Redis. */
const PROJECTIONS: Row[] = [
  ['kpipe_worker_redis_up', 'gauge', '', []],
  ['kpipe_worker_redis_projections_stale', 'gauge', '', []],
  ['kpipe_worker_projection_catch_ups_total', 'counter', '', []],
]

/** The analytics worker's. */
const ANALYTICS: Row[] = [
  ['kpipe_worker_bigquery_request_rows', 'histogram', '', []],
  ['kpipe_worker_bigquery_request_bytes', 'histogram', 'bytes', []],
  ['kpipe_worker_bigquery_request_duration_seconds', 'histogram', 'seconds', ['outcome']],
  ['kpipe_worker_bigquery_requests_total', 'counter', '', ['outcome']],
]

/** `kpipe lag --serve`. */
const LAG: Row[] = [
  ['kpipe_lag_partition_lag', 'gauge', '', ['group', 'topic', 'partition']],
  ['kpipe_lag_partition_time_lag_seconds', 'gauge', 'seconds', ['group', 'topic', 'partition']],
  ['kpipe_lag_partition_committed_offset', 'gauge', '', ['group', 'topic', 'partition']],
  ['kpipe_lag_partition_log_end_offset', 'gauge', '', ['group', 'topic', 'partition']],
  ['kpipe_lag_partition_log_start_offset', 'gauge', '', ['group', 'topic', 'partition']],
  ['kpipe_lag_partition_lost_records', 'gauge', '', ['group', 'topic', 'partition']],
  ['kpipe_lag_partition_status', 'gauge', '', ['group', 'topic', 'partition', 'status']],
  ['kpipe_lag_partition_production_records_per_second', 'gauge', '', ['group', 'topic', 'partition']],
  ['kpipe_lag_partition_consumption_records_per_second', 'gauge', '', ['group', 'topic', 'partition']],
  ['kpipe_lag_group_lag', 'gauge', '', ['group']],
  ['kpipe_lag_group_max_time_lag_seconds', 'gauge', 'seconds', ['group']],
  ['kpipe_lag_group_status', 'gauge', '', ['group', 'status']],
  ['kpipe_lag_group_members', 'gauge', '', ['group']],
  ['kpipe_lag_group_catch_up_seconds', 'gauge', 'seconds', ['group']],
  ['kpipe_lag_last_poll_timestamp_seconds', 'gauge', 'seconds', []],
  ['kpipe_lag_poll_duration_seconds', 'gauge', 'seconds', []],
  ['kpipe_lag_poll_errors_total', 'counter', '', []],
]

/** Every label a series may carry; each takes values from a bounded set (no ids, no keys). */
const BOUNDED_LABELS = new Set(['worker', 'topic', 'partition', 'error_class', 'outcome', 'group', 'status'])

/** The kpipe_ metrics of a registry as rows (its unit read off the name, to compare with the table's). */
function kpipeRows(registry: Registry): [string, string, string[]][] {
  return registry
    .getMetricsAsArray()
    .filter((metric) => metric.name.startsWith('kpipe_'))
    .map((metric) => [metric.name, String(metric.type), [...(metric as unknown as {labelNames: string[]}).labelNames]])
}

const rowsWithoutUnit = (rows: Row[]) => rows.map(([name, type, , labels]) => [name, type, labels])
const byName = <T extends unknown[]>(rows: T[]) => [...rows].sort((a, b) => String(a[0]).localeCompare(String(b[0])))

function workerRegistry(extra: (registry: Registry) => unknown = () => undefined): Registry {
  const {registry} = createWorkerMetrics({worker: 'events', topic: 'orders'})
  extra(registry)
  return registry
}

describe('the metrics kpipe serves', () => {
  it.each([
    ['every worker', workerRegistry(), WORKER],
    ['the events worker with projections', workerRegistry(createProjectionMetrics), [...WORKER, ...PROJECTIONS]],
    ['the analytics worker', workerRegistry(createAnalyticsMetrics), [...WORKER, ...ANALYTICS]],
    ['kpipe lag --serve', createLagMetrics().registry, LAG],
  ])('%s: exactly the names, types and label names of the table', (_what, registry, table) => {
    expect(byName(kpipeRows(registry))).toEqual(byName(rowsWithoutUnit(table)))
  })

  it.each([...WORKER, ...PROJECTIONS, ...ANALYTICS, ...LAG])('%s follows the naming guide', (name, type, unit, labels) => {
    expect(name).toMatch(/^kpipe_(worker|lag)_[a-z]+(_[a-z]+)*$/)
    // Counters, and only counters, end in _total.
    expect(name.endsWith('_total')).toBe(type === 'counter')
    // The unit is the last word (before _total): seconds and bytes, never ms, kb, or a bare "rate".
    expect(name.replace(/_total$/, '')).toMatch(unit ? new RegExp(`_${unit}$`) : /^(?!.*_(seconds|bytes)$)/)
    expect(name).not.toMatch(/_(ms|millis|milliseconds|kb|mb|kib|mib|bits|rate|percent)(_|$)/)
    // A rate is exported only as a gauge that says what it counts per second: the lag exporter's
    // windowed rates, the figures its dashboard and catch-up time are computed from.
    if (name.includes('_per_second')) {
      expect(type).toBe('gauge')
      expect(name).toMatch(/_records_per_second$/)
    }
    for (const label of labels) expect(BOUNDED_LABELS, `${name}{${label}}`).toContain(label)
  })

  it.each([
    ['a worker', workerRegistry()],
    ['kpipe lag --serve', createLagMetrics().registry],
  ])("%s serves Node's process metrics under prom-client's standard names", async (_what, registry) => {
    const names = new Set((await registry.getMetricsAsJSON()).map((metric) => metric.name))
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_space_size_used_bytes', 'nodejs_eventloop_lag_seconds']) {
      expect(names).toContain(name)
    }
    expect([...names].filter((name) => /^kpipe_(process|nodejs)_/.test(name))).toEqual([])
    // Only kpipe's own and the standard ones: nothing else slips in under another prefix.
    expect([...names].filter((name) => !/^(kpipe_|process_|nodejs_)/.test(name))).toEqual([])
  })
})

describe("a worker's series before its first record", () => {
  it('has every labelled counter and histogram at 0 for its topic, each error class and each BigQuery outcome', async () => {
    const registry = workerRegistry(createAnalyticsMetrics)
    // Every series of the registry as `name{label=value,...} value`, labels sorted.
    const series = new Set<string>()
    for (const metric of await registry.getMetricsAsJSON()) {
      // A histogram's values name their series (_bucket, _sum, _count); prom-client's types omit it.
      for (const {metricName, labels, value} of metric.values as {metricName?: string; labels: object; value: number}[]) {
        const labelText = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${String(v)}`)
        series.add(`${metricName ?? metric.name}{${labelText.join(',')}} ${value}`)
      }
    }
    const at0 = (name: string, labels: string) => expect(series, `${name}{${labels}}`).toContain(`${name}{${labels}} 0`)
    for (const counter of ['consumed', 'written', 'inserted']) at0(`kpipe_worker_records_${counter}_total`, 'topic=orders,worker=events')
    at0('kpipe_worker_sink_failures_total', 'topic=orders,worker=events')
    at0('kpipe_worker_offset_commits_total', 'topic=orders,worker=events')
    for (const errorClass of ['decode', 'schema', 'validation', 'oversize', 'sink']) {
      at0('kpipe_worker_records_dead_lettered_total', `error_class=${errorClass},topic=orders,worker=events`)
    }
    at0('kpipe_worker_batch_records_count', 'topic=orders,worker=events')
    at0('kpipe_worker_sink_latency_seconds_count', 'topic=orders,worker=events')
    for (const outcome of ['ok', 'row_errors', 'too_large', 'failed']) {
      at0('kpipe_worker_bigquery_requests_total', `outcome=${outcome},worker=events`)
      at0('kpipe_worker_bigquery_request_duration_seconds_count', `outcome=${outcome},worker=events`)
    }
    // Unknown values have no series: no partition is assigned yet.
    expect([...series].filter((s) => s.startsWith('kpipe_worker_consumer_lag'))).toEqual([])
  })

  it('reports kpipe_worker_ready as the readiness it is given says, at each scrape, and 0 before', async () => {
    const metrics = createWorkerMetrics({worker: 'logs', topic: 'logs', defaultMetrics: false})
    const ready = async () => (await metrics.registry.getSingleMetricAsString('kpipe_worker_ready')).split('\n').at(-1)
    expect(await ready()).toBe('kpipe_worker_ready{worker="logs"} 0')
    let state = true
    metrics.reportReadiness(() => ({ready: state}))
    expect(await ready()).toBe('kpipe_worker_ready{worker="logs"} 1')
    state = false
    expect(await ready()).toBe('kpipe_worker_ready{worker="logs"} 0')
  })
})
