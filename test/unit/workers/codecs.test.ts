import {describe, expect, it} from 'vitest'

import {isXerialFramed, lz4Codec, snappyCodec, snappyCompressXerial, snappyDecompress, zstdCodec} from '../../../src/lib/workers/codecs.js'
import {compressSync} from 'snappy'

const input = Buffer.from(JSON.stringify(Array.from({length: 3000}, (_, i) => ({eventId: `e-${i}`, type: 'user.signup'}))))

describe('compression codecs', () => {
  it('round-trips zstd', async () => {
    expect(await zstdCodec.decompress(await zstdCodec.compress({buffer: input}))).toEqual(input)
  })

  it('round-trips lz4 frames', async () => {
    const compressed = await lz4Codec.compress({buffer: input})
    expect(compressed.readUInt32LE(0)).toBe(0x184d2204) // the LZ4 frame magic Kafka uses
    expect(await lz4Codec.decompress(compressed)).toEqual(input)
  })

  it('writes snappy in xerial framing, in 32 KiB blocks, and reads it back', async () => {
    const compressed = await snappyCompressXerial(input)
    expect(isXerialFramed(compressed)).toBe(true)
    expect(input.length).toBeGreaterThan(32 * 1024)
    expect(await snappyCodec.decompress(compressed)).toEqual(input)
  })

  it('reads a raw snappy block (librdkafka, kafkajs-snappy)', async () => {
    expect(await snappyDecompress(compressSync(input))).toEqual(input)
  })

  it('refuses a truncated xerial stream', async () => {
    const compressed = await snappyCompressXerial(input)
    await expect(snappyDecompress(compressed.subarray(0, compressed.length - 10))).rejects.toThrow(/truncated/)
  })
})
