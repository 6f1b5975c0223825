/**
 * Workers run with a small, fixed V8 heap so memory stays flat under any backlog (DESIGN §6:
 * RSS < 250 MB). V8 only takes heap sizes at start-up, and by default it lets a busy process's
 * young and old generations grow to hundreds of MB of mostly garbage. So the worker command
 * replaces its own process image (execve: same pid, same stdio, no parent left behind) with one
 * started with the limits, unless the operator already chose heap flags.
 */
export const WORKER_HEAP_FLAGS = ['--max-semi-space-size=4', '--max-old-space-size=192']
const MARKER = 'KPIPE_WORKER_HEAP_SET'

/** Pure: the flags to add, or none when heap flags are already given (or we already re-executed). */
export function heapFlagsToAdd(execArgv: readonly string[], env: NodeJS.ProcessEnv): string[] {
  if (env[MARKER] === '1') return []
  const given = [...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)]
  if (given.some((flag) => /^--max-(old|semi)-space-size/.test(flag))) return []
  if (env.KPIPE_WORKER_HEAP === 'default') return []
  return WORKER_HEAP_FLAGS
}

/**
 * Re-executes the current command with the heap flags when they are missing; returns only when
 * no re-execution was needed (or execve is unavailable, e.g. on Windows).
 */
export function ensureWorkerHeapLimits(): void {
  const flags = heapFlagsToAdd(process.execArgv, process.env)
  if (flags.length === 0) return
  if (typeof process.execve !== 'function') {
    // Windows, or a runtime without execve: say so once rather than silently run unbounded.
    process.stderr.write(`kpipe: cannot re-execute with ${flags.join(' ')} here (no process.execve); set them in NODE_OPTIONS to bound the worker's memory.\n`)
    return
  }
  process.execve(process.execPath, [process.execPath, ...flags, ...process.execArgv, ...process.argv.slice(1)], {...process.env, [MARKER]: '1'})
}
