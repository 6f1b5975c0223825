/**
 * The stack's Prometheus (`./scripts/stack up --monitoring`) for the tests of deploy/: started
 * idempotently (running services are left alone), asked through its HTTP API, and told about a
 * test's own exporters through a file_sd target file, so that no test needs the well-known
 * ports 9464–9467 that other suites' workers may hold.
 */
import {execFile} from 'node:child_process'
import {rmSync, writeFileSync, renameSync} from 'node:fs'
import path from 'node:path'
import {promisify} from 'node:util'

import {repoRoot} from './cli.js'
import {sq, watchdog} from './services.js'

const run = promisify(execFile)

const stack = path.join(repoRoot, 'scripts/stack')

async function prometheusUrl(): Promise<string | undefined> {
  const {stdout} = await run(stack, ['env'], {cwd: repoRoot})
  return /^export KPIPE_PROMETHEUS_URL=(\S+)$/m.exec(stdout)?.[1]
}

async function ready(url: string | undefined): Promise<boolean> {
  if (!url) return false
  const response = await fetch(`${url}/-/ready`, {signal: AbortSignal.timeout(2000)}).catch(() => undefined)
  return response?.ok === true
}

/**
 * Prometheus' URL, after `./scripts/stack up --monitoring` unless Prometheus already answers
 * and the checkers that come with it (promtool, systemd-analyze) are installed: the shared stack
 * is then left exactly as it is.
 */
export async function ensureMonitoring(): Promise<string> {
  const tools = await run('bash', ['-c', 'command -v promtool && command -v systemd-analyze']).then(() => true, () => false)
  let url = await prometheusUrl()
  if (tools && (await ready(url))) return url!
  await run(stack, ['up', '--monitoring'], {cwd: repoRoot, timeout: 600_000})
  url = await prometheusUrl()
  if (!(await ready(url))) throw new Error(`Prometheus does not answer after scripts/stack up --monitoring (KPIPE_PROMETHEUS_URL=${url})`)
  return url!
}

export interface PromSample {
  metric: Record<string, string>
  value: [number, string]
}

/** An instant query; throws on a query Prometheus refuses (a PromQL syntax error, say). */
export async function promQuery(prometheusUrl: string, query: string): Promise<PromSample[]> {
  const response = await fetch(`${prometheusUrl}/api/v1/query?${new URLSearchParams({query})}`)
  const body = (await response.json()) as {status: string; error?: string; data?: {resultType: string; result: PromSample[]}}
  if (body.status !== 'success') throw new Error(`Prometheus refused ${query}: ${body.error}`)
  return body.data!.result
}

/**
 * Lists targets for the stack's Prometheus to scrape (its file_sd directory), each with its own
 * labels; returns a function that removes them. The file is written whole and renamed into
 * place, so Prometheus never reads half of it.
 */
export function addScrapeTargets(name: string, targets: {address: string; labels: Record<string, string>}[]): () => void {
  const dir = path.join(repoRoot, '.stack', 'prometheus', 'targets')
  const file = path.join(dir, `${name}.json`)
  const tmp = path.join(dir, `.${name}.tmp`)
  writeFileSync(tmp, JSON.stringify(targets.map((t) => ({targets: [t.address], labels: t.labels}))))
  renameSync(tmp, file)
  // Removed even if the test process dies first, so that Prometheus stops scraping a dead port.
  const disarm = watchdog(`rm -f ${sq(file)}`)
  return () => {
    disarm()
    rmSync(file, {force: true})
  }
}
