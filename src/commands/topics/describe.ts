import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../../lib/base-command.js'
import {kafkaFlags} from '../../lib/flags.js'
import {withAdmin} from '../../lib/kafka/admin.js'
import {renderTable} from '../../lib/output/table.js'
import {describeTopic, type TopicDescription} from '../../lib/topics/topic-admin.js'
import {displayConfigValue} from '../../lib/topics/topic-plan.js'

export default class TopicsDescribe extends BaseCommand<typeof TopicsDescribe> {
  static override summary = 'Partitions, leaders, replicas, ISR, offsets and configs of one topic'
  static override description = 'Configs show where each value comes from: topic, static-broker, dynamic-broker or default.'
  static override examples = [
    '<%= config.bin %> <%= command.id %> events',
    "<%= config.bin %> <%= command.id %> events --json | jq '.configs[] | select(.name==\"retention.ms\")'",
  ]
  static override args = {name: Args.string({description: 'Topic name', required: true})}
  static override flags = {
    ...kafkaFlags,
    'all-configs': Flags.boolean({description: 'Show every config, not only those set on the topic or the brokers', default: false}),
  }

  async run(): Promise<TopicDescription> {
    const {config} = this.kpipeConfig
    const topic = await withAdmin(config.kafka, (admin) => describeTopic(admin, this.args.name), {debug: this.flags.debug})
    this.log(`Topic ${topic.name}: ${topic.partitions.length} partitions, replication factor ${topic.replicationFactor}`)
    this.log(
      renderTable(
        ['PARTITION', 'LEADER', 'REPLICAS', 'ISR', 'EARLIEST', 'LATEST', 'MESSAGES'],
        topic.partitions.map((p) => [p.partition, p.leader, p.replicas.join(','), p.isr.join(','), p.earliestOffset, p.latestOffset, p.messages]),
      ),
    )
    const shown = this.flags['all-configs'] ? topic.configs : topic.configs.filter((c) => c.source !== 'default')
    this.log('')
    this.log(renderTable(['CONFIG', 'VALUE', 'SOURCE'], shown.map((c) => [c.name, displayConfigValue(c.name, c.value), c.source])))
    return topic
  }
}
