import {describe, expect, it} from 'vitest'

import {decodedBytesOf, FetchSizer} from '../../../src/lib/workers/fetch-sizer.js'

const MiB = 1024 * 1024
const KiB = 1024

/** A sizer that has seen uncompressed records and grown to its 1 MiB limit. */
function uncompressedAtLimit(): FetchSizer {
  const sizer = new FetchSizer({maxBytes: MiB})
  sizer.valueOf()
  expect(sizer.observe(0.95 * 256 * KiB, true)).toBe(512 * KiB)
  sizer.valueOf()
  expect(sizer.observe(0.95 * 512 * KiB, true)).toBe(MiB)
  return sizer
}

describe('FetchSizer', () => {
  it('starts at 256 KiB (or a lower configured limit) and reads as that number, as kafkajs writes it', () => {
    const sizer = new FetchSizer({maxBytes: MiB})
    expect(sizer.limit).toBe(256 * KiB)
    expect(+sizer).toBe(256 * KiB)
    const buffer = Buffer.alloc(4)
    buffer.writeInt32BE(sizer as unknown as number)
    expect(buffer.readInt32BE()).toBe(256 * KiB)
    expect(new FetchSizer({maxBytes: 100 * KiB}).limit).toBe(100 * KiB)
  })

  it('reaches the configured limit within two fetches of uncompressed records, and never shrinks for them', () => {
    const sizer = uncompressedAtLimit()
    expect(sizer.limit).toBe(MiB)
    sizer.valueOf()
    expect(sizer.observe(0.93 * MiB, true)).toBeUndefined()
    expect(sizer.limit).toBe(MiB)
  })

  it('shrinks by the compression ratio when a fetch cut by the limit decodes to more', () => {
    const sizer = uncompressedAtLimit()
    sizer.valueOf()
    expect(sizer.observe(8 * MiB, true)).toBe(128 * KiB)
    expect(+sizer).toBe(128 * KiB)
    // The next fetch, at 128 KiB, decodes to ~1 MiB: the limit holds.
    expect(sizer.observe(1.02 * MiB, true)).toBeUndefined()
    expect(sizer.limit).toBe(128 * KiB)
  })

  it('judges the batches of one fetch by the limit that fetch was asked with, not a cascade', () => {
    const sizer = uncompressedAtLimit()
    sizer.valueOf() // the request for all six partitions is written at 1 MiB
    for (let partition = 0; partition < 6; partition++) sizer.observe(8 * MiB, true)
    expect(sizer.limit).toBe(128 * KiB)
  })

  it('does not move for a fetch that was not cut by the limit (the partition had little to give)', () => {
    const sizer = new FetchSizer({maxBytes: MiB})
    sizer.valueOf()
    expect(sizer.observe(8 * MiB, false)).toBeUndefined()
    expect(sizer.observe(10 * KiB, false)).toBeUndefined()
    expect(sizer.limit).toBe(256 * KiB)
  })

  it('grows back, at most doubling per fetch, when records compress less', () => {
    const sizer = uncompressedAtLimit()
    sizer.valueOf()
    sizer.observe(8 * MiB, true)
    sizer.valueOf()
    // At 128 KiB the records now decode to only 128 KiB: uncompressed again.
    expect(sizer.observe(128 * KiB, true)).toBe(256 * KiB)
    sizer.valueOf()
    expect(sizer.observe(256 * KiB, true)).toBe(512 * KiB)
    sizer.valueOf()
    expect(sizer.observe(512 * KiB, true)).toBe(MiB)
    sizer.valueOf()
    expect(sizer.observe(MiB, true)).toBeUndefined()
    expect(sizer.limit).toBe(MiB)
  })

  it('stays within [minBytes, maxBytes] and ignores changes under 20%', () => {
    const sizer = new FetchSizer({maxBytes: MiB, minBytes: 64 * KiB})
    sizer.valueOf()
    expect(sizer.observe(1000 * MiB, true)).toBe(64 * KiB)
    const small = new FetchSizer({maxBytes: 32 * KiB, minBytes: 64 * KiB})
    small.valueOf()
    expect(small.observe(100 * MiB, true)).toBeUndefined()
    expect(small.limit).toBe(32 * KiB)
    const steady = uncompressedAtLimit()
    steady.valueOf()
    expect(steady.observe(1.15 * MiB, true)).toBeUndefined()
  })
})

describe('decodedBytesOf', () => {
  it('adds the keys and values, with null keys and tombstones', () => {
    expect(decodedBytesOf([{key: Buffer.alloc(3), value: Buffer.alloc(10)}, {key: null, value: null}, {value: Buffer.alloc(5)}])).toBe(18)
  })
})
