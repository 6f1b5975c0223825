import {userInfo} from 'node:os'
import {describe, expect, it} from 'vitest'

import {ConfigError, DependencyError} from '../../../src/lib/errors.js'
import {pgConnectionString, pgDependencyError} from '../../../src/lib/postgres/pool.js'

describe('pgConnectionString', () => {
  const withUser = {USER: 'someone'}

  it('leaves a plain URL alone', () => {
    expect(pgConnectionString('postgres://u:p@db:5432/kpipe', withUser)).toBe('postgres://u:p@db:5432/kpipe')
  })

  it.each(['require', 'verify-ca', 'verify-full', 'disable'])('gives sslmode=%s its libpq meaning', (mode) => {
    const url = new URL(pgConnectionString(`postgres://u@db/kpipe?sslmode=${mode}`, withUser))
    expect(url.searchParams.get('sslmode')).toBe(mode)
    expect(url.searchParams.get('uselibpqcompat')).toBe('true')
  })

  it('respects an explicit uselibpqcompat', () => {
    expect(pgConnectionString('postgres://u@db/kpipe?sslmode=require&uselibpqcompat=false', withUser)).toBe(
      'postgres://u@db/kpipe?sslmode=require&uselibpqcompat=false',
    )
  })

  it('fills in the operating-system user when neither the URL, PGUSER nor USER names one, as libpq does', () => {
    const url = new URL(pgConnectionString('postgres://localhost:5432/kpipe', {}))
    expect(decodeURIComponent(url.username)).toBe(userInfo().username)
    expect(pgConnectionString('postgres://localhost:5432/kpipe', {PGUSER: 'x'})).toBe('postgres://localhost:5432/kpipe')
    expect(pgConnectionString('postgres://localhost:5432/kpipe', {USER: 'x'})).toBe('postgres://localhost:5432/kpipe')
  })

  it.each([
    ['not a url', /is not a URL/],
    ['mysql://db/x', /must start with postgres:\/\/ or postgresql:\/\//],
  ])('refuses %s as a configuration error', (url, message) => {
    expect(() => pgConnectionString(url, withUser)).toThrow(ConfigError)
    expect(() => pgConnectionString(url, withUser)).toThrow(message)
  })

  it('never shows the password in its errors', () => {
    expect(() => pgConnectionString('mysql://u:secret@db/x', withUser)).toThrow(/u:\*\*\*@db/)
  })
})

describe('pgDependencyError', () => {
  const url = 'postgres://u:p@db.internal:6543/kpipe'

  it('maps a refused connection to exit 3', () => {
    const error = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {code: 'ECONNREFUSED'})
    expect(pgDependencyError(error, url)).toBeInstanceOf(DependencyError)
    expect(pgDependencyError(error, url)?.exitCode).toBe(3)
  })

  it("maps the pool's connect timeout to exit 3, naming the host", () => {
    const mapped = pgDependencyError(new Error('timeout exceeded when trying to connect'), url)
    expect(mapped?.exitCode).toBe(3)
    expect(mapped?.message).toMatch(/PostgreSQL is unreachable \(postgres at db\.internal:6543: no connection within the connect timeout\)/)
  })

  it('maps a connection closed mid-query to exit 3', () => {
    expect(pgDependencyError(new Error('Connection terminated unexpectedly'), url)?.exitCode).toBe(3)
  })

  it('maps a refused password to exit 3', () => {
    const error = Object.assign(new Error('password authentication failed for user "u"'), {code: '28P01'})
    expect(pgDependencyError(error, url)?.message).toMatch(/PostgreSQL refused authentication/)
  })

  it('leaves SQL errors alone', () => {
    expect(pgDependencyError(Object.assign(new Error('syntax error'), {code: '42601'}), url)).toBeUndefined()
  })
})
