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

describe('redactUrlsIn', () => {
  it('leaves URLs without passwords alone', () => {
    expect(redactUrlsIn('redis://localhost:6379 and postgres://a@b/c')).toBe('redis://localhost:6379 and postgres://a@b/c')
  })
})
