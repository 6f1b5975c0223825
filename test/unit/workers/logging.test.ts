import {PassThrough} from 'node:stream'
import {describe, expect, it} from 'vitest'

import {createLogger, redactUrlsIn} from '../../../src/lib/logging.js'

function capture() {
  const stream = new PassThrough()
  const lines: string[] = []
  stream.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter(Boolean)))
  return {stream, lines}
}

describe('createLogger', () => {
  it('writes JSON lines with a level label and redacts secrets and URL passwords', async () => {
    const {stream, lines} = capture()
    const logger = createLogger({level: 'info', destination: stream})
    logger.info({password: 'hunter2', pgUrl: 'postgres://kpipe:s3cret@db:5432/kpipe', sasl: {password: 'x'}}, 'connecting to postgres://u:pw@h/db')
    logger.debug('hidden at info')
    await new Promise((resolve) => setImmediate(resolve))
    expect(lines).toHaveLength(1)
    const line = JSON.parse(lines[0]!) as Record<string, unknown>
    expect(line.level).toBe('info')
    expect(line.password).toBe('[redacted]')
    expect(line.sasl).toBe('[redacted]')
    expect(line.pgUrl).toBe('postgres://kpipe:***@db:5432/kpipe')
    expect(line.msg).toBe('connecting to postgres://u:***@h/db')
    expect(lines[0]).not.toContain('s3cret')
  })
})

describe('createLogger: redaction at any depth', () => {
  it('redacts secret fields and URL passwords however deep they sit', async () => {
    const {stream, lines} = capture()
    const logger = createLogger({level: 'info', destination: stream})
    logger.warn({err: {config: {connection: {password: 'deep1', url: 'postgres://u:deep2@h/db'}}}, list: [{token: 'deep3'}, 'redis://:deep4@h:6379']}, 'x')
    await new Promise((resolve) => setImmediate(resolve))
    expect(lines[0]).not.toMatch(/deep[1-4]/)
    const line = JSON.parse(lines[0]!) as {err: {config: {connection: {password: string; url: string}}}}
    expect(line.err.config.connection.password).toBe('[redacted]')
    expect(line.err.config.connection.url).toBe('postgres://u:***@h/db')
  })

  it('redacts ?password= in messages and fields, and survives cycles', async () => {
    const {stream, lines} = capture()
    const logger = createLogger({level: 'info', destination: stream})
    const cyclic: Record<string, unknown> = {name: 'a'}
    cyclic.self = cyclic
    logger.info({cyclic, note: 'postgres://h/db?password=qp1'}, 'connecting to postgres://h/db?sslmode=require&password=qp2')
    await new Promise((resolve) => setImmediate(resolve))
    expect(lines[0]).not.toMatch(/qp[12]/)
    expect(lines[0]).toContain('[circular]')
  })
})

describe('redactUrlsIn', () => {
  it('leaves URLs without passwords alone', () => {
    expect(redactUrlsIn('redis://localhost:6379 and postgres://a@b/c')).toBe('redis://localhost:6379 and postgres://a@b/c')
  })
})
