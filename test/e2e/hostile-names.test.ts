/**
 * Hostile names from flags (topics, consumer groups, BigQuery tables) are refused before any
 * request: exit 2 and one sentence naming the flag, the name shown quoted on one line.
 */
import {describe, expect, it} from 'vitest'

import {runCli} from '../helpers/cli.js'

const HOSTILE = [
  `events'; DROP TABLE pipeline.events; --`,
  'events"--',
  'évènements',
  'a\nError: forged line',
  'x'.repeat(250),
  '',
]

function expectRefused(result: {code: number | null; stderr: string}, flag: string): void {
  expect(result.code, result.stderr).toBe(2)
  const errors = result.stderr.split('\n').filter((line) => line.startsWith('Error: '))
  expect(errors).toHaveLength(1)
  expect(errors[0]).toMatch(new RegExp(`^Error: ${flag}: ".*" (\\(\\d+ characters\\) )?is not a [^\\n]*\\.$`))
}

describe('hostile names from flags', () => {
  it.each(HOSTILE.filter(Boolean))('worker events --topic %j: exit 2, one sentence', async (name) => {
    expectRefused(await runCli(['worker', 'events', '--topic', name, '--metrics-port', '0']), '--topic')
  })

  it.each([
    [['worker', 'logs', '--group'], '--group'],
    [['worker', 'analytics', '--dlq-topic'], '--dlq-topic'],
    [['replay-dlq', '--dlq'], '--dlq'],
    [['replay-dlq', '--dlq', 'events.dlq', '--group'], '--group'],
    [['lag', '--topic'], '--topic'],
    [['health', '--topic'], '--topic'],
    [['produce', '--topic'], '--topic'],
    [['load-test', '--topic'], '--topic'],
    [['worker', 'analytics', '--table'], '--table'],
  ])('%j with a hostile name: exit 2, one sentence', async (args, flag) => {
    for (const name of [HOSTILE[0]!, HOSTILE[3]!]) {
      // Workers would otherwise try the default metrics port; the name is refused before that.
      const port = args[0] === 'worker' ? ['--metrics-port', '0'] : []
      expectRefused(await runCli([...args, name, ...port]), flag)
    }
  })

  // lag and integrity read groups that others made: any name Kafka has, but nothing that would
  // forge or hide a line of output.
  it.each([
    [['integrity', '--sink', 'postgres', '--group'], '--group'],
    [['lag', '--group'], '--group'],
  ])('%j with a name holding a line break or an invisible character: exit 2, one sentence', async (args, flag) => {
    for (const name of [HOSTILE[3]!, 'orders\u200b', 'x'.repeat(256), '']) expectRefused(await runCli([...args, name]), flag)
  })

  it('lag reads a group whose name has quotes, spaces and a semicolon, as Kafka allows: NOTFOUND, exit 1', async () => {
    const name = `orders v2; it's "fine"`
    const result = await runCli(['lag', '--group', name, '--json'])
    expect(result.code, result.stderr).toBe(1)
    expect(JSON.parse(result.stdout)).toMatchObject({groups: [{group: name, status: 'NOTFOUND'}]})
  })

  it('an empty topic name is refused too', async () => {
    const result = await runCli(['worker', 'events', '--topic', '', '--metrics-port', '0'])
    expect(result.code, result.stderr).toBe(2)
  })
})
