/** Declarative topics as one service: kpipe.yaml's topics → plan → (apply). */
import type {KpipeConfig} from '../config.js'
import {CheckFailedError} from '../errors.js'
import {withAdmin} from '../kafka/admin.js'
import {applyPlan, readCluster} from './topic-admin.js'
import {desiredTopics, planHasDrift, planTopics, type Refusal, type TopicAction, type TopicPlan} from './topic-plan.js'

export interface TopicsPlanResult extends TopicPlan {
  inSyncWithFile: boolean
  brokers: number
}

export interface TopicsApplyResult {
  changed: boolean
  applied: TopicAction[]
  inSync: string[]
  unmanaged: string[]
  brokers: number
  /** Changes refused (nothing was applied when there is any): partition decreases, RF changes, unmanaged topics under --strict. */
  refusals: Refusal[]
}

export interface TopicsOptions {
  kafka: KpipeConfig['kafka']
  topics: KpipeConfig['topics']
  strict?: boolean
  debug?: boolean
}

export async function planTopicsFromConfig(options: TopicsOptions): Promise<TopicsPlanResult> {
  return withAdmin(options.kafka, (admin) => computePlan(admin, options), {debug: options.debug})
}

export async function applyTopicsFromConfig(options: TopicsOptions & {onPlan?: (plan: TopicPlan) => void}): Promise<TopicsApplyResult> {
  return withAdmin(
    options.kafka,
    async (admin) => {
      const plan = await computePlan(admin, options)
      options.onPlan?.(plan)
      const base = {inSync: plan.inSync, unmanaged: plan.unmanaged, brokers: plan.brokers, refusals: plan.refusals}
      try {
        const applied = await applyPlan(admin, plan)
        return {changed: applied.length > 0, applied, ...base}
      } catch (error) {
        // Under --json a refused apply still prints its result: what was refused, nothing applied.
        if (error instanceof CheckFailedError) {
          throw new CheckFailedError(error.message, {hint: error.hint, cause: error, result: {changed: false, applied: [], ...base, plan: plan.actions} satisfies TopicsApplyResult & {plan: TopicAction[]}})
        }
        throw error
      }
    },
    {debug: options.debug},
  )
}

async function computePlan(admin: Parameters<typeof readCluster>[0], options: TopicsOptions): Promise<TopicsPlanResult> {
  const cluster = await readCluster(admin)
  const plan = planTopics(desiredTopics(options.topics, cluster.brokerCount), cluster.topics, {strict: options.strict})
  return {...plan, inSyncWithFile: !planHasDrift(plan), brokers: cluster.brokerCount}
}
