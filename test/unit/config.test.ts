import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {DEFAULT_TOPICS, describeConfig, loadConfig, redactUrl, resolveConfig} from '../../src/lib/config.js'
import {ConfigError} from '../../src/lib/errors.js'

const file = (text: string) => ({path: '/etc/kpipe/kpipe.yaml', text})

function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return error as ConfigError
  }
  throw new Error('expected a ConfigError')
}

describe('resolveConfig: layers', () => {
  it('defaults point at the local stack', () => {
    const {config, sources} = resolveConfig({env: {}, flags: {}})
    expect(config.kafka.brokers).toEqual(['localhost:9092'])
    expect(config.postgres.url).toBe('postgres://localhost:5432/kpipe')
    expect(config.redis.url).toBe('redis://localhost:6379')
    expect(config.bigquery).toEqual({project: 'local', dataset: 'analytics', endpoint: 'http://localhost:9050'})
    expect(config.topics).toEqual(DEFAULT_TOPICS)
    expect(sources['kafka.brokers']).toBe('default')
  })

  it('flags beat environment, which beats the file, which beats defaults', () => {
    const text = 'kafka: {brokers: [file:9092], clientId: from-file}\npostgres: {url: "postgres://file/db"}\nredis: {url: "redis://file:6379"}\n'
    const {config, sources} = resolveConfig({
      file: file(text),
      env: {KPIPE_BROKERS: 'env-1:9092,env-2:9092', KPIPE_PG_URL: 'postgres://env/db'},
      flags: {'kafka.brokers': {flag: 'brokers', value: 'flag:9092'}},
    })
    expect(config.kafka.brokers).toEqual(['flag:9092'])
    expect(sources['kafka.brokers']).toBe('flag --brokers')
    expect(config.postgres.url).toBe('postgres://env/db')
    expect(sources['postgres.url']).toBe('env KPIPE_PG_URL')
    expect(config.redis.url).toBe('redis://file:6379')
    expect(sources['redis.url']).toBe('file /etc/kpipe/kpipe.yaml')
    expect(config.kafka.clientId).toBe('from-file')
    expect(config.bigquery.project).toBe('local')
    expect(sources['bigquery.project']).toBe('default')
  })

  it('splits comma-separated brokers from the environment', () => {
    expect(resolveConfig({env: {KPIPE_BROKERS: ' a:1 , b:2 '}, flags: {}}).config.kafka.brokers).toEqual(['a:1', 'b:2'])
  })

  it('merges topics over the defaults one topic at a time', () => {
    const text = 'topics:\n  events:\n    retention: 1d\n    config: {compression.type: zstd}\n  orders:\n    partitions: 12\n  analytics: ~\n'
    const {config, sources} = resolveConfig({file: file(text), env: {}, flags: {}})
    expect(config.topics.events).toEqual({partitions: 6, replicationFactor: undefined, retentionMs: 86_400_000, retentionBytes: undefined, config: {'compression.type': 'zstd'}})
    expect(config.topics.orders?.partitions).toBe(12)
    expect(config.topics.analytics).toBeUndefined()
    expect(config.topics.logs).toEqual(DEFAULT_TOPICS.logs)
    expect(sources['topics.events']).toBe('file /etc/kpipe/kpipe.yaml')
    expect(sources['topics.logs']).toBe('default')
  })

  it('parses sizes and stringifies passthrough config values', () => {
    const {config} = resolveConfig({file: file('topics:\n  t:\n    retentionBytes: 1GiB\n    config: {max.message.bytes: 1048576, preallocate: true}\n'), env: {}, flags: {}})
    expect(config.topics.t).toMatchObject({retentionBytes: 1_073_741_824, config: {'max.message.bytes': '1048576', preallocate: 'true'}})
  })

  it('an empty KPIPE_BQ_ENDPOINT means Google, not the emulator', () => {
    const {config} = resolveConfig({env: {KPIPE_BQ_ENDPOINT: ''}, flags: {}})
    expect(config.bigquery.endpoint).toBeUndefined()
  })

  it('takes SASL from the environment as a whole', () => {
    const {config} = resolveConfig({
      env: {KPIPE_KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512', KPIPE_KAFKA_USERNAME: 'u', KPIPE_KAFKA_PASSWORD: 'p', KPIPE_KAFKA_SSL: 'true'},
      flags: {},
    })
    expect(config.kafka.sasl).toEqual({mechanism: 'scram-sha-512', username: 'u', password: 'p'})
    expect(config.kafka.ssl).toBe(true)
  })

  it('reads the SASL password from KPIPE_KAFKA_PASSWORD_FILE, and refuses it beside KPIPE_KAFKA_PASSWORD', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kpipe-config-'))
    const file = path.join(dir, 'kafka-password')
    writeFileSync(file, 's3cret\n')
    const env = {KPIPE_KAFKA_SASL_MECHANISM: 'scram-sha-512', KPIPE_KAFKA_USERNAME: 'app', KPIPE_KAFKA_PASSWORD_FILE: file}
    const resolved = resolveConfig({env, flags: {}})
    expect(resolved.config.kafka.sasl).toEqual({mechanism: 'scram-sha-512', username: 'app', password: 's3cret'})
    expect(resolved.sources['kafka.sasl.password']).toBe('env KPIPE_KAFKA_PASSWORD_FILE')
    expect(() => resolveConfig({env: {...env, KPIPE_KAFKA_PASSWORD: 'other'}, flags: {}})).toThrow(/KPIPE_KAFKA_PASSWORD and KPIPE_KAFKA_PASSWORD_FILE are both set/)
    expect(() => resolveConfig({env: {...env, KPIPE_KAFKA_PASSWORD_FILE: path.join(dir, 'missing')}, flags: {}})).toThrow(ConfigError)
  })

  it('takes a client certificate for mutual TLS from KPIPE_KAFKA_CERT_FILE and KPIPE_KAFKA_KEY_FILE, both or neither, with TLS', () => {
    const env = {KPIPE_KAFKA_SSL: 'true', KPIPE_KAFKA_CERT_FILE: '/run/secrets/client.crt', KPIPE_KAFKA_KEY_FILE: '/run/secrets/client.key'}
    const resolved = resolveConfig({env, flags: {}})
    expect(resolved.config.kafka).toMatchObject({certFile: '/run/secrets/client.crt', keyFile: '/run/secrets/client.key'})
    expect(resolved.sources['kafka.keyFile']).toBe('env KPIPE_KAFKA_KEY_FILE')
    expect(configErrorOf(() => resolveConfig({env: {...env, KPIPE_KAFKA_KEY_FILE: ''}, flags: {}})).message).toBe('Mutual TLS is half configured: kafka.keyFile is missing.')
    expect(configErrorOf(() => resolveConfig({env: {...env, KPIPE_KAFKA_SSL: 'false'}, flags: {}})).message).toMatch(/TLS is off/)
    const {config} = resolveConfig({env: {}, flags: {}, file: file('kafka:\n  ssl: true\n  certFile: /etc/kpipe/c.pem\n  keyFile: /etc/kpipe/k.pem\n')})
    expect(config.kafka).toMatchObject({certFile: '/etc/kpipe/c.pem', keyFile: '/etc/kpipe/k.pem'})
  })

  it('reads the SASL password from passwordFile next to kpipe.yaml', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kpipe-config-'))
    writeFileSync(path.join(dir, 'secret'), 's3cret\n')
    writeFileSync(path.join(dir, 'kpipe.yaml'), 'kafka:\n  sasl: {mechanism: plain, username: app, passwordFile: secret}\n')
    const {config} = loadConfig({cwd: dir, env: {}})
    expect(config.kafka.sasl).toEqual({mechanism: 'plain', username: 'app', password: 's3cret'})
  })
})

describe('resolveConfig: validation names the key and the file', () => {
  it.each([
    ['kafka: {brokrs: [a:1]}', /unknown key "kafka\.brokrs"/],
    ['kafak: {}', /unknown key "kafak"/],
    ['topics: {events: {retention: 7x}}', /key "topics\.events\.retention" is invalid: "7x" is not a duration/],
    ['topics: {events: {partitions: "six"}}', /key "topics\.events\.partitions" should be number/],
    ['topics: {events: {partitions: 0}}', /topics\.events\.partitions/],
    ['topics: {"bad name!": {partitions: 1}}', /topic name/],
    ['kafka: {sasl: {mechanism: gssapi, username: u}}', /kafka\.sasl\.mechanism" must be one of plain, scram-sha-256, scram-sha-512/],
    ['log: {level: loud}', /log\.level/],
    ['metrics: {port: 70000}', /metrics\.port/],
    ['kafka: [1, 2]', /kafka" should be object/],
    ['- just\n- a list', /must be a YAML mapping/],
    ['kafka: {brokers: [a:1]\n', /not valid YAML/],
    ['kafka: {sasl: {mechanism: plain, username: u, password: p}}', /"kafka\.sasl\.password" is not allowed/],
  ])('%j', (text, message) => {
    const error = configErrorOf(() => resolveConfig({file: file(text), env: {}, flags: {}}))
    expect(error.message).toMatch(message)
    expect(error.message).toContain('/etc/kpipe/kpipe.yaml')
    expect(error.exitCode).toBe(2)
  })

  it.each([
    [{KPIPE_BROKERS: 'no-port'}, /KPIPE_BROKERS: "no-port" is not a broker address/],
    [{KPIPE_KAFKA_SSL: 'maybe'}, /KPIPE_KAFKA_SSL: "maybe" is not a boolean/],
    [{KPIPE_METRICS_PORT: '99999'}, /KPIPE_METRICS_PORT: "99999" is not a port/],
    [{KPIPE_LOG_LEVEL: 'chatty'}, /KPIPE_LOG_LEVEL/],
    [{KPIPE_PG_URL: 'not a url'}, /KPIPE_PG_URL: "not a url" is not a URL/],
    [{KPIPE_KAFKA_SASL_MECHANISM: 'kerberos'}, /not a SASL mechanism/],
    [{KPIPE_KAFKA_USERNAME: 'u'}, /SASL is half configured: kafka\.sasl\.mechanism is missing/],
    [{KPIPE_BQ_DATASET: 'bad-name'}, /^environment variable KPIPE_BQ_DATASET: "bad-name" is not a BigQuery dataset name/],
    [{KPIPE_BQ_DATASET: 'a`; DROP'}, /KPIPE_BQ_DATASET: "a`; DROP" is not a BigQuery dataset name/],
  ])('environment %j', (env, message) => {
    const error = configErrorOf(() => resolveConfig({env, flags: {}}))
    expect(error.message).toMatch(message)
  })

  it('names the flag when a flag value is bad', () => {
    const error = configErrorOf(() => resolveConfig({env: {}, flags: {'kafka.brokers': {flag: 'brokers', value: 'x'}}}))
    expect(error.message).toMatch(/^flag --brokers:/)
    const dataset = configErrorOf(() => resolveConfig({env: {}, flags: {'bigquery.dataset': {flag: 'bq-dataset', value: 'my.dataset'}}}))
    expect(dataset.message).toMatch(/^flag --bq-dataset: "my\.dataset" is not a BigQuery dataset name/)
  })

  it('says when --config points nowhere', () => {
    const error = configErrorOf(() => loadConfig({configPath: '/nonexistent/kpipe.yaml', env: {}}))
    expect(error.message).toBe('The configuration file /nonexistent/kpipe.yaml (from --config) does not exist.')
  })

  it('finds ./kpipe.yaml, and KPIPE_CONFIG before it', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kpipe-config-'))
    writeFileSync(path.join(dir, 'kpipe.yaml'), 'kafka: {clientId: local-file}\n')
    writeFileSync(path.join(dir, 'other.yaml'), 'kafka: {clientId: other-file}\n')
    expect(loadConfig({cwd: dir, env: {}}).config.kafka.clientId).toBe('local-file')
    expect(loadConfig({cwd: dir, env: {KPIPE_CONFIG: 'other.yaml'}}).config.kafka.clientId).toBe('other-file')
    expect(loadConfig({cwd: dir, env: {}, configPath: 'other.yaml'}).file).toBe(path.join(dir, 'other.yaml'))
  })
})

describe('redaction', () => {
  it.each([
    ['postgres://user:secret@host:5432/db', 'postgres://user:***@host:5432/db'],
    ['redis://:secret@host:6379', 'redis://:***@host:6379'],
    ['postgres://host/db', 'postgres://host/db'],
    ['postgres://user@host/db', 'postgres://user@host/db'],
    ['postgres://host/db?password=secret', 'postgres://host/db?password=***'],
    ['postgres://host/db?sslmode=require&password=secret&application_name=x', 'postgres://host/db?sslmode=require&password=***&application_name=x'],
    ['postgres://u:a@host/db?sslpassword=keypass', 'postgres://u:***@host/db?sslpassword=***'],
    ['postgres://host/db?user=kpipe', 'postgres://host/db?user=kpipe'],
  ])('%s', (url, redacted) => {
    expect(redactUrl(url)).toBe(redacted)
  })

  it('config show never prints a password given as ?password= in the URL', () => {
    const resolved = resolveConfig({env: {KPIPE_PG_URL: 'postgres://localhost/kpipe?password=qpass'}, flags: {}})
    expect(JSON.stringify(describeConfig(resolved))).not.toContain('qpass')
  })

  it('a password read from kafka.sasl.passwordFile says so as its source', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kpipe-config-'))
    writeFileSync(path.join(dir, 'secret'), 'filepass\n')
    const file = path.join(dir, 'kpipe.yaml')
    const text = 'kafka:\n  sasl: {mechanism: plain, username: app, passwordFile: secret}\n'
    writeFileSync(file, text)
    const row = describeConfig(resolveConfig({file: {path: file, text}, env: {}, flags: {}})).find((r) => r.key === 'kafka.sasl.password')
    expect(row).toEqual({key: 'kafka.sasl.password', value: '***', source: 'file secret (kafka.sasl.passwordFile)'})
  })

  it('config show never carries a secret', () => {
    const resolved = resolveConfig({
      env: {KPIPE_KAFKA_SASL_MECHANISM: 'plain', KPIPE_KAFKA_USERNAME: 'u', KPIPE_KAFKA_PASSWORD: 'hunter2', KPIPE_PG_URL: 'postgres://a:pgpass@h/db'},
      flags: {},
    })
    const text = JSON.stringify(describeConfig(resolved))
    expect(text).not.toContain('hunter2')
    expect(text).not.toContain('pgpass')
    expect(describeConfig(resolved).find((r) => r.key === 'kafka.sasl.password')).toEqual({key: 'kafka.sasl.password', value: '***', source: 'env KPIPE_KAFKA_PASSWORD'})
  })
})
