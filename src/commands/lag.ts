import {Flags} from '@oclif/core'

import {BaseCommand} from '../lib/base-command.js'
import {evaluateHealth, healthHeadline, summarizeHealth} from '../lib/health/cluster-health.js'
import {sampleCluster} from '../lib/health/sample.js'
import {CheckFailedError, UsageError} from '../lib/errors.js'
import {durationFlag, kafkaFlags, metricsFlags} from '../lib/flags.js'
import {type LagSelection} from '../lib/lag/lag-sampler.js'
import {createLagMetrics} from '../lib/lag/lag-metrics.js'
import type {Thresholds} from '../lib/lag/lag-model.js'
import {describeBreach, renderLagReport} from '../lib/lag/lag-render.js'
import {openLagSource, pollLoop, type LagSource} from '../lib/lag/lag-service.js'
import {lagViewJson, type LagView, type LagViewJson, onlyLagging, viewBreaches} from '../lib/lag/lag-tracker.js'
import {startHealthServer} from '../lib/metrics/server.js'
import {existingGroupFlag, topicFlag} from '../lib/kafka/names.js'

/** `lag --serve` listens here unless a port is configured (the workers use 9464–9466). */
export const LAG_SERVE_DEFAULT_PORT = 9467

export default class Lag extends BaseCommand<typeof Lag> {
  static override summary = 'Consumer-group lag per partition: offsets, time lag, rates, catch-up time and status'
  static override description =
    'Without a group flag, every consumer group. For each group: its state and members, and per partition the ' +
    'committed offset, the log start and end offsets, the lag (end − committed, "-" without a commit), the time lag ' +
    '(the age of the record at the committed offset, read from Kafka; estimated from the samples where it cannot be ' +
    'read; 0 when caught up, "-" when unknown) and a status by Burrow\'s rules: OK, WARN (lag not decreasing), STALL (offset not moving while ' +
    'consumed), STOP (lag that no member consumes), REWIND (offset went back). A group is OK, WARN, ERR (any partition ' +
    'STOP, STALL or REWIND) or NOTFOUND. A committed offset below the log start is flagged LOST: retention deleted records ' +
    'the group never read. --sample 30s polls for that long so rates, catch-up time and status come out of one run (for ' +
    'cron). Exit codes: 0 within the thresholds; 1 a threshold breached or a named group does not exist (the breaches ' +
    'are listed, and under --json in "breaches"); 2 bad flags; 3 Kafka unreachable. --watch is a live dashboard ' +
    '(q quits, ? lists the keys); when stdout is not a terminal it prints one snapshot per --interval instead (NDJSON ' +
    'with --json). --serve keeps polling and serves the figures as Prometheus metrics on --metrics-port.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --group kpipe-events --only-lagging',
    '<%= config.bin %> <%= command.id %> --group-regex "^kpipe-" --sample 30s --max-time-lag 5m --fail-on err --json',
    '<%= config.bin %> <%= command.id %> --watch',
    '<%= config.bin %> <%= command.id %> --all-groups --serve --metrics-port 9467',
  ]
  static override flags = {
    ...kafkaFlags,
    ...metricsFlags,
    group: existingGroupFlag({char: 'g', description: 'This consumer group (repeatable); a group that does not exist is NOTFOUND and exits 1', multiple: true}),
    'group-regex': Flags.string({description: 'Every group whose id matches this regular expression'}),
    'all-groups': Flags.boolean({description: 'Every consumer group (the default when no group is chosen)', default: false}),
    topic: topicFlag({char: 't', description: 'Only these topics (repeatable)', multiple: true}),
    'only-lagging': Flags.boolean({description: 'Only partitions with lag or a status other than OK', default: false}),
    sample: durationFlag({description: 'Poll for this long before answering, so rates and status are measured (e.g. 30s)', exclusive: ['watch', 'serve']}),
    interval: durationFlag({description: 'Time between polls for --sample, --watch and --serve', default: 2000, defaultHelp: async () => '2s'}),
    watch: Flags.boolean({char: 'w', description: 'Live dashboard, refreshed every --interval', default: false, exclusive: ['serve']}),
    serve: Flags.boolean({description: 'Keep polling and serve Prometheus metrics on --metrics-port (default 9467)', default: false}),
    'max-lag': Flags.custom<bigint>({
      description: 'Exit 1 when a partition\'s lag is above this many records',
      async parse(input) {
        if (!/^\d+$/.test(input.trim())) throw new UsageError(`--max-lag must be a whole number of records, not "${input}"`)
        return BigInt(input.trim())
      },
    })(),
    'max-time-lag': durationFlag({description: 'Exit 1 when a partition\'s time lag is above this (e.g. 5m)'}),
    'fail-on': Flags.string({description: 'Exit 1 when a group\'s status is this bad or worse (NOTFOUND is worse than err)', options: ['warn', 'err']}),
    'allowed-lag': Flags.integer({description: 'A lag up to this many records counts as caught up for the status', default: 0, min: 0}),
  }

  async run(): Promise<LagViewJson | void> {
    const flags = this.flags
    const selection = this.selection()
    const {config, sources} = this.kpipeConfig
    const source = await openLagSource(config.kafka, selection, {allowedLag: BigInt(flags['allowed-lag']), debug: flags.debug})
    const controller = new AbortController()
    const onSignal = () => controller.abort()
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
    try {
      if (flags.serve) {
        const port = sources['metrics.port'] === 'default' ? LAG_SERVE_DEFAULT_PORT : config.metrics.port
        await this.serve(source, port, config.metrics.host, controller.signal)
        return
      }
      if (flags.watch) {
        await this.watch(source, controller)
        return
      }
      const view = await pollLoop(source, {intervalMs: Math.min(flags.interval, flags.sample ?? 0) || flags.interval, durationMs: flags.sample ?? 0, signal: controller.signal})
      if (view === undefined) throw new CheckFailedError('Stopped before the first sample.')
      return this.report(view)
    } finally {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      await source.close()
    }
  }

  private selection(): LagSelection {
    const flags = this.flags
    let groupRegex: RegExp | undefined
    if (flags['group-regex'] !== undefined) {
      try {
        groupRegex = new RegExp(flags['group-regex'])
      } catch (error) {
        throw new UsageError(`--group-regex is not a valid regular expression: ${(error as Error).message}`)
      }
    }
    return {groups: flags.group, groupRegex, allGroups: flags['all-groups'], topics: flags.topic}
  }

  private thresholds(): Thresholds {
    const flags = this.flags
    return {maxLag: flags['max-lag'], maxTimeLagMs: flags['max-time-lag'], failOn: flags['fail-on'] as Thresholds['failOn']}
  }

  private shown(view: LagView): LagView {
    return this.flags['only-lagging'] ? onlyLagging(view) : view
  }

  private report(full: LagView): LagViewJson {
    const breaches = viewBreaches(full, this.thresholds(), this.flags.group ?? [])
    const view = this.shown(full)
    const json = lagViewJson(view, breaches)
    if (!this.jsonEnabled()) for (const line of renderLagReport(view, breaches)) this.log(line)
    if (breaches.length > 0) {
      const first = describeBreach(breaches[0]!)
      throw new CheckFailedError(breaches.length === 1 ? `${first}.` : `${breaches.length} breaches, the first: ${first}.`, {result: json})
    }
    return json
  }

  private async watch(source: LagSource, controller: AbortController): Promise<void> {
    const flags = this.flags
    if (process.stdout.isTTY && !this.jsonEnabled()) {
      // React's development build (the default without NODE_ENV) costs several times the CPU per
      // frame; the dashboard is loaded here, after this, so React reads it.
      process.env.NODE_ENV ??= 'production'
      const {runLagDashboard} = await import('../ui/lag/run-dashboard.js')
      const {kafka} = this.kpipeConfig.config
      // The header's cluster line: the same checks as kpipe health, without its rate sample.
      const health = async () => {
        const summary = summarizeHealth(evaluateHealth(await sampleCluster({kafka, sampleMs: 0})))
        return {text: healthHeadline(summary), ok: summary.ok}
      }
      await runLagDashboard(source, {intervalMs: flags.interval, signal: controller.signal, onlyLagging: flags['only-lagging'], brokers: kafka.brokers, health})
      return
    }
    // Not a terminal: one snapshot per interval, for a pipe or a log file.
    const thresholds = this.thresholds()
    await pollLoop(source, {
      intervalMs: flags.interval,
      signal: controller.signal,
      onView: (full) => {
        const breaches = viewBreaches(full, thresholds, flags.group ?? [])
        const view = this.shown(full)
        if (this.jsonEnabled()) process.stdout.write(`${JSON.stringify(lagViewJson(view, breaches))}\n`)
        else process.stdout.write(`${new Date(view.sampledAtMs).toISOString()}\n${renderLagReport(view, breaches).join('\n')}\n`)
      },
      onError: (error) => {
        process.stderr.write(`Poll failed: ${(error as Error).message}\n`)
        return true
      },
    })
  }

  private async serve(source: LagSource, port: number, host: string, signal: AbortSignal): Promise<void> {
    const metrics = createLagMetrics()
    let lastOk = 0
    const intervalMs = this.flags.interval
    const server = await startHealthServer({
      port,
      host,
      registry: metrics.registry,
      readiness: () => (Date.now() - lastOk < Math.max(3 * intervalMs, 10_000) ? {ready: true, reasons: []} : {ready: false, reasons: ['no successful poll of Kafka recently']}),
    })
    this.note(`Serving lag metrics on http://${server.host}:${server.port}/metrics, polling every ${intervalMs} ms; Ctrl-C stops.`)
    try {
      let started = Date.now()
      await pollLoop(
        {
          poll: () => {
            started = Date.now()
            return source.poll()
          },
          close: () => source.close(),
        },
        {
          intervalMs,
          signal,
          onView: (view) => {
            metrics.record(this.shown(view), (Date.now() - started) / 1000)
            lastOk = Date.now()
          },
          onError: (error) => {
            metrics.pollFailed()
            process.stderr.write(`Poll failed: ${(error as Error).message}\n`)
            return true
          },
        },
      )
    } finally {
      await server.close()
    }
  }
}
