/**
 * What every drain benchmark shares: talk on stderr, the load average, process sampling from
 * /proc (peak RSS, CPU), a child's exit, and a fast producer (the producing is never what is
 * measured).
 */
import type {ChildProcess} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {loadavg} from 'node:os'

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
 * Samples VmHWM (peak RSS) and CPU time of a process every 200 ms until stopped. A worker that
 * re-executes itself (execve: same pid) is followed through it.
 */
export function trackProcess(pid: number): {stop(): {peakRssMiB: number; cpuSeconds: number}} {
  let peakKb = 0
  let cpu = 0
  const sample = () => {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8')
      const hwm = /VmHWM:\s+(\d+) kB/.exec(status)
      if (hwm) peakKb = Math.max(peakKb, Number(hwm[1]))
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
      return {peakRssMiB: Math.round(peakKb / 1024), cpuSeconds: cpu}
    },
  }
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
