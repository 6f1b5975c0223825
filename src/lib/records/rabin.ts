/**
 * CRC-64-AVRO, the 64-bit Rabin fingerprint the Avro specification uses in single-object
 * encoding. Written here because avsc 5.7's `Type#fingerprint(algorithm)` only hands the
 * algorithm name to node:crypto (md5, sha256, ...), which has no Rabin fingerprint. It runs
 * once per schema at start-up, so BigInt's speed is of no concern.
 */
const EMPTY = 0xc15d213aa4d7a795n
const MASK = 0xffffffffffffffffn

const TABLE: bigint[] = (() => {
  const table: bigint[] = []
  for (let i = 0; i < 256; i++) {
    let fp = BigInt(i)
    for (let bit = 0; bit < 8; bit++) fp = (fp >> 1n) ^ (EMPTY & -(fp & 1n) & MASK)
    table.push(fp)
  }
  return table
})()

/** The fingerprint as an unsigned 64-bit integer. */
export function rabinFingerprint64(data: string | Uint8Array): bigint {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
  let fp = EMPTY
  for (const byte of bytes) fp = (fp >> 8n) ^ TABLE[Number((fp ^ BigInt(byte)) & 0xffn)]!
  return fp
}

/** The fingerprint as the 8 little-endian bytes written after the single-object marker. */
export function rabinFingerprint(data: string | Uint8Array): Buffer {
  const out = Buffer.alloc(8)
  out.writeBigUInt64LE(rabinFingerprint64(data))
  return out
}
