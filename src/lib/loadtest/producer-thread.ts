/**
 * A load-test producer in a worker thread (--producers N > 1): kafkajs encodes every record in
 * JavaScript, so one thread tops out at one core while Java's perf test has its sender thread
 * beside the caller. The main thread sends `start` (the common start time) and `stop`; this
 * thread answers `ready`, a `window` per report interval, then `done` or `error`.
 */
import {parentPort, workerData} from 'node:worker_threads'

// First, before producer-loop brings in kafkajs: a thread has a module cache of its own.
import '../kafka/kafkajs-patches-applied.js'

import {errorMessage, KpipeError} from '../errors.js'
import {ProducerLoop, type ProducerLoopOptions} from './producer-loop.js'

export type ToProducer = {type: 'start'; startWallUs: number} | {type: 'stop'}
export interface SerializedError {
  kind: KpipeError['kind']
  message: string
  hint?: string
  dependency?: string
}

function serialize(error: unknown): SerializedError {
  if (error instanceof KpipeError) return {kind: error.kind, message: error.message, hint: error.hint, dependency: (error as {dependency?: string}).dependency}
  return {kind: 'internal', message: error instanceof Error ? (error.stack ?? error.message) : errorMessage(error)}
}

async function main(): Promise<void> {
  const port = parentPort!
  const controller = new AbortController()
  let loop: ProducerLoop
  try {
    loop = await ProducerLoop.connect(workerData as ProducerLoopOptions)
  } catch (error) {
    port.postMessage({type: 'error', error: serialize(error)})
    return
  }
  // undefined: stopped before the start (another producer failed to connect).
  const started = new Promise<number | undefined>((resolve) => {
    port.on('message', (message: ToProducer) => {
      if (message.type === 'start') resolve(message.startWallUs)
      else {
        controller.abort()
        resolve(undefined)
      }
    })
  })
  port.postMessage({type: 'ready'})
  try {
    const startWallUs = await started
    if (startWallUs === undefined) return
    const result = await loop.run(startWallUs, {signal: controller.signal, onWindow: (window) => port.postMessage({type: 'window', window})})
    port.postMessage({type: 'done', result})
  } catch (error) {
    port.postMessage({type: 'error', error: serialize(error)})
  } finally {
    await loop.close()
    port.close()
  }
}

void main()
