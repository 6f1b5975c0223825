/**
 * A private multi-node Kafka cluster for one test file: KRaft nodes in combined broker+controller
 * mode, from the jars and the server.properties template the stack installed
 * (scripts/stack.d/lib.sh), on private ports, in a temporary directory. A test may stop and start
 * its nodes at will: the shared stack's single broker, which other tests use at the same time, is
 * never touched.
 */
import {execFile, spawn, type ChildProcess} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {promisify} from 'node:util'

import {repoRoot} from './cli.js'
import {privatePort, sq, watchdog} from './services.js'

const run = promisify(execFile)
const STACK_D = path.join(repoRoot, 'scripts', 'stack.d')

/**
 * Runs `script` in bash with scripts/stack.d/lib.sh sourced, so the classpath ($KAFKA_LIBS), the
 * JVM options (JAVA_GC_OPTS, kafka_java) and the log4j configuration are the stack's own.
 */
function withStackLib(script: string): string[] {
  const prelude = `SCRIPT_DIR=${sq(path.join(repoRoot, 'scripts'))} REPO_DIR=${sq(repoRoot)} STACK_D=${sq(STACK_D)}; source "$STACK_D/lib.sh"; `
  return ['-c', prelude + script]
}

export interface KafkaNode {
  id: number
  /** The client (PLAINTEXT) port. */
  port: number
  controllerPort: number
}

export interface PrivateKafkaCluster {
  /** Bootstrap list for KPIPE_BROKERS / --brokers. */
  brokers: string
  nodes: KafkaNode[]
  /** SIGTERM (a controlled shutdown) and wait for the process to exit. */
  stop(id: number): Promise<void>
  /** SIGKILL (a crash: no controlled shutdown, no leadership handed over) and wait for the exit. */
  kill(id: number): Promise<void>
  /** Start a stopped node again with its data; resolves once it logs "Kafka Server started". */
  start(id: number): Promise<void>
  /** Stop every node and delete the data. Safe to call twice, and after a failed start. */
  dispose(): Promise<void>
}

export interface PrivateKafkaOptions {
  nodes?: number
  /** Maximum JVM heap per node, in MiB (the machine is small; the stack's own broker has 512). */
  heapMb?: number
  /** Appended to each node's server.properties; a later line wins in Java properties. */
  properties?: Record<string, string>
  /** How long each node may take to start. */
  startTimeoutMs?: number
}

/** Kafka's Uuid.randomUuid().toString(): 16 random bytes, base64url, never starting with a dash. */
function kafkaClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url')
    if (!id.startsWith('-')) return id
  }
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = []
  while (ports.length < count) {
    const port = privatePort()
    if (!ports.includes(port) && (await portIsFree(port))) ports.push(port)
  }
  return ports
}

class PortTaken extends Error {}

export async function startPrivateKafkaCluster(options: PrivateKafkaOptions = {}): Promise<PrivateKafkaCluster> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await launchCluster(options)
    } catch (error) {
      if (!(error instanceof PortTaken) || attempt === 4) throw error
    }
  }
}

async function launchCluster(options: PrivateKafkaOptions): Promise<PrivateKafkaCluster> {
  const count = options.nodes ?? 3
  const heapMb = options.heapMb ?? 256
  const startTimeoutMs = options.startTimeoutMs ?? 120_000
  const dir = mkdtempSync(path.join(tmpdir(), 'kpipe-test-kafka-'))
  const ports = await freePorts(2 * count)
  const nodes: KafkaNode[] = Array.from({length: count}, (_, i) => ({id: i + 1, port: ports[2 * i]!, controllerPort: ports[2 * i + 1]!}))
  const voters = nodes.map((n) => `${n.id}@localhost:${n.controllerPort}`).join(',')
  const rf = Math.min(3, count)
  const minIsr = rf >= 3 ? 2 : 1
  const template = readFileSync(path.join(STACK_D, 'kafka-server.properties.in'), 'utf8')
  const extra = Object.entries(options.properties ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join('\n')
  const nodeDir = (id: number) => path.join(dir, `node-${id}`)
  const clusterId = kafkaClusterId()

  const configs = nodes.map((n) => {
    const data = path.join(nodeDir(n.id), 'data')
    mkdirSync(data, {recursive: true})
    const config = path.join(nodeDir(n.id), 'server.properties')
    const text = template
      .replaceAll('@NODE_ID@', String(n.id))
      .replaceAll('@VOTERS@', voters)
      .replaceAll('@LISTENERS@', `PLAINTEXT://127.0.0.1:${n.port},CONTROLLER://127.0.0.1:${n.controllerPort}`)
      .replaceAll('@ADVERTISED@', `PLAINTEXT://localhost:${n.port}`)
      .replaceAll('@PROTOCOL_MAP@', 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT')
      .replaceAll('@LOG_DIRS@', data)
      .replaceAll('@RF@', String(rf))
      .replaceAll('@MIN_ISR@', String(minIsr))
    writeFileSync(config, `${text}\n# ${path.basename(import.meta.url)}\n${extra}\n`)
    return config
  })

  // Armed before any JVM starts: whatever happens to this process, the nodes die with it.
  const disarm = watchdog(`for f in ${sq(dir)}/node-*/kafka.pid; do kill -9 "$(cat "$f")" 2>/dev/null; done; rm -rf ${sq(dir)}`)
  const children = new Map<number, {child: ChildProcess; exited: Promise<void>}>()
  let disposed = false

  const dispose = async () => {
    if (disposed) return
    disposed = true
    await Promise.all([...children.keys()].map((id) => stop(id).catch(() => undefined)))
    disarm()
    rmSync(dir, {recursive: true, force: true})
  }

  const stop = async (id: number, timeoutMs = 60_000) => {
    const running = children.get(id)
    if (!running) return
    running.child.kill('SIGTERM')
    const exited = await Promise.race([running.exited.then(() => true), sleep(timeoutMs).then(() => false)])
    if (!exited) {
      running.child.kill('SIGKILL')
      await running.exited
    }
    children.delete(id)
    rmSync(path.join(nodeDir(id), 'kafka.pid'), {force: true})
  }

  const kill = async (id: number) => {
    const running = children.get(id)
    if (!running) return
    // bash exec'd java, so the child's pid is the JVM's.
    running.child.kill('SIGKILL')
    await running.exited
    children.delete(id)
    rmSync(path.join(nodeDir(id), 'kafka.pid'), {force: true})
  }

  const start = async (id: number) => {
    if (children.has(id)) return
    const log = path.join(nodeDir(id), 'kafka.log')
    const fd = openSync(log, 'w')
    const javaCommand =
      `exec java -Xms64m -Xmx${heapMb}m "\${JAVA_GC_OPTS[@]}" -Dlog4j2.configurationFile="$STACK_D/log4j2.yaml" ` +
      `-Dkafka.logs.dir=${sq(nodeDir(id))} -cp "$KAFKA_LIBS/*" kafka.Kafka ${sq(configs[id - 1]!)}`
    const child = spawn('bash', withStackLib(javaCommand), {stdio: ['ignore', fd, fd]})
    closeSync(fd)
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.once('error', () => undefined)
    writeFileSync(path.join(nodeDir(id), 'kafka.pid'), String(child.pid))
    children.set(id, {child, exited})
    const deadline = Date.now() + startTimeoutMs
    let gone = false
    void exited.then(() => (gone = true))
    for (;;) {
      const text = readFileSync(log, 'utf8')
      if (/Kafka Server started/.test(text)) return
      if (gone || Date.now() > deadline) {
        children.delete(id)
        if (!gone) {
          child.kill('SIGKILL')
          await exited
        }
        if (/Address already in use|BindException/.test(text)) throw new PortTaken(`node ${id}: a port was taken`)
        throw new Error(`private Kafka node ${id} did not start${gone ? ' (it exited)' : ` within ${startTimeoutMs} ms`}:\n${text.slice(-3000)}`)
      }
      await sleep(250)
    }
  }

  try {
    // Formatting is the stack's own step (kafka_java StorageTool format), one JVM per node.
    await Promise.all(
      configs.map((config) => run('bash', withStackLib(`kafka_java kafka.tools.StorageTool format -t ${sq(clusterId)} -c ${sq(config)}`), {timeout: 120_000})),
    )
    await Promise.all(nodes.map((n) => start(n.id)))
  } catch (error) {
    await dispose()
    throw error
  }
  return {brokers: nodes.map((n) => `localhost:${n.port}`).join(','), nodes, stop: (id) => stop(id), kill, start, dispose}
}
