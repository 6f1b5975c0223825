/**
 * `kpipe lag` against the real broker, as a person and as a script use it: the numbers equal
 * kafka-consumer-groups.sh's, each status the issue names shows up for the situation that makes
 * it, and every exit code is tried with --json parsed.
 */
import {execFile, spawn} from 'node:child_process'
import {promisify} from 'node:util'

import {CompressionTypes, type Consumer} from 'kafkajs'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {binRun, json, repoRoot, runCli, uniqueName} from '../helpers/cli.js'
import {registerCompressionCodecs} from '../../src/lib/workers/codecs.js'
import {privatePort} from '../helpers/services.js'
import {BROKERS, createTopics, deleteTopics, kafka, produce} from '../integration/workers/helpers.js'

const run = promisify(execFile)

interface PartitionJson {
  topic: string
  partition: number
  committedOffset: number | null
  logStartOffset: number
  logEndOffset: number
  lag: number | null
  timeLagMs: number | null
  status: string
  dataLost: boolean
  lostRecords: number
}
interface GroupJson {
  group: string
  state: string
  status: string
  totalLag: number
  maxTimeLagMs: number | null
  members: {clientId: string; partitions: {topic: string; partition: number}[]}[]
  catchUpMs: number | null
  productionPerSec: number | null
  consumptionPerSec: number | null
  partitions: PartitionJson[]
}
interface LagJson {
  groups: GroupJson[]
  breaches: {group: string; what: string; value: unknown}[]
}

const topic = uniqueName('lag-e2e')
const topics = [topic]
const admin = kafka.admin()

/** Commits offsets for a group with no member, the state a stopped consumer leaves behind. */
async function commit(group: string, t: string, offsets: number[]): Promise<void> {
  await admin.setOffsets({groupId: group, topic: t, partitions: offsets.map((offset, partition) => ({partition, offset: String(offset)}))})
}

const messages = (n: number, tag: string) => Array.from({length: n}, (_, i) => ({key: `k${i % 7}`, value: `${tag}-${i}`}))

beforeAll(async () => {
  await admin.connect()
  await createTopics(topic, 3)
  await produce(topic, messages(300, 'a')) // spread over the 3 partitions by key
})

afterAll(async () => {
  for (const t of topics) await deleteTopics(t).catch(() => undefined)
  await admin.disconnect()
})

describe('kpipe lag on a quiet group', () => {
  const group = uniqueName('lag-quiet')

  it('prints the committed offsets, end offsets and lag that kafka-consumer-groups.sh --describe prints', async () => {
    const ends = await admin.fetchTopicOffsets(topic)
    const byPartition = new Map(ends.map((e) => [e.partition, Number(e.high)]))
    await commit(group, topic, [0, 1, 2].map((p) => Math.floor(byPartition.get(p)! / 2)))

    const {stdout: tool} = await run('./scripts/stack', ['tool', 'kafka-consumer-groups', '--bootstrap-server', BROKERS.join(','), '--describe', '--group', group], {cwd: repoRoot})
    // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
    const expected = tool
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .filter((cols) => cols[0] === group)
      .map((cols) => ({topic: cols[1], partition: Number(cols[2]), committedOffset: Number(cols[3]), logEndOffset: Number(cols[4]), lag: Number(cols[5])}))
      .sort((a, b) => a.partition - b.partition)
    expect(expected).toHaveLength(3)

    const result = await runCli(['lag', '--group', group, '--json'])
    expect(result.code, result.stderr).toBe(0)
    const [g] = json<LagJson>(result).groups
    expect(g!.partitions.map(({topic, partition, committedOffset, logEndOffset, lag}) => ({topic, partition, committedOffset, logEndOffset, lag}))).toEqual(expected)
    expect(g!.totalLag).toBe(expected.reduce((a, p) => a + p.lag, 0))
    expect(g!.totalLag).toBeGreaterThan(0)
  })

  it('a stopped consumer with lag is STOP and its group ERR; --fail-on err exits 1 and lists the breach', async () => {
    const plain = await runCli(['lag', '--group', group])
    expect(plain.code, plain.stderr).toBe(0)
    expect(plain.stdout).toMatch(new RegExp(`${group}\\s+status ERR\\s+state Empty`))
    expect(plain.stdout).toMatch(/STOP/)

    const failing = await runCli(['lag', '--group', group, '--fail-on', 'err', '--json'])
    expect(failing.code, failing.stderr).toBe(1)
    const doc = json<LagJson>(failing)
    expect(doc.groups[0]).toMatchObject({group, status: 'ERR', state: 'Empty'})
    expect(doc.groups[0]!.partitions.every((p) => p.status === 'STOP')).toBe(true)
    expect(doc.breaches).toEqual([{group, what: 'status', value: 'ERR', limit: 'err'}])
    expect(failing.stderr).toMatch(/status ERR \(--fail-on err\)/)
  })

  it('--max-lag breaches per partition above the limit, and passes at the limit', async () => {
    const doc = json<LagJson>(await runCli(['lag', '--group', group, '--json']))
    const worst = Math.max(...doc.groups[0]!.partitions.map((p) => p.lag!))
    const over = await runCli(['lag', '--group', group, '--max-lag', String(worst - 1), '--json'])
    expect(over.code).toBe(1)
    expect(json<LagJson>(over).breaches.filter((b) => b.what === 'lag').map((b) => b.value)).toContain(worst)
    const at = await runCli(['lag', '--group', group, '--max-lag', String(worst), '--json'])
    expect(at.code, at.stderr).toBe(0)
  })

  it('an idle caught-up group is OK with time lag 0, and passes --fail-on warn', async () => {
    const caughtUp = uniqueName('lag-caught-up')
    const ends = await admin.fetchTopicOffsets(topic)
    await commit(caughtUp, topic, [0, 1, 2].map((p) => Number(ends.find((e) => e.partition === p)!.high)))
    const result = await runCli(['lag', '--group', caughtUp, '--fail-on', 'warn', '--max-time-lag', '1s', '--json'])
    expect(result.code, result.stderr).toBe(0)
    const g = json<LagJson>(result).groups[0]!
    expect(g).toMatchObject({status: 'OK', totalLag: 0, maxTimeLagMs: 0})
    expect(g.partitions.map((p) => [p.lag, p.timeLagMs, p.status])).toEqual([
      [0, 0, 'OK'],
      [0, 0, 'OK'],
      [0, 0, 'OK'],
    ])
  })
})

describe('kpipe lag reads the exact time lag in one run', () => {
  it('the age of the record at the committed offset, so --max-time-lag works without --sample', async () => {
    const t = uniqueName('lag-age')
    topics.push(t)
    await createTopics(t, 2)
    const tenMinutesAgo = Date.now() - 600_000
    // Partition 0: the group is behind on records written ten minutes ago; partition 1: caught up.
    await produce(t, [
      ...Array.from({length: 5}, (_, i) => ({partition: 0, value: `old-${i}`, timestamp: String(tenMinutesAgo + i)})),
      ...Array.from({length: 5}, (_, i) => ({partition: 0, value: `new-${i}`})),
      ...Array.from({length: 3}, (_, i) => ({partition: 1, value: `p1-${i}`})),
    ])
    const group = uniqueName('lag-age-g')
    await commit(group, t, [2, 3])
    const started = Date.now()
    const result = await runCli(['lag', '--group', group, '--max-time-lag', '5m', '--json'])
    expect(result.code, result.stderr).toBe(1)
    const doc = json<LagJson>(result)
    const [behind, caughtUp] = doc.groups[0]!.partitions
    expect(behind, JSON.stringify(doc.groups[0])).toMatchObject({partition: 0, committedOffset: 2, lag: 8})
    // The record at offset 2 was written at tenMinutesAgo + 2.
    expect(behind!.timeLagMs!).toBeGreaterThanOrEqual(started - (tenMinutesAgo + 2) - 1000)
    expect(behind!.timeLagMs!).toBeLessThanOrEqual(Date.now() - (tenMinutesAgo + 2))
    expect(caughtUp).toMatchObject({partition: 1, lag: 0, timeLagMs: 0})
    expect(doc.breaches).toEqual([expect.objectContaining({group, topic: t, partition: 0, what: 'timeLag', limit: 300_000})])
  })

  it.each([
    ['zstd', CompressionTypes.ZSTD],
    ['lz4', CompressionTypes.LZ4],
    ['snappy', CompressionTypes.Snappy],
  ])('reads the record time inside %s-compressed batches too', async (_name, compression) => {
    registerCompressionCodecs()
    const t = uniqueName('lag-age-compressed')
    topics.push(t)
    await createTopics(t, 1)
    const hourAgo = Date.now() - 3_600_000
    await produce(t, Array.from({length: 50}, (_, i) => ({value: `v-${i}`, timestamp: String(hourAgo + i * 1000)})), {compression})
    const group = uniqueName('lag-age-compressed-g')
    await commit(group, t, [20])
    const result = await runCli(['lag', '--group', group, '--json'])
    expect(result.code, result.stderr).toBe(0)
    const [p] = json<LagJson>(result).groups[0]!.partitions
    // The record at offset 20, in the middle of one compressed batch, was written at hourAgo + 20 s.
    expect(p).toMatchObject({committedOffset: 20, lag: 30})
    expect(p!.timeLagMs!).toBeGreaterThanOrEqual(3_600_000 - 20_000 - 1000)
    expect(p!.timeLagMs!).toBeLessThanOrEqual(Date.now() - (hourAgo + 20_000))
  })
})

describe('kpipe lag flags data lost to retention', () => {
  it('a committed offset below the log start is dataLost, with the records deleted unread', async () => {
    const t = uniqueName('lag-lost')
    topics.push(t)
    await createTopics(t, 1)
    await produce(t, messages(20, 'lost'))
    const group = uniqueName('lag-lost-g')
    await commit(group, t, [3])
    await admin.deleteTopicRecords({topic: t, partitions: [{partition: 0, offset: '12'}]})
    const result = await runCli(['lag', '--group', group, '--json'])
    expect(result.code, result.stderr).toBe(0)
    expect(json<LagJson>(result).groups[0]!.partitions[0]).toMatchObject({committedOffset: 3, logStartOffset: 12, logEndOffset: 20, lag: 17, dataLost: true, lostRecords: 9})
    const text = await runCli(['lag', '--group', group])
    expect(text.stdout).toMatch(/data lost to retention: 9 records on lag-lost-[^ ]+\/0/)
  })
})

describe('kpipe lag on a group mid-consumption', () => {
  let consumer: Consumer | undefined

  afterAll(async () => {
    await consumer?.disconnect()
  })

  it('--sample measures the lag falling (consumed faster than produced), a finite catch-up time and the consuming member', async () => {
    const t = uniqueName('lag-busy')
    topics.push(t)
    await createTopics(t, 2)
    await produce(t, messages(6000, 'busy'))
    const group = uniqueName('lag-busy-g')
    consumer = kafka.consumer({groupId: group, maxBytesPerPartition: 2048})
    await consumer.connect()
    await consumer.subscribe({topic: t, fromBeginning: true})
    // Slow on purpose (about 200 records/s), committing every 200 ms, so the lag falls while sampled.
    await consumer.run({autoCommitInterval: 200, eachMessage: () => new Promise((resolve) => setTimeout(resolve, 5))})
    // Sample once it consumes: the group's first join waits out the broker's rebalance delay.
    await until(async () => {
      const [offsets] = await admin.fetchOffsets({groupId: group, topics: [t]})
      return offsets!.partitions.every((p) => Number(p.offset) > 0)
    }, 60_000)

    const result = await runCli(['lag', '--group', group, '--sample', '6s', '--interval', '1s', '--json'], {timeoutMs: 60_000})
    expect(result.code, result.stderr).toBe(0)
    const g = json<LagJson>(result).groups[0]!
    expect(g.state).toBe('Stable')
    expect(g.members).toHaveLength(1)
    expect(g.members[0]!.partitions.map((p) => p.partition).sort()).toEqual([0, 1])
    expect(g.totalLag).toBeGreaterThan(0)
    expect(g.totalLag).toBeLessThan(6000)
    expect(g.status).not.toBe('ERR')
    expect(g.catchUpMs, JSON.stringify(g)).toEqual(expect.any(Number))
    expect(g.catchUpMs!).toBeGreaterThan(0)
    expect(g.maxTimeLagMs).toEqual(expect.any(Number))
    expect(g.consumptionPerSec!).toBeGreaterThan(g.productionPerSec!)
    expect(g.productionPerSec).toBe(0)
  })
})

describe('kpipe lag exit codes for scripts', () => {
  it('a named group that does not exist is NOTFOUND and exits 1', async () => {
    const ghost = uniqueName('lag-ghost')
    const result = await runCli(['lag', '--group', ghost, '--json'])
    expect(result.code).toBe(1)
    const doc = json<LagJson>(result)
    expect(doc.groups).toEqual([expect.objectContaining({group: ghost, status: 'NOTFOUND', partitions: []})])
    expect(doc.breaches).toEqual([expect.objectContaining({group: ghost, what: 'status', value: 'NOTFOUND'})])
    expect(result.stderr).toMatch(/no such consumer group/)
  })

  it.each([
    [['--max-lag', 'lots'], /--max-lag must be a whole number/],
    [['--group-regex', '(unclosed'], /--group-regex is not a valid regular expression/],
    [['--max-time-lag', 'soon'], /duration/i],
    [['--fail-on', 'sometimes'], /Expected --fail-on=sometimes to be one of: warn, err/],
    [['--sample', '5s', '--watch'], /cannot also be provided/],
  ])('bad flags %j exit 2 with one clear sentence', async (args, message) => {
    const result = await runCli(['lag', ...args, '--json'])
    expect(result.code, result.stderr).toBe(2)
    expect(result.stderr).toMatch(message)
  })

  it('Kafka unreachable exits 3 within seconds, naming the brokers', async () => {
    const result = await runCli(['lag', '--brokers', `127.0.0.1:${privatePort()}`, '--json'], {timeoutMs: 60_000})
    expect(result.code, result.stderr).toBe(3)
    expect(JSON.parse(result.stdout)).toMatchObject({error: {exitCode: 3}})
    expect(result.stderr).toMatch(/Kafka/)
  })
})

describe('kpipe lag over time: snapshots and the Prometheus exporter', () => {
  it('--watch into a pipe prints one NDJSON snapshot per interval and exits 0 on SIGINT', async () => {
    const group = uniqueName('lag-watch-pipe')
    await commit(group, topic, [1, 1, 1])
    const child = spawn(process.execPath, [binRun, 'lag', '--group', group, '--watch', '--interval', '300ms', '--json'], {cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe']})
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
    await until(() => out.split('\n').filter(Boolean).length >= 3, 30_000)
    child.kill('SIGINT')
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    expect(code).toBe(0)
    const snapshots = out.split('\n').filter(Boolean).map((line) => JSON.parse(line) as LagJson & {sampledAt: string})
    expect(snapshots.length).toBeGreaterThanOrEqual(3)
    expect(new Set(snapshots.map((s) => s.sampledAt)).size).toBe(snapshots.length)
    for (const s of snapshots) expect(s.groups[0]).toMatchObject({group, state: 'Empty'})
  })

  it('--serve exports lag per partition and group status; an unknown value is an absent series, not NaN', async () => {
    const group = uniqueName('lag-serve')
    await commit(group, topic, [2, 2, 2])
    const noCommit = uniqueName('lag-serve-none')
    const port = privatePort()
    const child = spawn(process.execPath, [binRun, 'lag', '--group', group, '--group', noCommit, '--serve', '--metrics-port', String(port), '--interval', '500ms'], {cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe']})
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    try {
      let text = ''
      await until(async () => {
        text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()).catch(() => '')
        return text.includes(`kpipe_lag_group_lag{group="${group}"}`)
      }, 30_000)
      const ends = await admin.fetchTopicOffsets(topic)
      for (const e of ends) {
        expect(text).toContain(`kpipe_lag_partition_lag{group="${group}",topic="${topic}",partition="${e.partition}"} ${Number(e.high) - 2}`)
      }
      expect(text).toContain(`kpipe_lag_group_status{group="${group}",status="ERR"} 1`)
      expect(text).toContain(`kpipe_lag_group_status{group="${noCommit}",status="NOTFOUND"} 1`)
      // kpipe's own series (prom-client's event-loop gauges are NaN between two close scrapes).
      expect(text.split('\n').filter((line) => line.startsWith('kpipe_'))).not.toContainEqual(expect.stringMatching(/NaN/))
      expect(text).not.toContain(`kpipe_lag_group_lag{group="${noCommit}"}`)
      // The windowed rates appear once two polls have been seen: nothing produced, nothing consumed.
      await until(async () => {
        text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()).catch(() => '')
        return text.includes(`kpipe_lag_partition_consumption_records_per_second{group="${group}"`)
      }, 30_000)
      for (const e of ends) {
        const labels = `{group="${group}",topic="${topic}",partition="${e.partition}"}`
        expect(text).toContain(`kpipe_lag_partition_consumption_records_per_second${labels} 0`)
        expect(text).toContain(`kpipe_lag_partition_production_records_per_second${labels} 0`)
      }
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`)
      expect(ready.status).toBe(200)
    } finally {
      child.kill('SIGTERM')
    }
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    expect(code, stderr).toBe(0)
  })
})

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
