import type { Test } from 'brittle'
import createTestnet, { type Testnet } from 'hyperdht/testnet.js'
import { VmsNode, type VmsNodeOptions } from '../../src/index.js'

/** A loopback DHT, destroyed when the test ends. */
export async function testnet(t: Test): Promise<Testnet> {
  const net = await createTestnet(3)
  t.teardown(() => net.destroy(), { order: Infinity })
  return net
}

/** A node on the testnet with fresh storage, closed when the test ends. */
export async function node(t: Test, net: Testnet, opts: Partial<VmsNodeOptions> = {}): Promise<VmsNode> {
  const n = new VmsNode({ storage: await t.tmp(), dht: net.createNode(), timeoutMs: 5000, ...opts })
  await n.ready()
  t.teardown(() => n.close())
  return n
}
