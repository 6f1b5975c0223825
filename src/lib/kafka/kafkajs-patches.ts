/**
 * Two CPU fixes for kafkajs' producer, loaded in place of its own modules before kafkajs is first
 * required. kafkajs 2.2.4 (2023) is its last release and its fix for the first is an open pull
 * request upstream (tulios/kafkajs#1576), so they cannot come from an upgrade:
 *
 * - `producer/groupMessagesPerPartition.js` copies a partition's array for every message it adds
 *   (`[...current, message]`): O(n²) in the messages per partition of one send, 12% of
 *   `kpipe load-test`'s CPU at 2,000-record batches. Ours appends: O(n), same result.
 * - `protocol/recordBatch/crc32C` computes each record batch's CRC-32C in JavaScript, a byte at a
 *   time (~170 MB/s here, 8% of the load test's CPU); @node-rs/crc32's native CRC-32C (SSE4.2
 *   where the CPU has it) does ~1.4 GB/s. If its binary cannot load on a platform, kafkajs' own
 *   stays.
 *
 * Each replacement is installed in the CommonJS module cache under the file name kafkajs requires,
 * so kafkajs' modules get it from their own `require`. It is applied only to the kafkajs version it
 * was written against, and only before kafkajs is loaded; otherwise nothing changes (kafkajs' own
 * code is correct, only slower). bin/run.js and the load test's producer threads call it first.
 */
import {createRequire, Module} from 'node:module'
import path from 'node:path'

const require = createRequire(import.meta.url)
const PATCHED_VERSION = '2.2.4'

interface Grouping {
  topic: string
  partitionMetadata: unknown[]
  messages: unknown[]
  partitioner: (args: {topic: string; partitionMetadata: unknown[]; message: unknown}) => number
}

/** kafkajs' groupMessagesPerPartition, linear: the messages of each partition, in send order. */
export function groupMessagesPerPartition({topic, partitionMetadata, messages, partitioner}: Grouping): Record<number, unknown[]> {
  if (partitionMetadata.length === 0) return {}
  const result: Record<number, unknown[]> = {}
  for (const message of messages) {
    const partition = partitioner({topic, partitionMetadata, message})
    ;(result[partition] ??= []).push(message)
  }
  return result
}

function nativeCrc32c(): ((buffer: Buffer) => number) | undefined {
  try {
    const {crc32c} = require('@node-rs/crc32') as {crc32c(input: Buffer, initial?: number): number}
    return (buffer) => crc32c(buffer)
  } catch {
    return undefined
  }
}

let applied: string[] | undefined

/** Installs the replacements; returns the kafkajs modules replaced (empty when none could be). */
export function applyKafkajsPatches(): string[] {
  if (applied !== undefined) return applied
  applied = []
  let root: string
  try {
    const manifest = require.resolve('kafkajs/package.json')
    if ((require(manifest) as {version: string}).version !== PATCHED_VERSION) return applied
    root = path.dirname(manifest)
  } catch {
    return applied
  }
  // Too late once kafkajs is loaded: its modules hold their own functions already.
  if (require.cache[path.join(root, 'index.js')] !== undefined) return applied
  const replacements: [string, unknown][] = [['src/producer/groupMessagesPerPartition.js', groupMessagesPerPartition]]
  const crc = nativeCrc32c()
  if (crc !== undefined) replacements.push(['src/protocol/recordBatch/crc32C/index.js', crc])
  for (const [relative, exports] of replacements) {
    const filename = path.join(root, relative)
    const module = new Module(filename)
    module.filename = filename
    module.loaded = true
    module.exports = exports
    require.cache[filename] = module
    applied.push(relative)
  }
  return applied
}
