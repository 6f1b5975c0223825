/**
 * The polling service behind `lag --sample`, `--watch` and `--serve`: one long-lived admin client,
 * one sample at a time (a poll never starts before the previous one finished, so a slow cluster
 * slows the refresh instead of piling up requests), each sample turned into a view by the tracker.
 */
import type {Admin} from 'kafkajs'

import type {KpipeConfig} from '../config.js'
import {kafkaDependencyError} from '../error-classify.js'
import {createKafka} from '../kafka/client.js'
import {isUnknownTopic, type LagSelection, sampleLag} from './lag-sampler.js'
import {LagTracker, type LagView, type TrackerOptions} from './lag-tracker.js'

export interface LagSource {
  poll(): Promise<LagView>
  close(): Promise<void>
}

export async function openLagSource(kafka: KpipeConfig['kafka'], selection: LagSelection, options: TrackerOptions & {debug?: boolean} = {}): Promise<LagSource> {
  const connect = async (): Promise<Admin> => {
    const admin = createKafka(kafka, {
      debug: options.debug,
      onLog: options.debug ? (entry) => process.stderr.write(`[kafkajs ${entry.level}] ${entry.namespace}: ${entry.message}\n`) : undefined,
    }).admin()
    try {
      await admin.connect()
      return admin
    } catch (error) {
      await admin.disconnect().catch(() => undefined)
      throw kafkaDependencyError(error) ?? error
    }
  }
  let admin = await connect()
  const tracker = new LagTracker(options)
  return {
    async poll() {
      try {
        return tracker.update(await sampleLag(admin, selection))
      } catch (error) {
        if (!isUnknownTopic(error)) throw kafkaDependencyError(error) ?? error
        // A topic deleted between two polls stays in kafkajs' metadata targets and fails every
        // refresh after it; a fresh client forgets it.
        await admin.disconnect().catch(() => undefined)
        admin = await connect()
        try {
          return tracker.update(await sampleLag(admin, selection))
        } catch (retryError) {
          throw kafkaDependencyError(retryError) ?? retryError
        }
      }
    },
    close: () => admin.disconnect().catch(() => undefined),
  }
}

export interface PollLoopOptions {
  intervalMs: number
  signal: AbortSignal
  /** Stop after this long (ms); the loop then returns the last view. */
  durationMs?: number
  onView?: (view: LagView) => void | Promise<void>
  /** A failed poll: return true to keep polling (watch, serve), false to stop with the error. */
  onError?: (error: unknown) => boolean
  now?: () => number
}

/** Polls every `intervalMs` (measured start to start, never overlapping) until aborted or done. */
export async function pollLoop(source: LagSource, options: PollLoopOptions): Promise<LagView | undefined> {
  const now = options.now ?? Date.now
  const started = now()
  let last: LagView | undefined
  while (!options.signal.aborted) {
    const pollStarted = now()
    try {
      last = await source.poll()
      await options.onView?.(last)
    } catch (error) {
      if (!options.onError?.(error)) throw error
    }
    const elapsed = now() - started
    if (options.durationMs !== undefined && elapsed >= options.durationMs) break
    let wait = Math.max(0, options.intervalMs - (now() - pollStarted))
    if (options.durationMs !== undefined) wait = Math.min(wait, options.durationMs - elapsed)
    await sleep(wait, options.signal)
  }
  return last
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, {once: true})
  })
}
