/** Serves /metrics, /healthz and /readyz for a worker (DESIGN §4). */
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'

import type {Registry} from 'prom-client'

export interface HealthServerOptions {
  port: number
  /** 127.0.0.1 unless told: the endpoints are unauthenticated. */
  host?: string
  registry: Registry
  /** /readyz: 200 when this says ready, 503 with the reasons otherwise. */
  readiness(): {ready: boolean; reasons: string[]}
}

export interface HealthServer {
  port: number
  host: string
  close(): Promise<void>
}

export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const server: Server = createServer((request, response) => {
    const url = (request.url ?? '/').split('?')[0]
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, {allow: 'GET, HEAD'}).end()
      return
    }
    if (url === '/metrics') {
      options.registry
        .metrics()
        .then((text) => response.writeHead(200, {'content-type': options.registry.contentType}).end(text))
        .catch((error: unknown) => response.writeHead(500, {'content-type': 'text/plain'}).end(String(error)))
      return
    }
    if (url === '/healthz') {
      response.writeHead(200, {'content-type': 'application/json'}).end('{"status":"ok"}\n')
      return
    }
    if (url === '/readyz') {
      const {ready, reasons} = options.readiness()
      response
        .writeHead(ready ? 200 : 503, {'content-type': 'application/json'})
        .end(`${JSON.stringify({status: ready ? 'ready' : 'not ready', reasons})}\n`)
      return
    }
    response.writeHead(404, {'content-type': 'text/plain'}).end('not found: try /metrics, /healthz or /readyz\n')
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host ?? '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  server.unref()
  return {
    port: (server.address() as AddressInfo).port,
    host: (server.address() as AddressInfo).address,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
