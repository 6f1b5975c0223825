
import {BaseCommand} from '../lib/base-command.js'
import {formatDuration} from '../lib/durations.js'
import {CheckFailedError} from '../lib/errors.js'
import {durationFlag, kafkaFlags} from '../lib/flags.js'
import {evaluateHealth, healthHeadline, type HealthReport, summarizeHealth} from '../lib/health/cluster-health.js'
import {sampleCluster} from '../lib/health/sample.js'
import {renderTable} from '../lib/output/table.js'
import {topicFlag} from '../lib/kafka/names.js'

export type HealthResult = HealthReport

export default class Health extends BaseCommand<typeof Health> {
  static override summary = 'Is the cluster well? Brokers, controller, offline / under-replicated / under-min-ISR partitions, leader balance, produce rates'
  static override description =
    'Reads the cluster metadata, every topic\'s min.insync.replicas and two samples of end offsets (--sample apart), then lists ' +
    'the brokers (the controller marked, missing ones named), the problems and a line per topic. Exits 0 when nothing is ' +
    'wrong, 1 when a partition is offline, under-replicated or under min ISR, a broker named by replicas is missing, or there ' +
    'is no controller (at-min-ISR partitions and leader imbalance over leader.imbalance.per.broker.percentage are warnings), ' +
    'and 3 when Kafka is unreachable. Under --json the full report is printed in every case.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --json | jq .problems',
    '<%= config.bin %> <%= command.id %> --topic events --topic logs --sample 5s',
    '<%= config.bin %> <%= command.id %> --sample 0   # no produce rates, answers at once (cron)',
  ]
  static override flags = {
    ...kafkaFlags,
    sample: durationFlag({description: 'Time between the two end-offset samples that give the produce rates; 0 skips rates', default: 2000, defaultHelp: async () => '2s'}),
    topic: topicFlag({description: 'Check only this topic (repeatable); default every topic, internal ones included', multiple: true}),
  }

  async run(): Promise<HealthResult> {
    const {config} = this.kpipeConfig
    const sample = await sampleCluster({
      kafka: config.kafka,
      topics: this.flags.topic,
      sampleMs: this.flags.sample,
      debug: this.flags.debug,
      onSampling: (ms) => this.note(`Sampling end offsets for ${formatDuration(ms)}...`),
    })
    const report = evaluateHealth(sample)
    this.render(report)
    if (!report.ok) {
      const errors = report.problems.filter((p) => p.severity === 'error')
      throw new CheckFailedError(`The cluster is unhealthy (${errors.length === 1 ? '1 problem' : `${errors.length} problems`}): ${errors[0]!.message}`, {
        hint: errors.length > 1 ? 'The problems table (or .problems under --json) lists them all.' : undefined,
        result: report,
      })
    }
    return report
  }

  private render(report: HealthReport): void {
    const rows = report.brokers.map((b) => [b.id, b.host, b.port, b.rack, b.isController ? 'controller' : 'up'])
    for (const id of report.missingBrokers) rows.push([id, null, null, null, 'MISSING'])
    this.log(renderTable(['BROKER', 'HOST', 'PORT', 'RACK', 'STATE'], rows))
    this.log('')
    if (report.problems.length === 0) {
      this.log('No problems.')
    } else {
      this.log(renderTable(['SEVERITY', 'PROBLEM', 'DETAIL'], report.problems.map((p) => [p.severity, p.kind, p.message])))
    }
    this.log('')
    this.log(
      renderTable(
        ['TOPIC', 'PARTITIONS', 'RF', 'MIN ISR', 'RECORDS/S', 'OFFLINE', 'UNDER-REPLICATED', 'UNDER-MIN-ISR', 'PROBLEMS'],
        report.topics.map((t) => [
          t.internal ? `${t.name} (internal)` : t.name,
          t.partitions,
          t.replicationFactor,
          t.minInsyncReplicas,
          t.produceRatePerSec,
          t.offlinePartitions,
          t.underReplicatedPartitions,
          t.underMinIsrPartitions,
          t.problems,
        ]),
      ),
    )
    this.log('')
    this.log(healthHeadline(summarizeHealth(report)))
  }
}
