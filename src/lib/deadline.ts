/** Bounded waits: how kpipe keeps a shutdown or a send within the time it promised. */

/** Resolves true if `promise` settled within `ms` (its rejection is rethrown), false otherwise. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, ms))
  })
  try {
    return await Promise.race([promise.then(() => true as const), timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Waits ms, or less if the signal aborts first (at once if it already has). */
export function sleepUnlessAborted(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, {once: true})
  })
}

/** A point in time that several steps share: each gets what is left of it. */
export class Deadline {
  readonly at: number
  /** Set when a bounded step ran out of time: Node may fire that timer a millisecond before `at`. */
  private expired = false

  constructor(ms: number, now: number = Date.now()) {
    this.at = now + ms
  }

  left(now: number = Date.now()): number {
    return Math.max(0, this.at - now)
  }

  get passed(): boolean {
    return this.expired || this.left() === 0
  }

  /** Runs `step` for at most what is left; true if it finished (a failure counts as finished). */
  async bound(step: () => Promise<unknown>): Promise<boolean> {
    if (this.passed) return false
    const finished = await settlesWithin(step().catch(() => undefined), this.left())
    if (!finished) this.expired = true
    return finished
  }
}
