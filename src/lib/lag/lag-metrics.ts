/**
 * `kpipe lag --serve`: the figures of the view as Prometheus gauges. Each poll replaces every
 * series at once (reset, then set, in one synchronous step, so no scrape sees half a poll): a group
 * or partition that went away disappears, and a value that is unknown (no commit, no time lag yet)
 * is an absent series, never NaN — kafka-lag-exporter's NaN for idle partitions is what this avoids.
 *
 * The rates are the ones the dashboard and `lag --json` show: averages over the tracker's sliding
 * window of polls, exported so an alert can read the same catch-up figures an operator sees.
 * `deriv()` of the offsets gives a rate at Prometheus' own resolution instead.
 */
import {collectDefaultMetrics, Counter, Gauge, Registry} from 'prom-client'

import {GROUP_STATUSES, PARTITION_STATUSES} from './lag-model.js'
import type {LagView} from './lag-tracker.js'

export interface LagMetrics {
  registry: Registry
  record(view: LagView, pollSeconds: number): void
  pollFailed(): void
}

export function createLagMetrics(options: {defaultMetrics?: boolean} = {}): LagMetrics {
  const registry = new Registry()
  // A long-running service like the workers: its memory and CPU under the standard names.
  if (options.defaultMetrics ?? true) collectDefaultMetrics({register: registry})
  const g = (name: string, help: string, labelNames: string[]) => new Gauge({name, help, labelNames, registers: [registry]})
  const partLabels = ['group', 'topic', 'partition']
  const lag = g('kpipe_lag_partition_lag', 'Records between the committed offset and the log end', partLabels)
  const timeLag = g('kpipe_lag_partition_time_lag_seconds', 'Age of the log end position the group has committed, estimated', partLabels)
  const committed = g('kpipe_lag_partition_committed_offset', 'Committed offset of the group', partLabels)
  const logEnd = g('kpipe_lag_partition_log_end_offset', 'Log end offset (high watermark)', partLabels)
  const logStart = g('kpipe_lag_partition_log_start_offset', 'Log start offset', partLabels)
  const lost = g('kpipe_lag_partition_lost_records', 'Records deleted by retention before the group read them', partLabels)
  const partStatus = g('kpipe_lag_partition_status', 'Partition status by Burrow rules: 1 for the current status', [...partLabels, 'status'])
  const produced = g('kpipe_lag_partition_production_records_per_second', 'Records appended per second, over the sliding window of polls', partLabels)
  const consumed = g('kpipe_lag_partition_consumption_records_per_second', 'Records committed per second, over the sliding window of polls', partLabels)
  const groupLag = g('kpipe_lag_group_lag', 'Total lag of the group', ['group'])
  const groupTimeLag = g('kpipe_lag_group_max_time_lag_seconds', 'Largest time lag of the group', ['group'])
  const groupStatus = g('kpipe_lag_group_status', 'Group status: 1 for the current status', ['group', 'status'])
  const members = g('kpipe_lag_group_members', 'Active members of the group', ['group'])
  const catchUp = g('kpipe_lag_group_catch_up_seconds', 'Time to reach zero lag at the current rates (absent when falling behind or unknown)', ['group'])
  const lastPoll = g('kpipe_lag_last_poll_timestamp_seconds', 'When the last successful poll sampled the cluster', [])
  const pollDuration = g('kpipe_lag_poll_duration_seconds', 'How long the last successful poll took', [])
  const pollErrors = new Counter({name: 'kpipe_lag_poll_errors_total', help: 'Polls that failed', registers: [registry]})
  const perPartition = [lag, timeLag, committed, logEnd, logStart, lost, partStatus, produced, consumed]
  const perGroup = [groupLag, groupTimeLag, groupStatus, members, catchUp]

  return {
    registry,
    pollFailed: () => pollErrors.inc(),
    record(view, pollSeconds) {
      for (const gauge of [...perPartition, ...perGroup]) gauge.reset()
      for (const group of view.groups) {
        const gl = {group: group.group}
        for (const s of GROUP_STATUSES) groupStatus.set({...gl, status: s}, s === group.status ? 1 : 0)
        if (!group.exists) continue
        groupLag.set(gl, Number(group.totalLag))
        members.set(gl, group.members.length)
        if (group.maxTimeLagMs !== null) groupTimeLag.set(gl, group.maxTimeLagMs / 1000)
        if (typeof group.catchUp === 'number') catchUp.set(gl, group.catchUp / 1000)
        for (const p of group.partitions) {
          const pl = {group: group.group, topic: p.topic, partition: String(p.partition)}
          logEnd.set(pl, Number(p.logEndOffset))
          logStart.set(pl, Number(p.logStartOffset))
          lost.set(pl, Number(p.lostRecords))
          for (const s of PARTITION_STATUSES) partStatus.set({...pl, status: s}, s === p.status ? 1 : 0)
          if (p.lag !== null) lag.set(pl, Number(p.lag))
          if (p.committedOffset !== null) committed.set(pl, Number(p.committedOffset))
          if (p.timeLagMs !== null) timeLag.set(pl, p.timeLagMs / 1000)
          if (p.productionPerSec !== null) produced.set(pl, p.productionPerSec)
          if (p.consumptionPerSec !== null) consumed.set(pl, p.consumptionPerSec)
        }
      }
      lastPoll.set(view.sampledAtMs / 1000)
      pollDuration.set(pollSeconds)
    },
  }
}
