/**
 * The built CLI as a child process of the fault run: its output captured, a wait for a stderr
 * line, and every child killed when the run itself ends, however it ends (a fault run that dies
 * must not leave workers or load tests behind on a shared machine).
 */
import {spawn, type ChildProcess} from 'node:child_process'
import path from 'node:path'

export const REPO = path.resolve(import.meta.dirname, '../..')
const BIN = path.join(REPO, 'bin/run.js')

export interface Proc {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  exited: Promise<number | null>
  /** The exit code once it exited; undefined while it runs. */
  code: () => number | null | undefined
  /**
   * Resolves with the time (ms since the epoch) a stderr line first matched; with `onlyNew`,
   * only a line written after the call counts.
   */
  waitFor(pattern: RegExp, timeoutMs: number, options?: {onlyNew?: boolean}): Promise<number>
}

const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const child of live) child.kill('SIGKILL')
    process.exit(130)
  })
}

export function kpipe(cliArgs: string[], env: NodeJS.ProcessEnv = process.env): Proc {
  const child = spawn(process.execPath, [BIN, ...cliArgs], {cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe']})
  live.add(child)
  let stdout = ''
  let stderr = ''
  let code: number | null | undefined
  const waiters: {pattern: RegExp; from: number; resolve(at: number): void}[] = []
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString()
    for (const waiter of [...waiters]) {
      if (waiter.pattern.test(stderr.slice(waiter.from))) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve(Date.now())
      }
    }
  })
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (exitCode) => {
      live.delete(child)
      code = exitCode
      resolve(exitCode)
    }),
  )
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    code: () => code,
    waitFor: (pattern, timeoutMs, options = {}) =>
      new Promise((resolve, reject) => {
        // From the start of the last line written, so that a line cut across two chunks still matches.
        const from = options.onlyNew ? stderr.lastIndexOf('\n') + 1 : 0
        if (pattern.test(stderr.slice(from))) return resolve(Date.now())
        const timer = setTimeout(() => reject(new Error(`no line matched ${pattern} within ${timeoutMs} ms:\n${stderr.slice(-2000)}`)), timeoutMs)
        waiters.push({pattern, from, resolve: (at) => (clearTimeout(timer), resolve(at))})
        void exited.then(() => {
          clearTimeout(timer)
          reject(new Error(`the process exited before a line matched ${pattern}:\n${stderr.slice(-2000)}`))
        })
      }),
  }
}

/** The port a worker's health server listens on, from its "serving /metrics" log line. */
export async function healthPort(worker: Proc, timeoutMs = 60_000): Promise<number> {
  await worker.waitFor(/serving \/metrics/, timeoutMs)
  const line = worker.stderr().split('\n').find((l) => l.includes('serving /metrics'))!
  return Number(/"port":(\d+)/.exec(line)![1])
}
