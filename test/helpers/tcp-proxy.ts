/**
 * A TCP proxy of a test's own in front of a shared server (PostgreSQL, Redis, the BigQuery
 * emulator), to cut, heal or freeze the way to it without touching the server. Its own file, free
 * of vitest, so that the fault runs (chaos/) use it too.
 */
import {createServer, connect, type Server, type Socket} from 'node:net'

export interface TcpProxy {
  /** The port the proxy listens on (127.0.0.1). */
  port: number
  /** A URL of the target's scheme that goes through the proxy (redis://…, postgres://…). */
  url: string
  /** Cuts every connection and resets new ones: clients cannot reach the server, which keeps its data. */
  cut(): void
  /** Lets connections through again. */
  heal(): void
  /** Keeps connections open but forwards nothing more either way: every request hangs. */
  freeze(): void
  /** Stops listening (test cleanup). */
  dispose(): Promise<void>
}

/**
 * A TCP proxy in front of a server that a test can cut, heal or freeze: the worker loses the
 * server while it keeps its data (a network partition, not a restart), and other suites on the
 * same server see nothing. It listens on a port the kernel picks and keeps it while cut (it
 * resets connections instead of closing the listener), so no other process can take the port
 * between a cut and a heal.
 */
export async function tcpProxy(targetUrl: string): Promise<TcpProxy> {
  const target = new URL(targetUrl)
  const defaultPort = {'redis:': 6379, 'postgres:': 5432, 'postgresql:': 5432, 'http:': 80}[target.protocol] ?? 0
  const targetPort = Number(target.port || defaultPort)
  const targetHost = target.hostname || '127.0.0.1'
  const sockets = new Set<Socket>()
  let open = true
  let frozen = false
  const server: Server = createServer((client) => {
    if (!open) {
      client.resetAndDestroy()
      return
    }
    const upstream = connect(targetPort, targetHost)
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      socket.on('error', () => {
        client.destroy()
        upstream.destroy()
      })
    }
    client.on('data', (chunk: Buffer) => {
      if (!frozen) upstream.write(chunk)
    })
    upstream.on('data', (chunk: Buffer) => {
      if (!frozen) client.write(chunk)
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as {port: number}).port
  const cut = () => {
    open = false
    for (const socket of sockets) socket.destroy()
  }
  const through = new URL(targetUrl)
  through.hostname = '127.0.0.1'
  through.port = String(port)
  return {
    port,
    url: through.toString(),
    cut,
    heal: () => {
      open = true
      frozen = false
    },
    freeze: () => {
      frozen = true
    },
    dispose: async () => {
      cut()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
