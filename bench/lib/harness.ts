/**
 * What every drain benchmark shares: talk on stderr, the load average, process sampling from
 * /proc (peak RSS, CPU), a child's exit, and a fast producer (the producing is never what is
 * measured).
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {loadavg} from 'node:os'
import path from 'node:path'

import type {CompressionTypes, Kafka, Message} from 'kafkajs'

const CLOCK_TICKS = 100 // USER_HZ of /proc/<pid>/stat on Linux

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`)
}

export function fmt(n: number): string {
  return n.toLocaleString('en-US')
}

export function load(): string {
  return loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')
}

/** The 1, 5 and 15 minute load averages, for the machine-readable figures of a run. */
export function loadAverage(): number[] {
  return loadavg().map((l) => Math.round(l * 100) / 100)
}

/**
 * Writes a run's figures as JSON for bench/run.ts (`--json-out FILE`); nothing without a file.
 * The load average at the end is added: the machine is shared, a figure means little without it.
 */
export function writeJsonOut(file: string | undefined, doc: Record<string, unknown>): void {
  if (!file) return
  mkdirSync(path.dirname(path.resolve(file)), {recursive: true})
  writeFileSync(file, `${JSON.stringify({...doc, loadAverageAtEnd: loadAverage()}, null, 2)}\n`)
}

/** A TCP port free right now (for a worker's metrics endpoint, scraped during a drain). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address() as {port: number}
      server.close(() => resolve(port))
    })
  })
}

/** The value of a Prometheus counter or gauge in an exposition text, summed over its label sets. */
export function metricValue(text: string, name: string): number {
  const matches = [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))]
  return matches.length === 0 ? Number.NaN : matches.reduce((sum, m) => sum + Number(m[1]), 0)
}

export interface CounterSample {
  /** Milliseconds since the sampling started. */
  atMs: number
  value: number
}

/**
 * Reads one metric of a worker's /metrics endpoint every `everyMs` (500 ms by default) until
 * stopped: the series behind the drain-rate-over-time picture. Samples before the endpoint
 * listens, or after the worker is gone, are skipped.
 */
export function sampleMetric(port: number, name: string, everyMs = 500): {stop(): CounterSample[]} {
  const samples: CounterSample[] = []
  const started = Date.now()
  const timer = setInterval(() => {
    const atMs = Date.now() - started
    fetch(`http://127.0.0.1:${port}/metrics`)
      .then(async (response) => {
        const value = metricValue(await response.text(), name)
        if (Number.isFinite(value)) samples.push({atMs, value})
      })
      .catch(() => undefined) // not listening yet, or gone
  }, everyMs)
  return {
    stop: () => {
      clearInterval(timer)
      return samples.sort((a, b) => a.atMs - b.atMs)
    },
  }
}

export interface ConsumerPerfResult {
  records: number
  /** Fetch time (group join excluded), seconds. */
  seconds: number
  recordsPerSec: number
  mbPerSec: number
  rebalanceMs: number
  wallSeconds: number
  peakRssMiB: number
  cpuSeconds: number
}

/**
 * `kafka-consumer-perf-test` of the stack's Kafka reading `count` records of a topic: the bare
 * read rate on this machine (the ceiling of any drain), timed by the tool's own fetch time.
 */
export async function consumerPerfTest(options: {repo: string; brokers: string[]; topic: string; count: number; group: string}): Promise<ConsumerPerfResult> {
  const started = Date.now()
  const child = spawn(
    path.join(options.repo, 'scripts/stack'),
    ['tool', 'kafka-consumer-perf-test', '--bootstrap-server', options.brokers.join(','), '--topic', options.topic, '--num-records', String(options.count), '--group', options.group, '--timeout', '60000'],
    {cwd: options.repo, stdio: ['ignore', 'pipe', 'pipe']},
  )
  const tracked = trackProcess(child.pid!) // `stack tool` execs java: same pid
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-10_000)))
  const code = await exited(child)
  const wallSeconds = (Date.now() - started) / 1000
  const {peakRssMiB, cpuSeconds: cpu} = tracked.stop()
  if (code !== 0) throw new Error(`kafka-consumer-perf-test exited ${code}: ${stderr}`)
  // start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
  const last = stdout.trim().split('\n').at(-1)!.split(',').map((field) => field.trim())
  const consumed = Number(last[4])
  const fetchMs = Number(last[7])
  if (consumed !== options.count || !(fetchMs > 0)) throw new Error(`kafka-consumer-perf-test read ${consumed} of ${options.count} records: ${stdout}`)
  const seconds = fetchMs / 1000
  return {
    records: consumed,
    seconds,
    recordsPerSec: Math.round(consumed / seconds),
    mbPerSec: Number(last[2]) / seconds,
    rebalanceMs: Number(last[6]),
    wallSeconds,
    peakRssMiB,
    cpuSeconds: cpu,
  }
}

/** utime + stime of a process in seconds, or undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Fields after the command name (which may contain spaces) in parentheses; utime and stime are 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
  } catch {
    return undefined
  }
}

/**
 * Samples VmHWM (peak RSS), VmRSS and CPU time of a process every 200 ms until stopped. A worker
 * that re-executes itself (execve: same pid) is followed through it. The RSS series (one sample
 * a second) shows whether memory stays flat, which a peak cannot.
 */
export function trackProcess(pid: number): {stop(): {peakRssMiB: number; cpuSeconds: number; rssSeries: {atMs: number; rssMiB: number}[]}} {
  let peakKb = 0
  let cpu = 0
  const rssSeries: {atMs: number; rssMiB: number}[] = []
  const started = Date.now()
  let nextSeriesAt = 0
  const sample = () => {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8')
      const hwm = /VmHWM:\s+(\d+) kB/.exec(status)
      if (hwm) peakKb = Math.max(peakKb, Number(hwm[1]))
      const rss = /VmRSS:\s+(\d+) kB/.exec(status)
      const atMs = Date.now() - started
      if (rss && atMs >= nextSeriesAt) {
        rssSeries.push({atMs, rssMiB: Math.round(Number(rss[1]) / 1024)})
        nextSeriesAt = atMs + 1000
      }
    } catch {
      // exited
    }
    cpu = cpuSeconds(pid) ?? cpu
  }
  const timer = setInterval(sample, 200)
  sample()
  return {
    stop: () => {
      sample()
      clearInterval(timer)
      return {peakRssMiB: Math.round(peakKb / 1024), cpuSeconds: cpu, rssSeries}
    },
  }
}

/** Where a drain's CPU went: seconds per process group, and the machine's busy and idle time. */
export interface CpuSplit {
  seconds: Record<string, number>
  busySeconds: number
  idleSeconds: number
}

/**
 * Samples every process's CPU time (/proc/<pid>/stat) every 200 ms; `between(t0, t1)` sums the
 * growth per group given by `groupOf(pid, comm, cmdline)` from the sample at or before t0 to the one
 * at or after t1 (Date.now() times), so a drain's split can leave a JVM's start-up out. A process
 * born during the sampling counts from zero; one that exits keeps its last sample (PostgreSQL's
 * backends end with their client). Also /proc/stat's busy and idle time: a drain with idle CPU is
 * not CPU-bound. Written here because no maintained Node library follows every process of a
 * machine with births and exits (pidusage samples given pids).
 */
export function trackMachineCpu(groupOf: (pid: number, comm: string, cmdline: string) => string): {stop(): void; between(t0: number, t1: number): CpuSplit} {
  // Clock ticks since boot, the unit of a process's starttime.
  const startedAtTicks = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * CLOCK_TICKS
  const seen = new Map<number, {group: string; comm: string; first: number; last: number}>()
  const samples: {at: number; totals: Record<string, number>; busy: number; idle: number}[] = []
  const sample = () => {
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue
      const pid = Number(name)
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
        // Fields after the command name (which may contain spaces); utime, stime, starttime are 14, 15, 22.
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
        const ticks = Number(fields[11]) + Number(fields[12])
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
        const entry = seen.get(pid)
        // A process that executed another program (`stack tool` → java) is grouped again.
        if (entry && entry.comm === comm) {
          entry.last = ticks
          continue
        }
        const group = groupOf(pid, comm, readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' '))
        if (entry) {
          Object.assign(entry, {group, comm, last: ticks})
          continue
        }
        const bornDuring = Number(fields[19]) > startedAtTicks
        seen.set(pid, {group, comm, first: bornDuring ? 0 : ticks, last: ticks})
      } catch {
        // gone between readdir and read
      }
    }
    const totals: Record<string, number> = {}
    for (const {group, first, last} of seen.values()) totals[group] = (totals[group] ?? 0) + last - first
    samples.push({at: Date.now(), totals, ...machineTicks()})
  }
  sample()
  const timer = setInterval(sample, 200)
  return {
    stop: () => {
      sample()
      clearInterval(timer)
    },
    between: (t0, t1) => {
      const from = samples.findLast((x) => x.at <= t0) ?? samples[0]!
      const to = samples.find((x) => x.at >= t1) ?? samples.at(-1)!
      const seconds: Record<string, number> = {}
      for (const [group, ticks] of Object.entries(to.totals)) seconds[group] = (ticks - (from.totals[group] ?? 0)) / CLOCK_TICKS
      return {seconds, busySeconds: (to.busy - from.busy) / CLOCK_TICKS, idleSeconds: (to.idle - from.idle) / CLOCK_TICKS}
    },
  }
}

/** /proc/stat's first line: every CPU's busy and idle (idle + iowait) ticks. */
function machineTicks(): {busy: number; idle: number} {
  const values = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
  const idle = (values[3] ?? 0) + (values[4] ?? 0)
  const total = values.slice(0, 8).reduce((a, b) => a + b, 0)
  return {busy: total - idle, idle}
}

export function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)))
}

/**
 * Produces `count` messages fast: batches of 5,000, 4 in flight, acks=1. Returns the average
 * value size in bytes. Batches in flight may land out of order; `inFlight: 1` keeps each
 * partition's records in the order given (a benchmark that predicts offsets needs it).
 */
export async function produceFast(
  kafka: Kafka,
  topic: string,
  count: number,
  toMessage: (i: number) => Message,
  options: {compression?: CompressionTypes; label?: string; inFlight?: number} = {},
): Promise<number> {
  const producer = kafka.producer({allowAutoTopicCreation: false})
  await producer.connect()
  const chunk = 5000
  let bytes = 0
  const started = Date.now()
  const inFlight: Promise<unknown>[] = []
  for (let start = 0; start < count; start += chunk) {
    const messages: Message[] = []
    for (let i = start; i < Math.min(count, start + chunk); i++) {
      const m = toMessage(i)
      bytes += m.value === null || m.value === undefined ? 0 : typeof m.value === 'string' ? Buffer.byteLength(m.value) : m.value.length
      messages.push(m)
    }
    inFlight.push(producer.send({topic, acks: 1, compression: options.compression, messages}))
    if (inFlight.length >= (options.inFlight ?? 4)) await inFlight.shift()
  }
  await Promise.all(inFlight)
  await producer.disconnect()
  log(`produced ${fmt(count)} records to ${topic}${options.label ? ` (${options.label})` : ''} in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  return Math.round(bytes / count)
}
