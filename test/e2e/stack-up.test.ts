/**
 * `./scripts/stack up` brings the services up side by side and prints each one's time; the
 * BigQuery emulator's job (a build of minutes on first use) never fails silently, whether `up`
 * waits for it or leaves it to the background (--bq-background, then `scripts/stack wait bq`).
 *
 * The failure is staged cheaply: an emulator version that does not exist, with the Go module
 * proxy switched off, so `go mod download` fails at once and nothing is fetched. The services
 * that run are left as they are (`up` is idempotent) and the running emulator is not touched:
 * its job fails before it would stop or start anything.
 */
import {execFile} from 'node:child_process'
import path from 'node:path'
import {promisify} from 'node:util'

import {describe, expect, it} from 'vitest'

import {repoRoot} from '../helpers/cli.js'

const stack = path.join(repoRoot, 'scripts/stack')
const bogusEmulator = {KPIPE_STACK_BQ_VERSION: 'v0.0.0-kpipe-test-missing', GOPROXY: 'off'}

async function runStack(args: string[], env: NodeJS.ProcessEnv): Promise<{code: number; stderr: string}> {
  return promisify(execFile)(stack, args, {cwd: repoRoot, env: {...process.env, ...env}, timeout: 300_000}).then(
    ({stderr}) => ({code: 0, stderr}),
    (error: {code?: number; stderr?: string}) => ({code: error.code ?? -1, stderr: error.stderr ?? String(error)}),
  )
}

function expectPhaseTimes(stderr: string): void {
  for (const service of ['kafka', 'postgres', 'redis']) {
    expect(stderr).toMatch(new RegExp(`^stack: ${service} ready in (\\d+s|\\d+m\\d\\ds)$`, 'm'))
  }
}

describe('scripts/stack up', () => {
  it('prints each service time, and exits 1 naming the cause when the emulator cannot be built', async () => {
    const {code, stderr} = await runStack(['up'], bogusEmulator)
    expect(code, stderr).toBe(1)
    expectPhaseTimes(stderr)
    expect(stderr).toContain('could not download github.com/goccy/bigquery-emulator@v0.0.0-kpipe-test-missing')
    expect(stderr).toMatch(/^stack: error: the BigQuery emulator could not be built or started/m)
    expect(stderr).not.toMatch(/^stack: up in/m)
  })

  it('with --bq-background returns once the others are ready; wait bq then exits 1 naming the cause', async () => {
    const up = await runStack(['up', '--bq-background'], bogusEmulator)
    expect(up.code, up.stderr).toBe(0)
    expectPhaseTimes(up.stderr)
    expect(up.stderr).toMatch(/^stack: up in/m)

    const wait = await runStack(['wait', 'bq'], {})
    expect(wait.code, wait.stderr).toBe(1)
    expect(wait.stderr).toContain('could not download github.com/goccy/bigquery-emulator@v0.0.0-kpipe-test-missing')
    expect(wait.stderr).toMatch(/^stack: error: the BigQuery emulator could not be built or started/m)
  })
})
