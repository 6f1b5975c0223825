/**
 * Kafka names from flags (topics, consumer groups) are validated before any request: a hostile
 * or mistyped name (quotes, semicolons, `--`, control characters, Unicode look-alikes, a
 * megabyte of text) is a usage error (exit 2) naming the flag, never a request to the cluster,
 * a log line or a metric label. kpipe.yaml's topics follow the same rule (config.ts).
 */
import {Flags} from '@oclif/core'

import {UsageError} from '../errors.js'

/** Kafka's own rule for topic names (kafka.common.internals.Topic). */
export const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/
/**
 * Kafka takes any string as a group id; kpipe takes the topic rule plus ":" so that a group id is
 * safe in logs, metric labels and ACL commands alike.
 */
export const GROUP_NAME = /^[a-zA-Z0-9._:-]{1,249}$/
/**
 * A group kpipe only reads (lag, integrity) may be any group the cluster has, whoever named it:
 * any text but control, format and line-separator characters (which would forge or hide output),
 * up to 255 characters.
 */
export const EXISTING_GROUP_NAME = /^[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}]{1,255}$/u

/** A name as it may be shown in one line: JSON-quoted (control characters escaped), clipped. */
export function shownName(name: string): string {
  const clipped = name.length > 60 ? `${name.slice(0, 60)}…` : name
  return JSON.stringify(clipped) + (name.length > 60 ? ` (${name.length} characters)` : '')
}

/** `origin` prefixes the sentence (oclif prefixes a flag's own: `--topic: …`). */
export function checkTopicName(name: string, origin?: string): string {
  if (!TOPIC_NAME.test(name)) {
    throw new UsageError(`${origin ? `${origin}: ` : ''}${shownName(name)} is not a Kafka topic name: use 1 to 249 letters, digits, ".", "_" and "-".`)
  }
  return name
}

export function checkGroupName(name: string, origin?: string): string {
  if (!GROUP_NAME.test(name)) {
    throw new UsageError(`${origin ? `${origin}: ` : ''}${shownName(name)} is not a consumer group kpipe accepts: use 1 to 249 letters, digits, ".", "_", "-" and ":".`)
  }
  return name
}

export function checkExistingGroupName(name: string, origin?: string): string {
  if (!EXISTING_GROUP_NAME.test(name)) {
    throw new UsageError(`${origin ? `${origin}: ` : ''}${shownName(name)} is not a consumer group name: use 1 to 255 characters, none of them control or invisible characters.`)
  }
  return name
}

/** `--topic`-style flag, validated as a Kafka topic name. */
export const topicFlag = Flags.custom<string>({
  async parse(input) {
    return checkTopicName(input)
  },
})

/** `--group` of a command that joins or creates the group (a worker, a replay): kpipe's rule. */
export const groupFlag = Flags.custom<string>({
  async parse(input) {
    return checkGroupName(input)
  },
})

/** `--group` of a command that only reads a group's offsets (lag, integrity): any sane name. */
export const existingGroupFlag = Flags.custom<string>({
  async parse(input) {
    return checkExistingGroupName(input)
  },
})
