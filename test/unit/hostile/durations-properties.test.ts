/**
 * Hostile input for the duration and size parsers (issue #12): whatever text or number arrives
 * (a flag, an environment variable, a kpipe.yaml value), the answer is a safe whole number or a
 * ParseError, never another exception, never a non-number, and never a slow regular expression.
 */
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {formatDuration, ParseError, parseDuration, parseSize} from '../../../src/lib/durations.js'

const UNIT_TEXT = ['ms', 's', 'm', 'h', 'd', 'w', 'b', 'kb', 'KiB', 'mib', 'GB', 'TiB', 'x', 'i']

/** Text shaped like a duration or size, and its near misses: the inputs a regex could backtrack on. */
const durationLike = fc
  .tuple(
    fc.stringMatching(/^[\d.]{0,40}$/),
    fc.constantFrom('', ' ', '\t', ' '.repeat(5000)),
    fc.constantFrom(...UNIT_TEXT),
    fc.constantFrom('', ' ', 'x', 's'.repeat(3000)),
  )
  .map((parts) => parts.join(''))

/** Long runs that make a careless pattern take exponential or quadratic time. */
const pathological = fc.oneof(
  fc.integer({min: 1, max: 50_000}).map((n) => '9'.repeat(n)),
  fc.integer({min: 1, max: 50_000}).map((n) => `${'1'.repeat(n)}.${'2'.repeat(n)}x`),
  fc.integer({min: 1, max: 50_000}).map((n) => `1${' '.repeat(n)}`),
  fc.integer({min: 1, max: 50_000}).map((n) => `1${' '.repeat(n)}q`),
  fc.integer({min: 1, max: 20_000}).map((n) => '1.'.repeat(n)),
  fc.integer({min: 1, max: 20_000}).map((n) => `${'m'.repeat(n)}s`),
  fc.integer({min: 1, max: 20_000}).map((n) => `1${'ki'.repeat(n)}b`),
)

const anyInput: fc.Arbitrary<string | number> = fc.oneof(
  fc.string({unit: 'binary', maxLength: 60}),
  durationLike,
  pathological,
  fc.double(),
  fc.integer(),
  fc.constantFrom(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1, 1e300, Infinity, -Infinity, Number.NaN, -0),
)

/** A parser's answer: the number, or the ParseError's message; anything else thrown fails. */
function classify(parse: (input: string | number) => number, input: string | number): {ok: true; value: number} | {ok: false; message: string} {
  try {
    return {ok: true, value: parse(input)}
  } catch (error) {
    if (error instanceof ParseError) return {ok: false, message: error.message}
    throw error
  }
}

describe.each([
  ['parseDuration', parseDuration],
  ['parseSize', parseSize],
])('%s on hostile input', (_name, parse) => {
  it('gives a safe non-negative whole number or a ParseError with a sentence, never anything else', () => {
    fc.assert(
      fc.property(anyInput, (input) => {
        const result = classify(parse, input)
        if (result.ok) {
          expect(Number.isSafeInteger(result.value), `${String(input).slice(0, 60)} → ${result.value}`).toBe(true)
          expect(result.value).toBeGreaterThanOrEqual(0)
        } else {
          expect(result.message.length).toBeGreaterThan(10)
          // The message quotes the input, so it must not be the input's whole size times something.
          expect(result.message.length).toBeLessThan(String(input).length + 200)
        }
      }),
      {numRuns: 500},
    )
  })

  it('answers in linear time on runs of digits, spaces and unit letters (no regex backtracking)', () => {
    // 200,000-character inputs: a quadratic pattern takes minutes here, a linear one milliseconds;
    // the test's own timeout is the bound, so this is no timing assertion.
    for (const input of ['9'.repeat(200_000), `${'1'.repeat(100_000)}.${'1'.repeat(100_000)}q`, `1${' '.repeat(200_000)}q`, `1${'ki'.repeat(100_000)}b`]) {
      expect(classify(parse, input).ok).toBe(false)
    }
  }, 10_000)
})

describe('formatDuration and parseDuration', () => {
  it('round-trip every safe whole number of milliseconds', () => {
    fc.assert(
      fc.property(fc.oneof(fc.nat(), fc.maxSafeNat(), fc.integer({min: 0, max: 10_000}).map((n) => n * 86_400_000)), (ms) => {
        expect(parseDuration(formatDuration(ms))).toBe(ms)
      }),
      {numRuns: 1000},
    )
  })
})
