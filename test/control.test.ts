import test from 'brittle'
import b4a from 'b4a'
import c from 'compact-encoding'
import crypto from 'hypercore-crypto'
import Protomux from 'protomux'
import Hyperswarm from 'hyperswarm'
import { Identity } from '../src/index.js'
import { CONTROL_PROTOCOL, controlRequest, controlResponse, controlSignable, type ControlResponse } from '../src/messages/wire.js'
import { encode, decodeStrict } from '../src/messages/index.js'
import { RSVP, until } from './helpers/index.js'
import { testnet, node } from './helpers/net.js'

test('control: stale, forged, non-object and unknown requests from an allowed key are refused with a typed error; garbage loses the channel; the node serves on', async (t) => {
  const net = await testnet(t)
  const alice = Identity.generate()
  const provider = await node(t, net, { deploy: { allow: [alice.publicKey] } })

  // Alice's key, but requests made by hand.
  const rogue = new Hyperswarm({ dht: net.createNode() })
  t.teardown(() => rogue.destroy())
  const connected = new Promise<Protomux>((resolve) => rogue.on('connection', (conn) => { conn.on('error', () => {}); resolve(Protomux.from(conn)) }))
  rogue.joinPeer(provider.key)
  const mux = await connected
  const answers: ControlResponse[] = []
  let closed!: () => void
  const gone = new Promise<void>((r) => { closed = r })
  const channel = mux.createChannel({ protocol: CONTROL_PROTOCOL, handshake: c.raw, onclose: () => closed() })!
  channel.addMessage({ encoding: c.raw, onmessage: (raw: Uint8Array) => { answers.push(decodeStrict(controlResponse, raw, 'control response')) } })
  const requests = channel.addMessage({ encoding: c.raw, onmessage: () => {} })
  channel.open(b4a.alloc(0))

  const send = (id: number, op: string, payload: string, opts: { time?: number; signer?: Identity } = {}) => {
    const body = b4a.from(payload)
    const time = opts.time ?? Date.now()
    const signature = crypto.sign(controlSignable(provider.key, op, body, time), (opts.signer ?? alice).secretKey)
    requests.send(encode(controlRequest, { id, op, payload: body, caller: alice.publicKey, time, signature }))
  }
  send(1, 'ls', '{}', { time: Date.now() - 60 * 60 * 1000 })
  send(2, 'ls', '{}', { signer: Identity.generate() })
  send(3, 'deploy', 'null')
  send(4, 'deploy', 'not json')
  send(5, 'reboot', '{}')
  send(6, 'deploy', JSON.stringify({ script: 42 }))
  send(7, 'ls', '{}')
  await until(() => answers.length === 7, 10000, 'seven answers')
  const code = (id: number) => answers.find((a) => a.id === id)?.error?.code ?? 'ok'
  t.is(code(1), 'BAD_NONCE', 'an hour-old request is refused: ' + answers.find((a) => a.id === 1)?.error?.message)
  t.is(code(2), 'BAD_SIGNATURE', 'a request signed by another key than the caller it names is refused')
  t.is(code(3), 'MALFORMED_REQUEST', 'a null payload is refused, not crashed on')
  t.is(code(4), 'MALFORMED_REQUEST', 'a payload that is not JSON is refused')
  t.is(code(5), 'MALFORMED_REQUEST', 'an unknown operation is refused')
  t.is(code(6), 'TOO_LARGE', 'a script that is not a string is refused')
  t.is(code(7), 'ok', 'a good request on the same channel is answered')
  t.alike(JSON.parse(b4a.toString(answers.find((a) => a.id === 7)!.result)), [], 'nothing was deployed')

  requests.send(b4a.from([0xff, 0xff, 0xff]))
  await gone
  t.pass('a frame that does not decode closes that control channel')
  const { key } = await (await (await node(t, net, { identity: alice })).manage(provider.key)).deploy(RSVP, 'rsvp.js')
  t.is(key.length, 52, 'the node still takes good requests')
})
