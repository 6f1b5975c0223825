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

const run = promisify(execFile)

/** Starts what is missing of the stack and Prometheus; returns Prometheus' URL. */
export async function ensureMonitoring(): Promise<string> {
  await run(path.join(repoRoot, 'scripts/stack'), ['up', '--monitoring'], {cwd: repoRoot, timeout: 600_000})
  const {stdout} = await run(path.join(repoRoot, 'scripts/stack'), ['env'], {cwd: repoRoot})
  const url = /^export KPIPE_PROMETHEUS_URL=(\S+)$/m.exec(stdout)?.[1]
  if (!url) throw new Error(`scripts/stack env printed no KPIPE_PROMETHEUS_URL after up --monitoring:\n${stdout}`)
  return url
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
  return () => rmSync(file, {force: true})
}
