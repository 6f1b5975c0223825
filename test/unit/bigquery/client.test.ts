import {describe, expect, it} from 'vitest'

import {createBigQuery, isEmulatorEndpoint} from '../../../src/lib/bigquery/client.js'
import {ConfigError} from '../../../src/lib/errors.js'

describe('createBigQuery', () => {
  it('treats only a plain-http endpoint as an emulator (no credentials sent); https and Google\'s own authenticate', () => {
    expect(isEmulatorEndpoint('http://localhost:9050')).toBe(true)
    expect(isEmulatorEndpoint('HTTP://10.0.0.5:9050/')).toBe(true)
    expect(isEmulatorEndpoint('https://bigquery-private.p.googleapis.com')).toBe(false)
    expect(isEmulatorEndpoint(undefined)).toBe(false)
  })

  it('points the client at the configured project and endpoint, and refuses a bad name before any request', () => {
    const client = createBigQuery({project: 'local', dataset: 'analytics', endpoint: 'http://localhost:9050/'})
    expect(client.projectId).toBe('local')
    expect(client.apiEndpoint).toBe('http://localhost:9050')
    expect(() => createBigQuery({project: 'local', dataset: 'bad-name', endpoint: 'http://localhost:9050'})).toThrow(ConfigError)
    expect(() => createBigQuery({project: 'bad project', dataset: 'analytics'})).toThrow(ConfigError)
  })
})
