/**
 * `kpipe lag --json` over 50 groups × 600 partitions (DESIGN §6: < 1 s), timed beside Kafka's own
 * `kafka-consumer-groups.sh --describe` for the same groups, on the same broker, in the same run.
 *
 *   npx tsx bench/lag.ts [--groups 50] [--topics 10] [--partitions 60] [--runs 5] [--keep]
 *
 * Set-up (not measured): `topics` topics of `partitions` partitions with a few records each, and
 * `groups` groups with a committed offset on every partition (kafka-consumer-groups --reset-offsets), so each
 * group has topics × partitions rows to report. Both tools then print every row of every group.
 * Times are wall-clock of the whole process (start-up included: that is what a cron job waits),
 * median of `runs` after one warm-up; the kpipe figure also shows its start-up alone (`--help`).
 */
import {execFileSync, spawnSync} from 'node:child_process'
import path from 'node:path'
import {parseArgs} from 'node:util'

import kafkajs from 'kafkajs'

import {fmt, load, loadAverage, log, writeJsonOut} from './lib/harness.js'

const {values: args} = parseArgs({
  options: {
    groups: {type: 'string', default: '50'},
    topics: {type: 'string', default: '10'},
    partitions: {type: 'string', default: '60'},
    runs: {type: 'string', default: '5'},
    keep: {type: 'boolean', default: false},
    // Also writes the times as JSON (for bench/run.ts), each with the load average around it.
    'json-out': {type: 'string'},
  },
})
const groups = Number(args.groups)
const topicCount = Number(args.topics)
const partitions = Number(args.partitions)
const runs = Number(args.runs)
const repo = path.resolve(import.meta.dirname, '..')
const brokers = (process.env.KPIPE_BROKERS ?? 'localhost:9092').split(',')
const tag = `bench-lag-${Date.now().toString(36)}`
const topics = Array.from({length: topicCount}, (_, i) => `${tag}-t${i}`)
const groupIds = Array.from({length: groups}, (_, i) => `${tag}-g${String(i).padStart(2, '0')}`)

const kafka = new kafkajs.Kafka({clientId: 'kpipe-bench-lag', brokers, logLevel: kafkajs.logLevel.NOTHING})
const admin = kafka.admin()

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

/** 1-minute load average before and after each timed run, in the order of the runs. */
const loads: {what: string; before: number; after: number}[] = []

function timed(what: string, command: string, argv: string[], check: (stdout: string) => void): number[] {
  const times: number[] = []
  for (let i = 0; i <= runs; i++) {
    const loadBefore = loadAverage()[0]!
    const started = process.hrtime.bigint()
    const result = spawnSync(command, argv, {cwd: repo, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024})
    const ms = Number(process.hrtime.bigint() - started) / 1e6
    if (result.status !== 0) throw new Error(`${command} ${argv.slice(0, 3).join(' ')} exited ${result.status}: ${result.stderr.slice(-500)}`)
    check(result.stdout)
    if (i > 0) {
      times.push(ms) // the first run warms caches (page cache, JIT of the broker's paths)
      loads.push({what, before: loadBefore, after: loadAverage()[0]!})
    }
  }
  return times
}

async function main(): Promise<void> {
  await admin.connect()
  try {
    log(`creating ${topicCount} topics × ${partitions} partitions and ${groups} groups (load ${load()})`)
    await admin.createTopics({waitForLeaders: true, topics: topics.map((topic) => ({topic, numPartitions: partitions, replicationFactor: 1}))})
    const producer = kafka.producer()
    await producer.connect()
    for (const topic of topics) {
      const messages = Array.from({length: partitions * 5}, (_, i) => ({partition: i % partitions, value: `v${i}`}))
      // Fresh topics: the broker may not lead every partition yet when the metadata says so.
      for (let attempt = 1; ; attempt++) {
        try {
          await producer.send({topic, messages})
          break
        } catch (error) {
          if (attempt >= 20) throw error
          await new Promise((resolve) => setTimeout(resolve, 500))
        }
      }
    }
    await producer.disconnect()
    // Committed offsets by Kafka's own tool, one call per group over all topics: kafkajs'
    // setOffsets joins the group for every topic (seconds each), 500 of them would take long.
    for (const [g, groupId] of groupIds.entries()) {
      execFileSync(
        path.join(repo, 'scripts', 'stack'),
        ['tool', 'kafka-consumer-groups', '--bootstrap-server', brokers.join(','), '--reset-offsets', '--group', groupId, ...topics.flatMap((t) => ['--topic', t]), '--to-offset', String(1 + (g % 4)), '--execute'],
        {cwd: repo, stdio: 'ignore'},
      )
    }
    const rowsExpected = groups * topicCount * partitions
    log(`${fmt(rowsExpected)} group-partition rows; timing ${runs} runs each after a warm-up (load ${load()})`)

    const node = process.execPath
    const kpipeArgs = [path.join(repo, 'bin', 'run.js'), 'lag', '--group-regex', `^${tag}-g`, '--json']
    const kpipe = timed('kpipe lag', node, kpipeArgs, (stdout) => {
      const doc = JSON.parse(stdout) as {groups: {partitions: unknown[]}[]}
      const rows = doc.groups.reduce((a, g) => a + g.partitions.length, 0)
      if (rows !== rowsExpected) throw new Error(`kpipe lag printed ${rows} rows, expected ${rowsExpected}`)
    })
    const startup = timed('kpipe lag --help', node, [path.join(repo, 'bin', 'run.js'), 'lag', '--help'], () => undefined)
    const groupArgs = groupIds.flatMap((g) => ['--group', g])
    const kcg = timed('kafka-consumer-groups --describe', path.join(repo, 'scripts', 'stack'), ['tool', 'kafka-consumer-groups', '--bootstrap-server', brokers.join(','), '--describe', ...groupArgs], (stdout) => {
      const rows = stdout.split('\n').filter((line) => line.startsWith(`${tag}-g`)).length
      if (rows !== rowsExpected) throw new Error(`kafka-consumer-groups printed ${rows} rows, expected ${rowsExpected}`)
    })
    const kcgStartup = timed('kafka-consumer-groups --version', path.join(repo, 'scripts', 'stack'), ['tool', 'kafka-consumer-groups', '--version'], () => undefined)

    const line = (name: string, times: number[], start: number[]) =>
      `| ${name} | ${fmt(Math.round(median(times)))} | ${fmt(Math.round(Math.min(...times)))} | ${fmt(Math.round(Math.max(...times)))} | ${fmt(Math.round(median(start)))} |`
    process.stdout.write(
      [
        `${groups} groups × ${topicCount * partitions} partitions (${fmt(rowsExpected)} rows), median of ${runs}, load ${load()}`,
        '',
        '| tool | median ms | min ms | max ms | start-up alone, ms |',
        '|---|---:|---:|---:|---:|',
        line('`kpipe lag --group-regex … --json`', kpipe, startup),
        line('`kafka-consumer-groups.sh --describe --group …×50`', kcg, kcgStartup),
        '',
        `kpipe / kafka-consumer-groups: ${(median(kpipe) / median(kcg)).toFixed(2)}× the time; < 1 s: ${median(kpipe) < 1000 ? 'yes' : 'no'}`,
        '',
      ].join('\n'),
    )
    writeJsonOut(args['json-out'], {bench: 'lag', groups, partitions: topicCount * partitions, rows: rowsExpected, kpipeMs: kpipe, kpipeStartupMs: startup, kafkaConsumerGroupsMs: kcg, kafkaConsumerGroupsStartupMs: kcgStartup, loads})
  } finally {
    if (!args.keep) {
      await admin.deleteGroups(groupIds).catch(() => undefined)
      await admin.deleteTopics({topics}).catch(() => undefined)
    }
    await admin.disconnect()
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`)
  process.exit(1)
})
