/**
 * Hostile input for the configuration loader (issue #12): whatever kpipe.yaml holds and whatever
 * the KPIPE_* variables say, loadConfig gives a configuration or a ConfigError / UsageError
 * (exit 2 with a sentence), never another exception and never a hang.
 */
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import fc from 'fast-check'
import {stringify} from 'yaml'
import {afterAll, describe, expect, it} from 'vitest'

import {ENV_VARS, loadConfig, type ResolvedConfig} from '../../../src/lib/config.js'
import {ConfigError, UsageError} from '../../../src/lib/errors.js'

const dir = mkdtempSync(path.join(tmpdir(), 'kpipe-config-properties-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

/** The loader's answer, or the classified error; anything else thrown fails the property. */
function load(options: Parameters<typeof loadConfig>[0]): ResolvedConfig | ConfigError | UsageError {
  try {
    return loadConfig(options)
  } catch (error) {
    if (error instanceof ConfigError || error instanceof UsageError) {
      expect(error.message.length).toBeGreaterThan(10)
      return error
    }
    throw error
  }
}

let cases = 0
/** Writes the YAML text as kpipe.yaml of a fresh directory and loads it from there. */
function loadYaml(text: string, env: NodeJS.ProcessEnv = {}): ResolvedConfig | ConfigError | UsageError {
  const cwd = path.join(dir, String(cases++))
  mkdirSync(cwd)
  writeFileSync(path.join(cwd, 'kpipe.yaml'), text)
  return load({cwd, env})
}

const SECTIONS = ['kafka', 'postgres', 'redis', 'bigquery', 'log', 'metrics', 'logs', 'topics']
const KEYS = ['brokers', 'clientId', 'ssl', 'caFile', 'sasl', 'mechanism', 'username', 'password', 'passwordFile', 'connectionTimeout', 'requestTimeout', 'url', 'project', 'dataset', 'endpoint', 'level', 'port', 'host', 'retention', 'retentionBytes', 'partitions', 'replicationFactor', 'config', 'events', '__proto__', 'constructor']

/** YAML-able values whose keys are mostly the loader's own: deep enough to reach every branch. */
const leaf = fc.oneof(
  fc.string({maxLength: 30}),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom('1s', '9'.repeat(400), '7d', '1GiB', '-1', 'localhost:9092', 'postgres://u:p@h/db', 'scram-sha-256', 'info', '1e400'),
)
const {tree} = fc.letrec((tie) => ({
  tree: fc.oneof({depthSize: 'small', withCrossShrink: true}, leaf, fc.array(tie('tree'), {maxLength: 4}), fc.dictionary(fc.constantFrom(...KEYS), tie('tree'), {maxKeys: 5})),
}))
const configLike = fc.dictionary(fc.constantFrom(...SECTIONS, 'unknown'), tree, {maxKeys: 6})

/** kpipe.yaml's durations and sizes, each hostile: what reaches parseDuration and parseSize from a file. */
const quantity = fc.oneof(
  fc.constantFrom('1s', '7d', '1GiB', '-1', '1e400', '9'.repeat(400), `${'9'.repeat(30)}d`, `${'9'.repeat(30)}TiB`, 1e300, Number.MAX_SAFE_INTEGER + 2),
  fc.stringMatching(/^[\d.]{1,25} ?(ms|s|m|h|d|w|b|kb|KiB|MiB|GiB|TiB)?$/),
  fc.double(),
)
const maybe = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, {nil: undefined})
const quantitiesConfig = fc.record({
  kafka: fc.record({connectionTimeout: maybe(quantity), requestTimeout: maybe(quantity)}, {requiredKeys: []}),
  logs: fc.record({retention: maybe(quantity)}, {requiredKeys: []}),
  topics: fc.record({events: fc.record({retention: maybe(quantity), retentionBytes: maybe(quantity)}, {requiredKeys: []})}),
})

/** Raw text that stresses the YAML parser itself: anchors, aliases, tags, directives, bad indentation. */
const yamlFragments = fc.constantFrom(
  '&a [*a]',
  'a: &x [1, 2]\nb: *x\n',
  'x: !!binary "AAEC"\n',
  '%YAML 1.1\n---\nkafka: {ssl: yes}\n',
  '%YAML 1.1\n---\n2001-12-14t21:59:43.10-05:00\n',
  '? [1, 2]\n: 3\n',
  'kafka:\n\tbrokers: x\n',
  'a: 1\na: 2\n',
  '!!set {a, b}',
  '---\n...\n---\n',
  '"\\ud800"',
  `${'['.repeat(5000)}${']'.repeat(5000)}`,
  `${'- '.repeat(2000)}x`,
  `a: ${'9'.repeat(5000)}`,
  `x: &a [${Array.from({length: 50}, () => '*a').join(',')}]`,
  // A billion laughs: each level repeats the one before ten times.
  ['a: &a [x,x,x,x,x,x,x,x,x,x]', ...Array.from({length: 9}, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]`)].join('\n'),
)
const yamlText = fc.oneof(
  fc.string({unit: 'binary', maxLength: 200}),
  fc.string({unit: fc.constantFrom(':', ' ', '-', '\n', '{', '}', '[', ']', '&', '*', '!', '"', "'", '#', '|', '>', 'a', '1', '\t', '?', '%'), maxLength: 200}),
  configLike.map((value) => stringify(value)),
  yamlFragments,
  fc.tuple(configLike.map((value) => stringify(value)), yamlFragments).map(([a, b]) => `${a}\n${b}`),
)

const envValue = fc.oneof(
  fc.string({unit: 'binary', maxLength: 40}).map((text) => text.replaceAll('\0', '')),
  fc.constantFrom('', ' ', 'true', 'no', '65536', '0', '00000000070000', 'host:9092', 'a:1,,b:2', ':9092', 'h:123456', 'postgres://u:p@h/db', 'not a url', 'PLAIN', 'silent', '/', '.', '..', 'kpipe.yaml'),
  fc.integer({min: 1, max: 20_000}).map((n) => '9'.repeat(n)),
  fc.integer({min: 1, max: 20_000}).map((n) => `a${':'.repeat(n)}`),
  fc.integer({min: 1, max: 20_000}).map((n) => `${'a'.repeat(n)}://`),
)
const envLike = fc.dictionary(fc.constantFrom(...Object.keys(ENV_VARS), 'KPIPE_CONFIG'), envValue, {maxKeys: 6})
/** Environment that leaves the file in charge (KPIPE_CONFIG would point elsewhere). */
const envOverFile = fc.dictionary(fc.constantFrom(...Object.keys(ENV_VARS)), envValue, {maxKeys: 3})

describe('loadConfig on hostile input', () => {
  it('arbitrary kpipe.yaml text: a configuration or a ConfigError, nothing else', () => {
    fc.assert(
      fc.property(yamlText, (text) => {
        load({cwd: dir, env: {}}) // the directory itself has no kpipe.yaml: the defaults
        const result = loadYaml(text)
        if (!(result instanceof Error)) expect(result.file).toMatch(/kpipe\.yaml$/)
      }),
      {numRuns: 300},
    )
  })

  it('arbitrary KPIPE_* values, KPIPE_CONFIG included: a configuration or a ConfigError, nothing else', () => {
    fc.assert(
      fc.property(envLike, (env) => {
        const result = load({cwd: dir, env})
        // What was accepted was parsed: brokers are host:port, the port a port, timeouts finite.
        if (!(result instanceof Error)) {
          for (const broker of result.config.kafka.brokers) expect(broker).toMatch(/^[^\s:]+:\d{1,5}$/)
          expect(result.config.metrics.port).toBeLessThanOrEqual(65535)
        }
      }),
      {numRuns: 300},
    )
  })

  it('arbitrary YAML with arbitrary environment over it: every accepted duration and size is a safe whole number', () => {
    fc.assert(
      fc.property(fc.oneof(configLike, quantitiesConfig), envOverFile, (value, env) => {
        const result = loadYaml(stringify(value), env)
        if (result instanceof Error) return
        const {kafka, logs, topics} = result.config
        for (const ms of [kafka.connectionTimeoutMs, kafka.requestTimeoutMs, logs.retentionMs]) expect(Number.isSafeInteger(ms)).toBe(true)
        for (const topic of Object.values(topics)) {
          for (const n of [topic.retentionMs, topic.retentionBytes]) if (n !== undefined) expect(Number.isSafeInteger(n)).toBe(true)
        }
      }),
      {numRuns: 300},
    )
  })

  it('a KPIPE_CONFIG or ./kpipe.yaml that is a directory is a ConfigError naming it', () => {
    const viaEnv = load({cwd: dir, env: {KPIPE_CONFIG: dir}})
    expect(viaEnv).toBeInstanceOf(ConfigError)
    expect((viaEnv as ConfigError).message).toMatch(/cannot be read/)
    const cwd = path.join(dir, 'with-a-directory')
    mkdirSync(path.join(cwd, 'kpipe.yaml'), {recursive: true})
    expect(load({cwd, env: {}})).toBeInstanceOf(ConfigError)
  })

  it('a long timeout written as digits is refused, not turned into Infinity', () => {
    const result = loadYaml(`kafka: {requestTimeout: "${'9'.repeat(400)}"}\nlogs: {retention: "${'9'.repeat(400)}"}\n`)
    expect(result).toBeInstanceOf(ConfigError)
    expect((result as ConfigError).message).toMatch(/too large a duration/)
  })
})
