/**
 * `kpipe lag --watch` in a real terminal: tmux runs the built CLI in a 140×30 pane, the test reads
 * the screen with capture-pane and types keys with send-keys, as a person at a terminal would.
 * Its own tmux server (-L) so nothing else on the machine is touched.
 */
import {execFile} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {promisify} from 'node:util'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {binRun, repoRoot, uniqueName} from '../helpers/cli.js'
import {createTopics, deleteTopics, kafka, produce} from '../integration/workers/helpers.js'

const exec = promisify(execFile)
const socket = uniqueName('kpipe-lag-watch')
const tmux = (...args: string[]) => exec('tmux', ['-L', socket, ...args])
const screen = async (): Promise<string> => (await tmux('capture-pane', '-p', '-t', 'lag')).stdout
const keys = (...k: string[]) => tmux('send-keys', '-t', 'lag', ...k)

async function waitForScreen(match: RegExp, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs
  let last = ''
  while (Date.now() < deadline) {
    last = await screen().catch(() => last)
    if (match.test(last)) return last
    await new Promise((resolve) => setTimeout(resolve, 150))
  }
  throw new Error(`the screen never matched ${match}:\n${last}`)
}

const topic = uniqueName('lag-watch')
const busy = uniqueName('lag-watch-busy')
const idle = uniqueName('lag-watch-idle')
const dir = mkdtempSync(path.join(tmpdir(), 'kpipe-lag-watch-'))
const exitFile = path.join(dir, 'exit')

beforeAll(async () => {
  await createTopics(topic, 3)
  await produce(
    topic,
    Array.from({length: 90}, (_, i) => ({key: `k${i}`, value: `v${i}`, partition: i % 3})),
  )
  const admin = kafka.admin()
  await admin.connect()
  try {
    await admin.setOffsets({groupId: busy, topic, partitions: [0, 1, 2].map((partition) => ({partition, offset: '1'}))})
    const ends = await admin.fetchTopicOffsets(topic)
    await admin.setOffsets({groupId: idle, topic, partitions: ends.map((e) => ({partition: e.partition, offset: e.high}))})
  } finally {
    await admin.disconnect()
  }
  // The pane's shell gets the test's environment (the stack's KPIPE_* variables) from a script.
  const script = path.join(dir, 'run.sh')
  const env = Object.entries(process.env)
    .filter(([k]) => k.startsWith('KPIPE_') || k === 'PATH' || k === 'HOME')
    .map(([k, v]) => `export ${k}='${String(v).replaceAll("'", "'\\''")}'`)
  // A terminal inside a CI job, in a developer's shell: Ink renders only a final frame whenever a
  // CI variable is set, and oclif hunts for TypeScript sources under NODE_ENV=development. Neither
  // may change what a person at this terminal sees.
  env.push('export CI=true NODE_ENV=development')
  writeFileSync(
    script,
    [...env, `cd '${repoRoot}'`, `'${process.execPath}' '${binRun}' lag --watch --interval 500ms --group ${busy} --group ${idle}`, `echo $? > '${exitFile}'`, 'sleep 60'].join('\n'),
  )
  await tmux('new-session', '-d', '-s', 'lag', '-x', '140', '-y', '30', `bash '${script}'`)
})

afterAll(async () => {
  await tmux('kill-server').catch(() => undefined)
  await deleteTopics(topic).catch(() => undefined)
})

describe('kpipe lag --watch in a terminal', () => {
  it('shows the groups, their lag and a sparkline; the worst group first and selected', async () => {
    const text = await waitForScreen(new RegExp(`polled[\\s\\S]*${busy.slice(0, 20)}`))
    expect(text).toMatch(/kpipe lag .* 2 groups, 1 lagging/)
    // The header's health line, from the same checks as kpipe health (one broker, healthy).
    await waitForScreen(/cluster healthy: 1 broker, controller \d+/)
    // The group with lag and nobody consuming it: ERR, lag 87, partitions STOP.
    expect(text).toMatch(new RegExp(`› ERR\\s+${busy.slice(0, 20)}\\S*\\s+Empty\\s+0\\s+87`))
    expect(text).toMatch(new RegExp(`OK\\s+${idle.slice(0, 20)}\\S*\\s+Empty\\s+0\\s+0`))
    // Each partition: its lag, a trend arrow (flat: nobody consumes), the sparkline, STOP.
    const rows = await waitForScreen(new RegExp(`${topic}/\\d\\s+29 → [▁▂▃▄▅▆▇█]{2,}\\s+\\S+\\s+STOP`))
    expect(rows.match(new RegExp(`${topic}/\\d`, 'g'))).toHaveLength(3)
    // The whole frame fits the pane: its header and its footer are both on screen.
    const lines = rows.split('\n').filter((line) => line.trim() !== '')
    expect(lines[0]).toMatch(/^kpipe lag /)
    expect(lines.at(-1)).toMatch(/^q quit · p pause/)
  })

  it('reacts to its keys: sort, help, pause, move, filter', async () => {
    await keys('s')
    await waitForScreen(/sort: time-lag/)
    await keys('?')
    await waitForScreen(/p, space\s+pause \/ resume the refresh/)
    await keys('?')
    await waitForScreen(/q quit · p pause/)
    await keys('p')
    await waitForScreen(/PAUSED/)
    await keys('p')
    await keys('j')
    await waitForScreen(new RegExp(`› OK\\s+${idle.slice(0, 20)}`))
    await keys('/')
    await keys(...busy.slice(-5).split(''))
    await waitForScreen(new RegExp(`filter groups: ${busy.slice(-5)}`))
    await keys('Enter')
    const filtered = await waitForScreen(new RegExp(`/ filter: ${busy.slice(-5)}`))
    expect(filtered).toMatch(/1 groups/)
    expect(filtered).not.toContain(idle.slice(0, 20))
  })

  it('quits on q with exit 0 and gives the shell its screen back', async () => {
    expect(existsSync(exitFile)).toBe(false)
    await keys('q')
    // A generous bound for a loaded machine. A poll in flight when q was pressed used to open a
    // broker connection after the close, which held the process for 10 minutes (the broker's idle
    // timeout): test/integration/lag/broker-links.test.ts.
    const deadline = Date.now() + 60_000
    while (!existsSync(exitFile) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
    expect(readFileSync(exitFile, 'utf8').trim()).toBe('0')
    const after = await screen()
    expect(after).not.toMatch(/kpipe lag/)
    expect(after).not.toMatch(/Warning/)
  })
})
