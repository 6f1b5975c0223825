/**
 * A connected kafkajs admin for the length of one command, with kafkajs' failures turned into
 * kpipe's errors (unreachable brokers → exit 3 within a few seconds).
 */
import type {Admin} from 'kafkajs'

import type {KpipeConfig} from '../config.js'
import {kafkaDependencyError} from '../error-classify.js'
import {KpipeError, UsageError} from '../errors.js'
import {createKafka} from './client.js'

export async function withAdmin<T>(kafka: KpipeConfig['kafka'], fn: (admin: Admin) => Promise<T>, options: {debug?: boolean} = {}): Promise<T> {
  const client = createKafka(kafka, {
    debug: options.debug,
    onLog: options.debug ? (entry) => process.stderr.write(`[kafkajs ${entry.level}] ${entry.namespace}: ${entry.message}\n`) : undefined,
  })
  const admin = client.admin()
  try {
    await admin.connect()
    return await fn(admin)
  } catch (error) {
    if (error instanceof KpipeError) throw error
    throw kafkaDependencyError(error) ?? error
  } finally {
    await admin.disconnect().catch(() => undefined)
  }
}

/** A command that produces to a topic checks first that it exists (exit 2 naming it otherwise). */
export async function assertTopicExists(kafka: KpipeConfig['kafka'], topic: string, options: {debug?: boolean} = {}): Promise<void> {
  const topics = await withAdmin(kafka, (admin) => admin.listTopics(), options)
  if (!topics.includes(topic)) {
    throw new UsageError(`The topic ${topic} does not exist.`, {
      hint: 'Create it with `kpipe topics apply` (pipeline topics) or `kpipe topic create`.',
    })
  }
}
