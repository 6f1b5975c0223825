/**
 * The lag source's broker connections, on the stack's broker. `kpipe lag --watch` closes them when
 * the dashboard quits, possibly while a poll is still in flight; a link that poll opened after the
 * close used to stay open until the broker dropped it as idle (10 minutes), and the process with it.
 */
import {afterEach, describe, expect, it} from 'vitest'

import {loadConfig} from '../../../src/lib/config.js'
import {BrokerLinks} from '../../../src/lib/lag/lag-sampler.js'
import {BROKERS} from '../workers/helpers.js'

const tcpSockets = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length
const {kafka} = loadConfig({env: {KPIPE_BROKERS: BROKERS.join(',')}}).config

describe('BrokerLinks', () => {
  let links: BrokerLinks | undefined
  afterEach(async () => {
    await links?.close()
  })

  it('after close, asking for a link fails instead of connecting again, and no socket stays open', async () => {
    const before = tcpSockets()
    links = new BrokerLinks(kafka)
    const metadata = await links.onAny((link) => link.metadata())
    const address = `${metadata.brokers[0]!.host}:${metadata.brokers[0]!.port}`
    await links.on(address, (link) => link.metadata())
    expect(tcpSockets()).toBeGreaterThan(before)

    await links.close()
    // What a poll still in flight does next: ask for the leader's link, or the bootstrap one.
    await expect(links.to(address)).rejects.toThrow(/closed/)
    await expect(links.onAny((link) => link.metadata())).rejects.toThrow(/closed/)
    // The sockets are gone once the closes settle (kafkajs ends them asynchronously).
    const deadline = Date.now() + 10_000
    while (tcpSockets() > before && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    expect(tcpSockets()).toBe(before)
  })

  it('a link still connecting when close is called is closed once it connects', async () => {
    const before = tcpSockets()
    links = new BrokerLinks(kafka)
    const connecting = links.any()
    await links.close()
    await connecting.catch(() => undefined)
    const deadline = Date.now() + 10_000
    while (tcpSockets() > before && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    expect(tcpSockets()).toBe(before)
  })
})
