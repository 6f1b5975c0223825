/**
 * The short version of `npm run chaos` (README's test command runs it; the full run is on
 * demand): the events worker SIGKILLed twice and SIGTERMed twice while `kpipe load-test` sends
 * 1% poison, then `kpipe integrity` — nothing acknowledged may be lost or stored twice, and the
 * dead letters are exactly the poison.
 */
import {execFile} from 'node:child_process'
import {mkdtempSync, readdirSync, readFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {promisify} from 'node:util'

import {describe, expect, it} from 'vitest'

import {repoRoot} from '../helpers/cli.js'

const run = promisify(execFile)

describe('npm run chaos (short)', () => {
  it('loses and duplicates nothing across worker SIGKILLs and SIGTERMs under load with poison', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'kpipe-chaos-'))
    // A short session timeout: a SIGKILLed member leaves the group after it, not after 30 s.
    await run(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'chaos/run.ts'), '--quick', '--session-timeout', '6s', '--out', out], {cwd: repoRoot, timeout: 300_000})
    const file = readdirSync(out).find((name) => name.endsWith('.json'))!
    const report = JSON.parse(readFileSync(path.join(out, file), 'utf8')) as {results: {scenario: string; acknowledged: number; stored: number; deadLetters: number; poison: number; lost: number; duplicated: number; integrityOk: boolean; faults: string[]}[]}
    expect(report.results.map((r) => r.scenario)).toEqual(['worker-sigkill', 'worker-sigterm'])
    for (const result of report.results) {
      expect(result.faults).toHaveLength(2)
      expect(result.acknowledged).toBe(30_000)
      expect(result).toMatchObject({lost: 0, duplicated: 0, integrityOk: true})
      expect(result.deadLetters).toBe(result.poison)
      expect(result.stored + result.deadLetters).toBe(result.acknowledged)
    }
  }, 300_000)
})
