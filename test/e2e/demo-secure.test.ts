/**
 * The demo end to end on the secure stack (`scripts/demo --secure`): Kafka through the SASL_SSL
 * listener with its StandardAuthorizer, every step as the least-privilege principal of
 * scripts/stack.d/kafka-acls.txt that it needs (Kafka's own console tools too), PostgreSQL over
 * verified TLS and Redis as an ACL user over TLS. The demo stops at the first step that fails
 * (`set -e`), so its exit 0 says each principal's ACLs were enough for its step; the workers'
 * own start lines say which principal they ran as; no password shows in any output.
 */
import {execFile} from 'node:child_process'
import {readFileSync} from 'node:fs'
import path from 'node:path'

import {describe, expect, it} from 'vitest'

import {repoRoot} from '../helpers/cli.js'
import {ACL_FILE} from '../helpers/secure-stack.js'

/** The demo's environment: the caller's, without the KPIPE_* variables the suite runs with (the demo sets its own), the stack's ports kept. */
function demoEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('KPIPE_') || name.startsWith('KPIPE_STACK_')))
}

function runDemo(args: string[]): Promise<{code: number; output: string}> {
  return new Promise((resolve) => {
    execFile(path.join(repoRoot, 'scripts/demo'), args, {cwd: repoRoot, env: demoEnv(), timeout: 400_000, maxBuffer: 64 << 20}, (error, stdout, stderr) => {
      resolve({code: error ? ((error as {code?: number}).code ?? -1) : 0, output: `${stdout}\n${stderr}`})
    })
  })
}

describe('scripts/demo --secure', () => {
  it('runs end to end under the least-privilege principals, over TLS, showing no secret', {timeout: 420_000}, async () => {
    const {code, output} = await runDemo(['--secure', '--events', '1000', '--log-lines', '300'])
    expect(code, output.slice(-4000)).toBe(0)
    expect(output).toMatch(/^Kafka over SASL_SSL at localhost:\d+, each step as its own least-privilege principal; PostgreSQL and Redis over TLS$/m)

    // Each step under its principal, and the workers' own word for whom they ran as.
    for (const step of [
      'Topics (as User:kpipe-topics)',
      'Produce 1000 sample events with kpipe produce (as User:kpipe-producer)',
      "Produce 5 poison records with Kafka's console producer",
      'Dead letters: the 5 newest in events.dlq (as User:kpipe-monitor)',
      'kpipe lag: ',
      'kpipe integrity: every Kafka offset accounted for by one row or one dead letter (as User:kpipe-monitor)',
      'kpipe replay-dlq --dry-run: what a replay of events.dlq would publish, changing nothing (as User:kpipe-replay)',
    ]) {
      expect(output).toContain(step)
    }
    expect(output).toMatch(/^events worker ran as User:kpipe-events$/m)
    expect(output).toMatch(/^logs worker ran as User:kpipe-logs$/m)
    expect(output).toMatch(/^analytics worker ran as User:kpipe-analytics$/m)
    // The events worker's summary: the poison records were dead-lettered through its ACL on events.dlq.
    expect(output).toMatch(/^worker: consumed \d+, wrote \d+ \(\d+ new rows\), dead-lettered [1-9]\d*/m)
    // Redis over TLS as kpipe-redis answered (the projection of an entity the demo writes).
    expect(output).toMatch(/^eventId\n/m)

    // No password of any principal, of the admin user or of Redis.
    const secrets = readFileSync(ACL_FILE, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('user '))
      .map((line) => line.split(/\s+/)[2]!)
    secrets.push('kpipe-secret', 'kpipe-redis-secret')
    expect(secrets.length).toBeGreaterThan(5)
    for (const secret of secrets) expect(output).not.toContain(secret)
  })
})
