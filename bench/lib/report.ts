/**
 * The benchmark suite's report: the statistics over repeated runs (median, min, max, the ratio to
 * the peer of the same run, a DESIGN §6 target met or not) and the Markdown rendering of the whole
 * document. Pure: bench/run.ts measures, this only summarises and prints, so it is unit-tested.
 */

/** Median, min and max of one figure over the runs that produced it. */
export interface Stat {
  median: number
  min: number
  max: number
  /** How many runs gave the figure. */
  n: number
}

/**
 * A DESIGN §6 target on one figure of a comparison: the kpipe figure itself (`on: 'kpipe'`) or its
 * ratio to the peer (`on: 'ratio'`), judged on the median.
 */
export interface Target {
  text: string
  on: 'kpipe' | 'ratio'
  atLeast?: number
  below?: number
}

/** One figure of kpipe beside the same figure of its peer, each per run (null: not measured that run). */
export interface ComparisonInput {
  label: string
  unit: string
  kpipe: (number | null)[]
  peerName?: string
  peer?: (number | null)[]
  /** Whether a larger figure is better (rates) or worse (latencies, memory, times); decides nothing but the wording. */
  higherIsBetter?: boolean
  target?: Target
}

export interface Comparison {
  label: string
  unit: string
  kpipe: Stat | null
  peerName?: string
  peer?: Stat | null
  /** kpipe ÷ peer, computed within each run, then summarised: a ratio of figures taken together. */
  ratio?: Stat | null
  target?: Target & {met: boolean | null}
}

export interface RunLoad {
  run: number
  /** 1-minute load average when the run started and when it ended (the machine is shared). */
  atStart: number
  atEnd: number
}

export interface SuiteReport {
  name: string
  title: string
  /** What is compared with what, in a sentence or two. */
  description: string
  comparisons: Comparison[]
  loads: RunLoad[]
  /** Relative paths of the pictures (from the Markdown file). */
  charts: {title: string; file: string}[]
  notes: string[]
  errors: string[]
}

export interface BenchReport {
  date: string
  startedAt: string
  finishedAt: string
  quick: boolean
  runs: number
  command: string
  machine: {cpus: number; model: string}
  suites: SuiteReport[]
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no values')
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** Median, min and max of the finite values; null when no run produced the figure. */
export function summarize(values: readonly (number | null | undefined)[]): Stat | null {
  const finite = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v))
  if (finite.length === 0) return null
  return {median: median(finite), min: Math.min(...finite), max: Math.max(...finite), n: finite.length}
}

/** kpipe ÷ peer of each run where both were measured (and the peer is not zero). */
export function pairedRatios(kpipe: readonly (number | null)[], peer: readonly (number | null)[]): number[] {
  const ratios: number[] = []
  for (let i = 0; i < Math.min(kpipe.length, peer.length); i++) {
    const a = kpipe[i]
    const b = peer[i]
    if (typeof a === 'number' && typeof b === 'number' && Number.isFinite(a) && Number.isFinite(b) && b !== 0) ratios.push(a / b)
  }
  return ratios
}

/** Whether the median meets the target; null when the figure it is judged on is missing. */
export function meets(target: Target, figures: {kpipe: Stat | null; ratio?: Stat | null}): boolean | null {
  const stat = target.on === 'kpipe' ? figures.kpipe : (figures.ratio ?? null)
  if (!stat) return null
  if (target.atLeast !== undefined && !(stat.median >= target.atLeast)) return false
  if (target.below !== undefined && !(stat.median < target.below)) return false
  return true
}

export function compare(input: ComparisonInput): Comparison {
  const kpipe = summarize(input.kpipe)
  const comparison: Comparison = {label: input.label, unit: input.unit, kpipe}
  if (input.peer) {
    comparison.peerName = input.peerName
    comparison.peer = summarize(input.peer)
    comparison.ratio = summarize(pairedRatios(input.kpipe, input.peer))
  }
  if (input.target) comparison.target = {...input.target, met: meets(input.target, comparison)}
  return comparison
}

/** A figure for a table: thousands separators, decimals only where the size asks for them. */
export function formatNumber(value: number): string {
  const abs = Math.abs(value)
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3
  return value.toLocaleString('en-US', {maximumFractionDigits: digits, minimumFractionDigits: 0})
}

/** "median (min–max)", or the single value of a one-run figure. */
export function formatStat(stat: Stat | null | undefined, unit = ''): string {
  if (!stat) return '–'
  const suffix = unit ? ` ${unit}` : ''
  if (stat.n === 1 || stat.min === stat.max) return `${formatNumber(stat.median)}${suffix}`
  return `${formatNumber(stat.median)}${suffix} (${formatNumber(stat.min)}–${formatNumber(stat.max)})`
}

function formatRatio(stat: Stat | null | undefined): string {
  if (!stat) return '–'
  const r = (v: number) => `${v.toFixed(2)}×`
  return stat.n === 1 || stat.min === stat.max ? r(stat.median) : `${r(stat.median)} (${r(stat.min)}–${r(stat.max)})`
}

function verdict(met: boolean | null, quick: boolean): string {
  const text = met === null ? 'not measured' : met ? 'met' : '**not met**'
  // A quick run's sizes are below the ones the targets are set for: the verdict only shows the harness works.
  return quick && met !== null ? `${text} (quick run: not a verdict)` : text
}

function formatTarget(target: Comparison['target'], quick: boolean): string {
  if (!target) return ''
  return `${target.text}: ${verdict(target.met, quick)}`
}

const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ')

function renderSuite(suite: SuiteReport, runs: number, quick: boolean): string[] {
  const lines = [`## ${suite.title}`, '', suite.description, '']
  if (suite.comparisons.length > 0) {
    lines.push(
      `| figure | kpipe, median (min–max) | peer | peer, median (min–max) | kpipe ÷ peer | DESIGN §6 target |`,
      '|---|---:|---|---:|---:|---|',
      ...suite.comparisons.map((c) =>
        `| ${cell(c.label)} | ${formatStat(c.kpipe, c.unit)} | ${cell(c.peerName ?? '')} | ${c.peerName ? formatStat(c.peer, c.unit) : ''} | ${c.peerName ? formatRatio(c.ratio) : ''} | ${cell(formatTarget(c.target, quick))} |`,
      ),
      '',
    )
    const fewer = suite.comparisons.filter((c) => c.kpipe && c.kpipe.n < runs)
    if (fewer.length > 0) lines.push(`Fewer than ${runs} runs gave: ${fewer.map((c) => `${c.label} (${c.kpipe!.n})`).join(', ')}.`, '')
  }
  if (suite.loads.length > 0) {
    lines.push(`Load average (1 min) per run, start → end: ${suite.loads.map((l) => `run ${l.run} ${l.atStart.toFixed(1)} → ${l.atEnd.toFixed(1)}`).join('; ')}.`, '')
  }
  for (const chart of suite.charts) lines.push(`![${chart.title}](${chart.file})`, '')
  for (const note of suite.notes) lines.push(`- ${note}`)
  if (suite.notes.length > 0) lines.push('')
  for (const error of suite.errors) lines.push(`> **failed:** ${cell(error)}`, '')
  return lines
}

/** Every target of the report, met or not, as one summary table at the top. */
function renderTargets(report: BenchReport): string[] {
  const rows = report.suites.flatMap((s) => s.comparisons.filter((c) => c.target).map((c) => ({suite: s.name, c})))
  if (rows.length === 0) return []
  return [
    '| suite | figure | median | target | |',
    '|---|---|---:|---|---|',
    ...rows.map(({suite, c}) => {
      const value = c.target!.on === 'ratio' ? formatRatio(c.ratio) : formatStat(c.kpipe, c.unit)
      return `| ${suite} | ${cell(c.label)} | ${value} | ${cell(c.target!.text)} | ${verdict(c.target!.met, report.quick)} |`
    }),
    '',
  ]
}

export function renderMarkdown(report: BenchReport): string {
  const lines = [
    `# kpipe benchmark suite — ${report.date}${report.quick ? ' (QUICK RUN: small sizes, 1 run; not figures to quote)' : ''}`,
    '',
    `Command: \`${report.command}\`; ${report.startedAt} → ${report.finishedAt}; ${report.machine.cpus} CPUs (${report.machine.model}).`,
    `Each figure is the median of ${report.runs} run${report.runs === 1 ? '' : 's'} with min and max; a ratio is kpipe ÷ its peer measured in the same run, then summarised the same way.`,
    'The machine is shared with other engineers\' work: the load average of every run is given with its suite. Compare figures taken together, not across days.',
    '',
    ...renderTargets(report),
    ...report.suites.flatMap((suite) => renderSuite(suite, report.runs, report.quick)),
  ]
  return `${lines.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`
}
