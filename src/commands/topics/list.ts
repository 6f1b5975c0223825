import {Flags} from '@oclif/core'

import {BaseCommand} from '../../lib/base-command.js'
import {formatDuration} from '../../lib/durations.js'
import {kafkaFlags} from '../../lib/flags.js'
import {withAdmin} from '../../lib/kafka/admin.js'
import {renderTable} from '../../lib/output/table.js'
import {listTopics, type TopicSummary} from '../../lib/topics/topic-admin.js'

export interface TopicsListResult {
  topics: TopicSummary[]
}

export default class TopicsList extends BaseCommand<typeof TopicsList> {
  static override summary = 'List topics with partitions, replication, retention and health'
  static override description =
    'One line per topic: partition count, replication factor, retention.ms and cleanup.policy as the broker resolves them, ' +
    'and how many partitions are under-replicated (ISR smaller than the replica set) or offline (no leader). ' +
    'Internal topics (__consumer_offsets, ...) are left out unless --internal is given.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --internal --json',
    "<%= config.bin %> <%= command.id %> --json | jq '.topics[] | select(.underReplicatedPartitions > 0) | .name'",
  ]
  static override flags = {
    ...kafkaFlags,
    internal: Flags.boolean({description: 'Include internal topics such as __consumer_offsets', default: false}),
  }

  async run(): Promise<TopicsListResult> {
    const {config} = this.kpipeConfig
    const topics = await withAdmin(config.kafka, (admin) => listTopics(admin, {includeInternal: this.flags.internal}), {debug: this.flags.debug})
    this.log(
      renderTable(
        ['TOPIC', 'PARTITIONS', 'RF', 'RETENTION', 'CLEANUP', 'UNDER-REPLICATED', 'OFFLINE'],
        topics.map((t) => [
          t.name,
          t.partitions,
          t.replicationFactor,
          t.retentionMs === null ? null : t.retentionMs < 0 ? 'forever' : formatDuration(t.retentionMs),
          t.cleanupPolicy,
          t.underReplicatedPartitions,
          t.offlinePartitions,
        ]),
      ),
    )
    return {topics}
  }
}
