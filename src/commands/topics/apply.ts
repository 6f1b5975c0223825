import {Flags} from '@oclif/core'

import {BaseCommand} from '../../lib/base-command.js'
import {kafkaFlags} from '../../lib/flags.js'
import {renderPlan} from '../../lib/topics/topic-plan.js'
import {applyTopicsFromConfig, type TopicsApplyResult} from '../../lib/topics/topics-service.js'

export default class TopicsApply extends BaseCommand<typeof TopicsApply> {
  static override summary = 'Create and update topics to match kpipe.yaml'
  static override description =
    'Creates missing topics, raises partition counts and sets topic configs (retention.ms, retention.bytes, ' +
    'cleanup.policy, min.insync.replicas, compression.type, any other key) so the cluster matches the topics ' +
    'section of kpipe.yaml. The whole plan is validated by Kafka (validateOnly) before anything changes, and changes that ' +
    'lose data (partition decreases, replication-factor changes) are refused with exit 1 and nothing applied; under ' +
    '--json the refused result is still printed. Kafka has no transaction across its create, partition and config calls: ' +
    'if one fails after validation (a broker lost midway), what the earlier calls did stays done, the error says which, ' +
    'and running apply again finishes the job. Idempotent: a second run says "No changes".'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --config ./prod/kpipe.yaml --brokers kafka-1:9092,kafka-2:9092',
    '<%= config.bin %> <%= command.id %> --json',
  ]
  static override flags = {
    ...kafkaFlags,
    strict: Flags.boolean({description: 'Refuse to apply while the cluster has topics that kpipe.yaml does not list', default: false}),
  }

  async run(): Promise<TopicsApplyResult> {
    const {config} = this.kpipeConfig
    const result = await applyTopicsFromConfig({
      kafka: config.kafka,
      topics: config.topics,
      strict: this.flags.strict,
      debug: this.flags.debug,
      onPlan: (plan) => {
        for (const line of renderPlan(plan)) this.log(line)
      },
    })
    this.log(result.changed ? `Applied ${result.applied.length} change(s); ${result.inSync.length} topics were already in sync.` : 'No changes.')
    return result
  }
}
