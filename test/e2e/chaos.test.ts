/**
 * The short version of `npm run chaos` (README's test command runs it; the full run is on
 * demand): the events worker SIGKILLed twice and SIGTERMed twice, PostgreSQL (a cluster of the
 * run's own) restarted, and workers added and removed (1 → 3 → 1: two rebalances), each while
 * `kpipe load-test` sends 1% poison, then `kpipe integrity` — nothing acknowledged may be lost
 * or stored twice, and the dead letters are exactly the poison. Recovery times and rebalance
 * pauses go to the results file, never into an assertion.
 */
import {execFile} from 'node:child_process'
import {mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {promisify} from 'node:util'

import {describe, expect, it} from 'vitest'

import {repoRoot} from '../helpers/cli.js'

const run = promisify(execFile)

interface SinkResult {
  acknowledged: number
  stored: number
  deadLetters: number
  poison: number
  lost: number
  duplicated: number
  integrityOk: boolean
}

describe('npm run chaos (short)', () => {
  it('loses and duplicates nothing across worker kills, a PostgreSQL restart and rebalances under load with poison', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'kpipe-chaos-'))
    try {
      // A short session timeout: a SIGKILLed member leaves the group after it, not after 30 s.
      const scenarios = ['worker-sigkill', 'worker-sigterm', 'pg-restart', 'rebalance']
      await run(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'chaos/run.ts'), '--quick', '--session-timeout', '6s', '--scenarios', scenarios.join(','), '--out', out], {
        cwd: repoRoot,
        timeout: 480_000,
      })
      const file = readdirSync(out).find((name) => name.endsWith('.json'))!
      const report = JSON.parse(readFileSync(path.join(out, file), 'utf8')) as {
        results: {scenario: string; faults: string[]; problems: string[]; sinks: SinkResult[]}[]
      }
      expect(report.results.map((r) => r.scenario)).toEqual(scenarios)
      const faults = Object.fromEntries(report.results.map((r) => [r.scenario, r.faults.length]))
      expect(faults).toEqual({'worker-sigkill': 2, 'worker-sigterm': 2, 'pg-restart': 1, rebalance: 2})
      for (const result of report.results) {
        expect(result.problems).toEqual([])
        expect(result.sinks).toHaveLength(1)
        const [sink] = result.sinks as [SinkResult]
        // --quick: 10 s at 3,000/s; the rebalance runs 20 s to leave room for two rebalances.
        expect(sink.acknowledged).toBe(result.scenario === 'rebalance' ? 60_000 : 30_000)
        expect(sink).toMatchObject({lost: 0, duplicated: 0, integrityOk: true})
        expect(sink.deadLetters).toBe(sink.poison)
        expect(sink.stored + sink.deadLetters).toBe(sink.acknowledged)
      }
    } finally {
      rmSync(out, {recursive: true, force: true})
    }
  }, 480_000)
})
