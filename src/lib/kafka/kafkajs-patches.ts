/**
 * Fixes for kafkajs' producer, loaded in place of its own modules before kafkajs is first
 * required. kafkajs 2.2.4 (2023) is its last release and the fixes upstream are open pull requests
 * (tulios/kafkajs#1576, #1798), so they cannot come from an upgrade:
 *
 * - `producer/sendMessages.js` can resolve a send() whose records for one partition were never
 *   written, when that partition's leader died during it: acknowledged records lost (see
 *   kafkajs-send-messages.ts, which replaces it);
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
 * was written against, and only before kafkajs is loaded; otherwise nothing changes. bin/run.js
 * and the load test's producer threads call it first, so every command and worker has it.
 */
import {createRequire, Module} from 'node:module'
import path from 'node:path'

import {groupMessagesPerPartition} from './kafkajs-grouping.js'
import {sendMessagesFactory} from './kafkajs-send-messages.js'

const require = createRequire(import.meta.url)
const PATCHED_VERSION = '2.2.4'

export {groupMessagesPerPartition} from './kafkajs-grouping.js'

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
  const replacements: [string, unknown][] = [
    ['src/producer/groupMessagesPerPartition.js', groupMessagesPerPartition],
    ['src/producer/sendMessages.js', sendMessagesFactory(path.join(root, 'index.js'))],
  ]
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

/**
 * kafkajs 2.2.4 arms a timer with a negative delay when its request queue is idle, which Node >= 23
 * reports as a TimeoutNegativeWarning on every command (and in every thread that produces); the
 * timer then fires after 1 ms, which is what kafkajs meant. Drops that warning, keeps every other.
 */
export function quietKafkajsTimerWarning(): void {
  process.removeAllListeners('warning')
  process.on('warning', (warning) => {
    if (warning.name === 'TimeoutNegativeWarning') return
    process.stderr.write(`${warning.name}: ${warning.message}\n`)
  })
}
