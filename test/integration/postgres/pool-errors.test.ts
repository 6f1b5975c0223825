/**
 * A connection the server ends while kpipe holds it checked out of the pool (PostgreSQL
 * restarted or shut down with `-m fast`: every backend gets FATAL 57P01, "terminating connection
 * due to administrator command"). node-postgres emits that as an 'error' event on the client;
 * pg-pool listens only while the client is idle in the pool, and an 'error' event nobody listens
 * to ends the process. Found by `npm run chaos` (pg-restart): the events worker died with exit 1
 * instead of retrying. Here the stack's PostgreSQL ends one backend of the test's own pool.
 */
import {afterAll, describe, expect, it} from 'vitest'

import {createPgPool} from '../../../src/lib/postgres/pool.js'
import {STACK_PG_URL} from '../../helpers/services.js'

const pool = createPgPool({url: STACK_PG_URL}, {max: 2, applicationName: 'kpipe test pool-errors'})

afterAll(async () => {
  await pool.end()
})

describe('createPgPool: a checked-out connection the server ends', () => {
  it('has an error listener while it is held, fails its next query instead of ending the process, and is replaced', async () => {
    const held = await pool.connect()
    // Without a listener, the server's FATAL message would be thrown from the socket's handler.
    expect(held.listenerCount('error')).toBeGreaterThan(0)
    const {rows} = await held.query<{pid: number}>('SELECT pg_backend_pid() AS pid')
    const pid = rows[0]!.pid
    // Ended from another connection while `held` sits idle in our hands (no query in flight).
    const {rows: ended} = await pool.query<{ok: boolean}>('SELECT pg_terminate_backend($1) AS ok', [pid])
    expect(ended[0]!.ok).toBe(true)
    let failure: unknown
    for (let i = 0; i < 50 && failure === undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      failure = await held.query('SELECT 1').then(
        () => undefined,
        (error: unknown) => error,
      )
    }
    expect(failure).toBeInstanceOf(Error)
    held.release(failure as Error)
    const {rows: after} = await pool.query<{pid: number}>('SELECT pg_backend_pid() AS pid')
    expect(after[0]!.pid).not.toBe(pid)
  })
})
