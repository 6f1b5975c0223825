/**
 * A TCP proxy of a test's own in front of a shared service: closing it makes the service
 * unreachable for the process under test only (connections cut, new ones refused), while other
 * suites on the same stack keep using the service. open() listens again on the same port.
 */
import {connect, createServer, type Server, type Socket} from 'node:net'

export interface TcpProxy {
  readonly port: number
  /** Cuts every connection and stops listening: clients see "connection refused". */
  close(): Promise<void>
  /** Listens again on the same port. */
  open(): Promise<void>
}

export async function tcpProxy(target: {host: string; port: number}): Promise<TcpProxy> {
  const sockets = new Set<Socket>()
  let server: Server | undefined
  let port = 0
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((client) => {
        const upstream = connect(target.port, target.host)
        for (const socket of [client, upstream]) {
          sockets.add(socket)
          socket.on('close', () => sockets.delete(socket))
          socket.on('error', () => {
            client.destroy()
            upstream.destroy()
          })
        }
        client.pipe(upstream)
        upstream.pipe(client)
      })
      s.once('error', reject)
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as {port: number}).port
        server = s
        resolve()
      })
    })
  const close = async () => {
    const s = server
    server = undefined
    for (const socket of sockets) socket.destroy()
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()))
  }
  await listen()
  return {
    get port() {
      return port
    },
    close,
    open: listen,
  }
}
