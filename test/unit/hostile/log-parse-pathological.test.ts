/**
 * Hostile input for the log-line parser beyond the properties in test/unit/logs: megabyte lines
 * built from the characters its scanners stop at (quotes, `=`, digits, brackets, spaces, level
 * words), which a backtracking regular expression or a quadratic scan would take minutes on.
 * The test's timeout is the bound, not a timing assertion. Each must be a stored line (text, as
 * the README promises for anything that is not JSON or logfmt), never a dead letter or a throw.
 */
import {describe, expect, it} from 'vitest'

import {parseLogRecord} from '../../../src/lib/logs/log-parse.js'
import {MAX_JSON_DEPTH} from '../../../src/lib/records/envelope.js'
import type {SourceRecord} from '../../../src/lib/workers/types.js'

const N = 1_000_000
const record = (value: string): SourceRecord => ({topic: 'logs', partition: 0, offset: '0', key: null, value: Buffer.from(value), headers: {}, timestamp: '1767225600000'})

const LINES: [string, string][] = [
  ['digits', '9'.repeat(N)],
  ['spaces then text', `${' '.repeat(N)}x`],
  ['equals signs', '='.repeat(N)],
  ['logfmt pairs', 'a=b '.repeat(N / 4)],
  ['unclosed quotes in logfmt', `a="${'\\"'.repeat(N / 2)}`],
  ['quotes', '"'.repeat(N)],
  ['a timestamp with a huge fraction', `2026-01-01T00:00:00.${'1'.repeat(N)}Z ERROR boom`],
  ['timestamp-like runs', '2026-01-01T'.repeat(N / 11)],
  ['level words', 'ERROR '.repeat(N / 6)],
  ['bracketed levels', '['.repeat(N)],
  ['JSON nested past the depth limit', `${'{"a":'.repeat(MAX_JSON_DEPTH + 10)}1${'}'.repeat(MAX_JSON_DEPTH + 10)}`],
  ['JSON with a million-deep array', `{"a":${'['.repeat(N / 2)}${']'.repeat(N / 2)}}`],
  ['unicode escapes', `{"msg":"${'\\u0000'.repeat(N / 6)}"}`],
  ['a JSON line cut short', `{"msg":"${'x'.repeat(N)}`],
]

describe('parseLogRecord on megabyte pathological lines', () => {
  it.each(LINES)('%s: stored as a line', (_name, line) => {
    const outcome = parseLogRecord(record(line), {maxBytes: 8 * N})
    expect(outcome.ok).toBe(true)
  }, 10_000)

  it('the same lines one byte over the limit are oversize dead letters, unparsed', () => {
    for (const [, line] of LINES) {
      expect(parseLogRecord(record(line), {maxBytes: Buffer.byteLength(line) - 1})).toMatchObject({ok: false, errorClass: 'oversize'})
    }
  })
})
