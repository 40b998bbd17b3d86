import type { Test } from 'brittle'
import createTestnet, { type Testnet } from 'hyperdht/testnet.js'
import Hyperswarm, { type Connection } from 'hyperswarm'
import Protomux from 'protomux'
import { VmsNode, type VmsNodeOptions } from '../../src/index.js'
import { RSVP } from './index.js'
import { PROTOCOL } from '../../src/messages/wire.js'

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

/** A bare swarm peer serving `topic`: `onChannel` opens each VM channel a client pairs (a rogue host or mirror). */
export async function rogueServer(t: Test, net: Testnet, topic: Uint8Array, onChannel: (mux: Protomux, id: Uint8Array, conn: Connection) => void): Promise<void> {
  const swarm = new Hyperswarm({ dht: net.createNode() })
  t.teardown(() => swarm.destroy())
  swarm.on('connection', (conn: Connection) => {
    conn.on('error', () => {})
    const mux = Protomux.from(conn)
    mux.pair({ protocol: PROTOCOL }, (id: Uint8Array) => onChannel(mux, id, conn))
  })
  await swarm.join(topic, { server: true, client: false }).flushed()
}

/** A bare swarm peer connected as a client to a peer serving `topic`: its protomux (a rogue client). */
export async function rogueClient(t: Test, net: Testnet, topic: Uint8Array): Promise<Protomux> {
  const swarm = new Hyperswarm({ dht: net.createNode() })
  t.teardown(() => swarm.destroy())
  const connected = new Promise<Protomux>((resolve) => swarm.on('connection', (conn: Connection) => { conn.on('error', () => {}); resolve(Protomux.from(conn)) }))
  swarm.join(topic, { server: false, client: true })
  return connected
}

/** A node serving the RSVP VM on a new testnet, and another that dialled it. */
export async function rsvpAndCaller(t: Test): Promise<{ net: Testnet; hostNode: VmsNode; vm: Awaited<ReturnType<VmsNode['host']>>; caller: VmsNode; handle: Awaited<ReturnType<VmsNode['dial']>> }> {
  const net = await testnet(t)
  const hostNode = await node(t, net)
  const vm = await hostNode.host(RSVP, { name: 'rsvp', filename: 'rsvp.js' })
  const caller = await node(t, net)
  const handle = await caller.dial(vm.key)
  return { net, hostNode, vm, caller, handle }
}
