import {Args, Flags, type Interfaces} from '@oclif/core'

import {BaseCommand} from '../../lib/base-command.js'
import {UsageError} from '../../lib/errors.js'
import {durationFlag, kafkaFlags} from '../../lib/flags.js'
import {withAdmin} from '../../lib/kafka/admin.js'
import {applyPlan, readCluster} from '../../lib/topics/topic-admin.js'
import {desiredTopic, renderPlan, type TopicAction} from '../../lib/topics/topic-plan.js'

export interface TopicCreateResult {
  created: boolean
  action: TopicAction | null
}

export default class TopicCreate extends BaseCommand<typeof TopicCreate> {
  static override summary = 'Create one topic'
  static override description =
    'Imperative creation, for topics outside kpipe.yaml. The replication factor defaults to min(3, brokers), and ' +
    'min.insync.replicas to 2 when it is 3 or more. Exits 2 when the topic exists (0 with --if-not-exists).'
  static override examples = [
    '<%= config.bin %> <%= command.id %> orders --partitions 12 --retention 7d',
    '<%= config.bin %> <%= command.id %> customers --config cleanup.policy=compact --config min.compaction.lag.ms=60000',
  ]
  static override args = {name: Args.string({description: 'Topic name', required: true})}
  static override flags = {
    ...kafkaFlags,
    partitions: Flags.integer({char: 'p', description: 'Number of partitions', default: 1, min: 1}),
    'replication-factor': Flags.integer({char: 'r', description: 'Replication factor (default: min(3, brokers))', min: 1}),
    retention: durationFlag({description: "retention.ms as a duration, e.g. 7d or 12h"}),
    // Here --config is a topic config, as in kafka-topics; kpipe.yaml comes from KPIPE_CONFIG or ./kpipe.yaml.
    config: Flags.string({char: 'c', description: 'Topic config as key=value; repeatable', multiple: true}),
    'if-not-exists': Flags.boolean({description: 'Succeed without change when the topic already exists', default: false}),
  }

  protected override configPath(): string | undefined {
    return undefined
  }

  async run(): Promise<TopicCreateResult> {
    // The base command's --config (a file) is shadowed here by the topic --config (key=value, repeatable).
    const flags = this.flags as unknown as Interfaces.InferredFlags<typeof TopicCreate.flags> & {debug: boolean}
    const name = this.args.name
    if (!/^[a-zA-Z0-9._-]{1,249}$/.test(name)) {
      throw new UsageError(`"${name}" is not a valid topic name: use up to 249 letters, digits, ".", "_" and "-".`)
    }
    const configs: Record<string, string> = {}
    for (const pair of flags.config ?? []) {
      const eq = pair.indexOf('=')
      if (eq <= 0) throw new UsageError(`--config "${pair}" is not key=value.`)
      configs[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim()
    }
    const {config} = this.kpipeConfig
    return withAdmin(
      config.kafka,
      async (admin) => {
        const cluster = await readCluster(admin)
        if (cluster.topics.has(name)) {
          if (flags['if-not-exists']) {
            this.log(`Topic ${name} already exists; nothing to do.`)
            return {created: false, action: null}
          }
          throw new UsageError(`Topic "${name}" already exists.`, {hint: 'Use --if-not-exists, or change it with kpipe topics apply.'})
        }
        const want = desiredTopic(
          name,
          {partitions: flags.partitions, replicationFactor: flags['replication-factor'], retentionMs: flags.retention, config: configs},
          cluster.brokerCount,
        )
        const action: TopicAction = {kind: 'create', topic: name, partitions: want.partitions, replicationFactor: want.replicationFactor, configs: want.configs}
        await applyPlan(admin, {actions: [action], refusals: [], unmanaged: [], inSync: []})
        for (const line of renderPlan({actions: [action], refusals: [], unmanaged: [], inSync: []})) this.log(line)
        return {created: true, action}
      },
      {debug: flags.debug},
    )
  }
}
