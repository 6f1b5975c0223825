/**
 * What deploy/ ships, checked by the tools that will read it: the systemd units by
 * `systemd-analyze verify` and `security`, the alert rules by `promtool check rules` and their
 * unit tests by `promtool test rules`; and every metric they and the Grafana dashboard name is
 * one kpipe exports. The tools come with `./scripts/stack up --monitoring`.
 */
import {execFile} from 'node:child_process'
import {chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {promisify} from 'node:util'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {createLagMetrics} from '../../src/lib/lag/lag-metrics.js'
import {createWorkerMetrics} from '../../src/lib/metrics/worker-metrics.js'
import {createProjectionMetrics} from '../../src/lib/redis/projector.js'
import {createAnalyticsMetrics} from '../../src/lib/workers/analytics-sink.js'
import {workerFlags} from '../../src/lib/workers/worker-flags.js'
import {repoRoot, runCli} from '../helpers/cli.js'
import {ensureMonitoring} from '../helpers/monitoring.js'

const run = promisify(execFile)
const deploy = path.join(repoRoot, 'deploy')
const unitDir = path.join(deploy, 'systemd')
const units = readdirSync(unitDir).filter((f) => f.endsWith('.service'))
const scratch = mkdtempSync(path.join(tmpdir(), 'kpipe-deploy-'))
const INSTALLED_KPIPE = '/usr/local/bin/kpipe'

beforeAll(async () => {
  await ensureMonitoring()
}, 600_000)

afterAll(() => rmSync(scratch, {recursive: true, force: true}))

/** `Key=value` lines of a unit's sections (a key given twice keeps every value). */
function unitSettings(text: string): Map<string, string[]> {
  const settings = new Map<string, string[]>()
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line)
    if (match) settings.set(match[1]!, [...(settings.get(match[1]!) ?? []), match[2]!])
  }
  return settings
}

/** systemd.time(7) spans as kpipe units write them: `45s`, `2min`, `1min 30s`. */
function seconds(span: string): number {
  let total = 0
  for (const [, n, unit] of span.matchAll(/(\d+)\s*(min|s)/g)) total += Number(n) * (unit === 'min' ? 60 : 1)
  return total
}

describe('deploy/systemd', () => {
  it('has a unit for each worker and for the lag exporter', () => {
    expect(units.sort()).toEqual(['kpipe-lag-exporter.service', 'kpipe-worker-analytics.service', 'kpipe-worker-events.service', 'kpipe-worker-logs.service'])
  })

  it.each(units)('%s passes systemd-analyze verify and a security review', async (unit) => {
    // verify checks that ExecStart's program exists: the copy points at a stand-in for the
    // installed kpipe, and nothing else of the unit changes.
    const stub = path.join(scratch, 'kpipe')
    writeFileSync(stub, '#!/bin/sh\nexit 0\n')
    chmodSync(stub, 0o755)
    const text = readFileSync(path.join(unitDir, unit), 'utf8')
    expect(text).toContain(`ExecStart=${INSTALLED_KPIPE} `)
    const copy = path.join(scratch, unit)
    writeFileSync(copy, text.replaceAll(INSTALLED_KPIPE, stub))
    const verify = await run('systemd-analyze', ['verify', copy]).catch((error: {stderr: string}) => error)
    expect(verify.stderr).toBe('')
    // 0 is a unit with every hardening, 10 one with none; the threshold is on the ×10 scale.
    await run('systemd-analyze', ['security', '--offline=yes', '--threshold=20', copy])
  })

  it.each(units)('%s stops gracefully, restarts on failure and runs without root', (unit) => {
    const s = unitSettings(readFileSync(path.join(unitDir, unit), 'utf8'))
    expect(s.get('Restart')).toEqual(['on-failure'])
    expect(s.get('KillSignal')).toEqual(['SIGTERM'])
    // Above the graceful shutdown's bound, so that SIGKILL only ends a worker that is stuck.
    const stopMs = seconds(s.get('TimeoutStopSec')![0]!) * 1000
    if (unit.startsWith('kpipe-worker-')) {
      const shutdownMs = workerFlags('events')['shutdown-timeout'].default as number
      expect(s.get('ExecStart')![0]).not.toMatch(/--shutdown-timeout/)
      expect(stopMs).toBeGreaterThan(shutdownMs)
    } else {
      expect(stopMs).toBeGreaterThan(0) // lag --serve only reads: it has nothing to finish
    }
    expect(s.get('EnvironmentFile')).toEqual(['/etc/kpipe/kpipe.env'])
    expect(s.get('DynamicUser')).toEqual(['yes'])
    expect(s.get('User')).toBeUndefined()
    for (const hardening of ['NoNewPrivileges', 'ProtectHome', 'PrivateTmp', 'RestrictSUIDSGID']) expect(s.get(hardening)).toEqual(['yes'])
    expect(s.get('ProtectSystem')).toEqual(['strict'])
    // The Kafka password is a credential, never an environment variable.
    expect(s.get('LoadCredential')).toContain('kafka-password:/etc/kpipe/kafka-password')
    expect([...s.get('Environment')!].join('\n')).not.toMatch(/PASSWORD/)
  })

  it.each(units)('%s runs a kpipe command that exists, with flags it takes', async (unit) => {
    const s = unitSettings(readFileSync(path.join(unitDir, unit), 'utf8'))
    const args = s.get('ExecStart')![0]!.split(/\s+/).slice(1)
    const result = await runCli([...args, '--help'])
    expect(result.code, result.stderr).toBe(0)
  })

  it("reads the Kafka password from the credential beside kpipe.yaml, as the units lay them out", async () => {
    // The credentials directory (%d): kpipe.yaml names the password file relative to itself.
    const credentials = mkdtempSync(path.join(scratch, 'credentials-'))
    writeFileSync(path.join(credentials, 'kpipe.yaml'), 'kafka:\n  sasl: {mechanism: scram-sha-512, username: kpipe, passwordFile: kafka-password}\n')
    writeFileSync(path.join(credentials, 'kafka-password'), 'not-this-one\n')
    const env = {KPIPE_CONFIG: path.join(credentials, 'kpipe.yaml')}
    const shown = await runCli(['config', 'show', '--json'], {env, cwd: scratch})
    expect(shown.code, shown.stderr).toBe(0)
    const values = (JSON.parse(shown.stdout) as {values: {key: string; value: unknown; source: string}[]}).values
    expect(values.find((v) => v.key === 'kafka.sasl.password')).toMatchObject({value: '***', source: 'file kafka-password (kafka.sasl.passwordFile)'})
    rmSync(path.join(credentials, 'kafka-password'))
    const missing = await runCli(['config', 'show', '--json'], {env, cwd: scratch})
    expect(missing.code).toBe(2)
    // The default credential when /etc/kpipe/kpipe.yaml is absent (SetCredential=kpipe.yaml:{}).
    writeFileSync(path.join(credentials, 'kpipe.yaml'), '{}')
    expect((await runCli(['config', 'show', '--json'], {env, cwd: scratch})).code).toBe(0)
  })
})

describe('deploy/prometheus', () => {
  it('alerts.yml passes promtool check rules', async () => {
    const {stdout} = await run('promtool', ['check', 'rules', path.join(deploy, 'prometheus', 'alerts.yml')])
    expect(stdout).toMatch(/SUCCESS: \d+ rules found/)
  })

  it('every alert fires and stays silent as alerts.test.yml expects (promtool test rules)', async () => {
    const {stdout} = await run('promtool', ['test', 'rules', 'alerts.test.yml'], {cwd: path.join(deploy, 'prometheus')})
    expect(stdout).toMatch(/SUCCESS/)
    // Each alert has a test of its own.
    const alerts = [...readFileSync(path.join(deploy, 'prometheus', 'alerts.yml'), 'utf8').matchAll(/- alert: (\w+)/g)].map((m) => m[1])
    const tested = readFileSync(path.join(deploy, 'prometheus', 'alerts.test.yml'), 'utf8')
    for (const alert of alerts) expect(tested).toContain(`alertname: ${alert}`)
  })

  it('the rules and the dashboard name only metrics kpipe exports', async () => {
    // One registry with every worker metric: the shared ones, the events worker's and the analytics worker's.
    const registry = createWorkerMetrics({worker: 'events', topic: 'events'}).registry
    createProjectionMetrics(registry)
    createAnalyticsMetrics(registry)
    const exported = new Set<string>()
    for (const metric of [...(await registry.getMetricsAsJSON()), ...(await createLagMetrics().registry.getMetricsAsJSON())]) {
      exported.add(metric.name)
      if (String(metric.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exported.add(metric.name + suffix)
    }
    expect(exported.size).toBeGreaterThan(30)
    for (const file of ['prometheus/alerts.yml', 'grafana/kpipe.json']) {
      const named = new Set(readFileSync(path.join(deploy, file), 'utf8').match(/\b(?:kpipe|process|nodejs)_[a-z_]+/g))
      expect(named.size, file).toBeGreaterThan(5)
      expect([...named].filter((name) => !exported.has(name)), file).toEqual([])
    }
  })
})
