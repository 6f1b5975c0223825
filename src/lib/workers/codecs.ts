/**
 * kafkajs decodes gzip by itself; snappy, lz4 and zstd batches (what Java clients, librdkafka
 * and topics with compression.type send) need codecs registered (DESIGN §7). zstd comes from
 * Node's own zlib (Node ≥ 22.15); snappy and lz4 from prebuilt napi-rs packages.
 */
import {promisify} from 'node:util'
import zlib from 'node:zlib'

import kafkajs from 'kafkajs'
import {compressFrame, decompressFrameSync} from 'lz4-napi'
import {compress as snappyCompress, uncompress as snappyUncompress} from 'snappy'

interface Codec {
  compress(encoder: {buffer: Buffer}): Promise<Buffer>
  decompress(buffer: Buffer): Promise<Buffer>
}

const zstdCompress = promisify(zlib.zstdCompress)
const zstdDecompress = promisify(zlib.zstdDecompress)

export const zstdCodec: Codec = {
  compress: async (encoder) => zstdCompress(encoder.buffer),
  decompress: async (buffer) => zstdDecompress(buffer),
}

/**
 * lz4 is decompressed on the calling thread: lz4-napi allocates with its own mimalloc, and a batch
 * decompressed on libuv's threads but freed on the main thread (when V8 collects its Buffer) is
 * kept by those threads' heaps. The events worker's RSS crept from 233 to 306 MiB over a
 * 1,000,000-event lz4 drain that way (glibc's malloc settings changed nothing). lz4 decodes at
 * GB/s: a batch of a few hundred KiB takes a fraction of a millisecond.
 */
export const lz4Codec: Codec = {
  compress: async (encoder) => compressFrame(encoder.buffer),
  decompress: async (buffer) => decompressFrameSync(buffer),
}

/**
 * The Java client writes snappy in xerial's stream framing (magic, version, then length-prefixed
 * blocks); librdkafka and kafkajs-snappy may write a raw block. Both are read; xerial is written,
 * which every client reads.
 */
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00])
const XERIAL_HEADER_LENGTH = 16
const XERIAL_BLOCK_SIZE = 32 * 1024

export function isXerialFramed(buffer: Buffer): boolean {
  return buffer.length >= XERIAL_HEADER_LENGTH && buffer.subarray(0, XERIAL_MAGIC.length).equals(XERIAL_MAGIC)
}

export async function snappyDecompress(buffer: Buffer): Promise<Buffer> {
  if (!isXerialFramed(buffer)) return (await snappyUncompress(buffer)) as Buffer
  const blocks: Buffer[] = []
  let position = XERIAL_HEADER_LENGTH
  while (position < buffer.length) {
    if (position + 4 > buffer.length) throw new Error('snappy (xerial) block header is truncated')
    const length = buffer.readUInt32BE(position)
    position += 4
    if (position + length > buffer.length) throw new Error('snappy (xerial) block is truncated')
    blocks.push((await snappyUncompress(buffer.subarray(position, position + length))) as Buffer)
    position += length
  }
  return Buffer.concat(blocks)
}

export async function snappyCompressXerial(input: Buffer): Promise<Buffer> {
  const header = Buffer.alloc(XERIAL_HEADER_LENGTH)
  XERIAL_MAGIC.copy(header)
  header.writeInt32BE(1, 8) // version
  header.writeInt32BE(1, 12) // minimum compatible version
  const parts: Buffer[] = [header]
  for (let start = 0; start < input.length; start += XERIAL_BLOCK_SIZE) {
    const block = await snappyCompress(input.subarray(start, start + XERIAL_BLOCK_SIZE))
    const length = Buffer.alloc(4)
    length.writeUInt32BE(block.length)
    parts.push(length, block)
  }
  return Buffer.concat(parts)
}

export const snappyCodec: Codec = {
  compress: async (encoder) => snappyCompressXerial(encoder.buffer),
  decompress: snappyDecompress,
}

let registered = false

/** Registers the snappy, lz4 and zstd codecs with kafkajs (once per process). */
export function registerCompressionCodecs(): void {
  if (registered) return
  const {CompressionCodecs, CompressionTypes} = kafkajs
  const codecs = CompressionCodecs as unknown as Record<number, () => Codec>
  codecs[CompressionTypes.Snappy] = () => snappyCodec
  codecs[CompressionTypes.LZ4] = () => lz4Codec
  codecs[CompressionTypes.ZSTD] = () => zstdCodec
  registered = true
}
