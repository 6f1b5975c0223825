import {Flags} from '@oclif/core'

import {BaseCommand} from '../../lib/base-command.js'
import {CheckFailedError} from '../../lib/errors.js'
import {kafkaFlags} from '../../lib/flags.js'
import {renderPlan, summarizePlan} from '../../lib/topics/topic-plan.js'
import {planTopicsFromConfig, type TopicsPlanResult} from '../../lib/topics/topics-service.js'

export default class TopicsPlan extends BaseCommand<typeof TopicsPlan> {
  static override summary = 'Show how the cluster differs from the topics in kpipe.yaml'
  static override description =
    'Compares the topics section of kpipe.yaml (over the pipeline defaults: events 7d, logs 30d, analytics 3d, ' +
    'and their .dlq topics) with the cluster. Exits 0 when they match and 1 on drift, so CI can detect it. ' +
    'Changes Kafka cannot make (fewer partitions, another replication factor) are shown as refused.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --json | jq .actions',
    '<%= config.bin %> <%= command.id %> --strict   # topics in the cluster but not in the file count as drift',
  ]
  static override flags = {
    ...kafkaFlags,
    strict: Flags.boolean({description: 'Count topics in the cluster but not in kpipe.yaml as drift', default: false}),
  }

  async run(): Promise<TopicsPlanResult> {
    const {config} = this.kpipeConfig
    const plan = await planTopicsFromConfig({kafka: config.kafka, topics: config.topics, strict: this.flags.strict, debug: this.flags.debug})
    for (const line of renderPlan(plan)) this.log(line)
    this.log(summarizePlan(plan))
    if (!plan.inSyncWithFile) {
      throw new CheckFailedError('The cluster differs from kpipe.yaml.', {hint: 'Run kpipe topics apply to make it match.', result: plan})
    }
    return plan
  }
}
