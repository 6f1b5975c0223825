import avro from 'avsc'
import {describe, expect, it} from 'vitest'

import {rabinFingerprint, rabinFingerprint64} from '../../../src/lib/records/rabin.js'

// Test vectors from the Avro project: apache/avro share/test/data/schema-tests.txt
// (canonical form → fingerprint, written there as a signed 64-bit integer).
const VECTORS: [string, bigint][] = [
  ['"null"', 7195948357588979594n],
  ['"boolean"', -6970731678124411036n],
  ['"int"', 8247732601305521295n],
  ['"long"', -3434872931120570953n],
  ['"float"', 5583340709985441680n],
  ['"double"', -8181574048448539266n],
  ['"bytes"', 5746618253357095269n],
  ['"string"', -8142146995180207161n],
  ['[]', -1241056759729112623n],
  ['["int"]', -5232228896498058493n],
  ['["int","boolean"]', 5392556393470105090n],
  ['{"name":"foo","type":"record","fields":[]}', -4824392279771201922n],
  ['{"name":"x.y.foo","type":"record","fields":[]}', 5916914534497305771n],
  ['{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"}]}', 7843277075252814651n],
  ['{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"},{"name":"f2","type":"int"}]}', -4860222112080293046n],
  ['{"name":"foo","type":"enum","symbols":["A1"]}', -6342190197741309591n],
  ['{"name":"x.y.z.foo","type":"fixed","size":32}', -3064184465700546786n],
  ['{"type":"array","items":"null"}', -589620603366471059n],
  ['{"type":"map","values":"string"}', -8732877298790414990n],
  [
    '{"name":"PigValue","type":"record","fields":[{"name":"value","type":["null","int","long","PigValue"]}]}',
    -1759257747318642341n,
  ],
]

describe('rabinFingerprint (CRC-64-AVRO)', () => {
  it.each(VECTORS)('fingerprints %s as the Avro specification does', (canonical, signed) => {
    expect(BigInt.asIntN(64, rabinFingerprint64(canonical))).toBe(signed)
  })

  it('writes the fingerprint little-endian', () => {
    // "int" → 8247732601305521295 = 0x7275d51a3f395c8f
    expect(rabinFingerprint('"int"').toString('hex')).toBe('8f5c393f1ad57572')
  })

  it('agrees with the vectors when the canonical form comes from avsc', () => {
    const type = avro.Type.forSchema({fields: [], type: 'record', name: 'foo', namespace: 'x.y', doc: 'ignored'} as never)
    expect(BigInt.asIntN(64, rabinFingerprint64(JSON.stringify(type.schema())))).toBe(5916914534497305771n)
  })
})
