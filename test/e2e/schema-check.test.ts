/** `kpipe schema check` end to end: the built CLI on the repository's schemas and on a broken pair. */
import {mkdirSync, mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {json, runCli} from '../helpers/cli.js'

interface CheckJson {
  ok: boolean
  subjects: {subject: string; versions: number[]; pairs: {from: string; to: string; backward: boolean; forward: boolean; error: string | null}[]}[]
}

function brokenSchemas(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'kpipe-schemas-'))
  mkdirSync(path.join(dir, 'order'))
  const v1 = {type: 'record', name: 'Order', fields: [{name: 'id', type: 'string'}]}
  const v2 = {type: 'record', name: 'Order', fields: [{name: 'id', type: 'string'}, {name: 'total', type: 'double'}]}
  writeFileSync(path.join(dir, 'order', 'v1.avsc'), JSON.stringify(v1))
  writeFileSync(path.join(dir, 'order', 'v2.avsc'), JSON.stringify(v2))
  return dir
}

describe('kpipe schema check', () => {
  it('passes the schemas kept in the repository (exit 0)', async () => {
    const result = await runCli(['schema', 'check', '--transitive', '--json'])
    expect(result.code, result.stderr).toBe(0)
    const body = json<CheckJson>(result)
    expect(body.ok).toBe(true)
    expect(body.subjects[0]).toMatchObject({subject: 'event', versions: [1, 2]})
    expect(body.subjects[0]!.pairs[0]).toEqual({from: 'event/v1.avsc', to: 'event/v2.avsc', backward: true, forward: true, error: null})
  })

  it('fails a broken pair with exit 1, the result on stdout and one sentence on stderr', async () => {
    const result = await runCli(['schema', 'check', '--dir', brokenSchemas(), '--json'])
    expect(result.code).toBe(1)
    const body = json<CheckJson>(result)
    expect(body.ok).toBe(false)
    expect(body.subjects[0]!.pairs[0]).toMatchObject({from: 'order/v1.avsc', to: 'order/v2.avsc', backward: false, forward: true})
    expect(result.stderr).toContain('Error: order/v2.avsc is not backward compatible with order/v1.avsc')
    expect(result.stderr).toContain('field "total" was added without a default.')
    expect(result.stderr).not.toMatch(/\n\s+at /)
  })

  it('prints a human report without --json', async () => {
    const result = await runCli(['schema', 'check', '--dir', brokenSchemas()])
    expect(result.code).toBe(1)
    expect(result.stdout).toContain('✗ order/v1.avsc → order/v2.avsc  backward NO  forward yes')
  })

  it('exits 2 when the directory holds no schemas', async () => {
    const result = await runCli(['schema', 'check', '--dir', mkdtempSync(path.join(tmpdir(), 'kpipe-empty-'))])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/No schemas were found in/)
  })

  it('exits 2 when the directory does not exist', async () => {
    const result = await runCli(['schema', 'check', '--dir', '/nonexistent/kpipe-schemas'])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/cannot be read/)
  })
})
