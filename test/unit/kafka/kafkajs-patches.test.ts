/**
 * The replacements src/lib/kafka/kafkajs-patches.ts puts in place of two kafkajs modules: each
 * gives exactly what kafkajs' own gives, and they are installed only before kafkajs loads. (The
 * broker checks every batch's CRC-32C on append, so the load-test and worker e2e tests, which run
 * the patched CLI, would also fail on a wrong checksum.)
 */
import {execFile} from 'node:child_process'
import {createRequire} from 'node:module'
import path from 'node:path'
import {promisify} from 'node:util'

import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {groupMessagesPerPartition} from '../../../src/lib/kafka/kafkajs-patches.js'
import {repoRoot} from '../../helpers/cli.js'

const require = createRequire(import.meta.url)
const kafkajsGroup = require('kafkajs/src/producer/groupMessagesPerPartition.js') as typeof groupMessagesPerPartition
const kafkajsCrc = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as (buffer: Buffer) => number
const {crc32c} = require('@node-rs/crc32') as {crc32c(buffer: Buffer): number}

describe('groupMessagesPerPartition', () => {
  it("groups as kafkajs' own does: the same partitions, each with its messages in send order", () => {
    fc.assert(
      fc.property(fc.integer({min: 0, max: 12}), fc.array(fc.integer({min: 0, max: 1_000_000}), {maxLength: 600}), (partitions, keys) => {
        const partitionMetadata = Array.from({length: partitions}, (_, partitionId) => ({partitionId}))
        const messages = keys.map((key, i) => ({key: String(key), value: String(i)}))
        const partitioner = ({message}: {message: unknown}) => Number((message as {key: string}).key) % Math.max(1, partitions)
        const input = {topic: 't', partitionMetadata, messages, partitioner}
        expect(groupMessagesPerPartition(input)).toEqual(kafkajsGroup(input))
      }),
    )
  })
})

describe('the native CRC-32C', () => {
  it("gives kafkajs' checksum for any bytes", () => {
    fc.assert(fc.property(fc.uint8Array({maxLength: 70_000}), (bytes) => crc32c(Buffer.from(bytes)) === kafkajsCrc(Buffer.from(bytes))))
    // The check value of CRC-32C (Castagnoli) for "123456789".
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283)
  })
})

describe('applyKafkajsPatches', () => {
  // A fresh Node process each, since the module cache is per process.
  const node = async (code: string): Promise<string> => {
    const {stdout} = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {cwd: repoRoot})
    return stdout.trim()
  }
  const patches = path.join(repoRoot, 'src/lib/kafka/kafkajs-patches.ts')

  it("replaces both modules when called before kafkajs loads, and kafkajs' producer then uses them", async () => {
    const out = await node(`
      import {createRequire} from 'node:module'
      const patches = await import(${JSON.stringify(patches)})
      const applied = patches.applyKafkajsPatches()
      await import('kafkajs')
      const require = createRequire(${JSON.stringify(path.join(repoRoot, 'package.json'))})
      const loaded = require.cache[require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js')].exports
      console.log(JSON.stringify({applied, ours: loaded === patches.groupMessagesPerPartition}))
    `)
    expect(JSON.parse(out)).toEqual({applied: ['src/producer/groupMessagesPerPartition.js', 'src/producer/sendMessages.js', 'src/protocol/recordBatch/crc32C/index.js'], ours: true})
  })

  it('changes nothing once kafkajs is loaded: its modules already hold their own functions', async () => {
    const out = await node(`
      await import('kafkajs')
      const patches = await import(${JSON.stringify(patches)})
      console.log(JSON.stringify(patches.applyKafkajsPatches()))
    `)
    expect(JSON.parse(out)).toEqual([])
  })
})
