#!/usr/bin/env node
import {execute} from '@oclif/core'

// kafkajs 2.2.4 arms a timer with a negative delay when its request queue is idle, which
// Node >= 23 reports as TimeoutNegativeWarning on every command; the timer then fires
// after 1 ms, which is what kafkajs meant. Keep every other warning.
process.removeAllListeners('warning')
process.on('warning', (warning) => {
  if (warning.name === 'TimeoutNegativeWarning') return
  process.stderr.write(`${warning.name}: ${warning.message}\n`)
})

await execute({dir: import.meta.url})
