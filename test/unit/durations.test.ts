import {describe, expect, it} from 'vitest'

import {formatDuration, humanDuration, ParseError, parseDuration, parseSize} from '../../src/lib/durations.js'

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['12h', 43_200_000],
    ['7d', 604_800_000],
    ['1w', 604_800_000],
    ['1.5s', 1500],
    ['  2h ', 7_200_000],
    ['7D', 604_800_000],
    ['0', 0],
    ['250', 250],
    [42, 42],
  ])('%s → %i ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms)
  })
  it.each(['7x', '', 'd', '-1s', '1 day', '1e3s', 'abc', '7dd'])('rejects %j with a sentence', (input) => {
    expect(() => parseDuration(input)).toThrow(ParseError)
    expect(() => parseDuration(input)).toThrow(/is not a duration/)
  })
  it('rejects negative and fractional numbers', () => {
    expect(() => parseDuration(-1)).toThrow(ParseError)
    expect(() => parseDuration(1.5)).toThrow(ParseError)
  })
})

describe('parseSize', () => {
  it.each([
    ['512KiB', 524_288],
    ['1GiB', 1_073_741_824],
    ['10MB', 10_000_000],
    ['1mib', 1_048_576],
    ['100b', 100],
    ['1048576', 1_048_576],
    [2048, 2048],
  ])('%s → %i bytes', (input, bytes) => {
    expect(parseSize(input)).toBe(bytes)
  })
  it.each(['1GB?', '1 gigabyte', 'KiB', '-5', '7x'])('rejects %j', (input) => {
    expect(() => parseSize(input)).toThrow(/is not a size/)
  })
})

describe('formatDuration', () => {
  it.each([
    [604_800_000, '7d'],
    [2_592_000_000, '30d'],
    [3_600_000, '1h'],
    [90_000, '90s'],
    [1500, '1500ms'],
    [0, '0ms'],
    [-1, '-1'],
  ])('%i → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text)
  })
  it('round-trips with parseDuration', () => {
    for (const ms of [1, 999, 1000, 61_000, 3_600_000, 86_400_000 * 3]) expect(parseDuration(formatDuration(ms))).toBe(ms)
  })
})

describe('humanDuration', () => {
  it.each([
    [250, '250ms'],
    [1234, '1.2s'],
    [93_000, '1m33s'],
    [3_723_000, '1h2m'],
    [90_000_000, '1d1h'],
    [Number.POSITIVE_INFINITY, '-'],
  ])('%d → %s', (ms, text) => {
    expect(humanDuration(ms)).toBe(text)
  })
})
