/**
 * A mirror's side of a VM channel: it cannot prove the log key, so it says
 * what it knows (the script's methods and views as they load on its replica,
 * the files archive key, the log length it holds) and serves the replicated
 * cores (also in bulk stretches), and views; calls are for the host alone.
 */
import c from 'compact-encoding'
import type Protomux from 'protomux'
import type Hypercore from 'hypercore'
import type Hyperdrive from 'hyperdrive'
import { encode, decodeEntry, EntryType } from '../messages/index.js'
import { PROTOCOL, Role, hello } from '../messages/wire.js'
import { addAttestationMessages } from './attestation-messages.js'
import { addHeadExchange, type Equivocation } from './head-exchange.js'
import { addViewMessages } from './view-messages.js'
import { addBlockMessages } from './block-messages.js'
import { addFilesStateMessages } from './files-state-messages.js'
import { addUpgradeMessages } from './upgrade-messages.js'
import type { ViewRunner } from '../host/view-runner.js'
import type { AttestationBook } from './attestation-book.js'

export async function openMirrorChannel(mux: Protomux, vm: { key: Buffer; log: Hypercore; drive: Hyperdrive }, book: AttestationBook, onEquivocation: (e: Equivocation) => void, views: () => ViewRunner | null): Promise<void> {
  if (vm.log.length === 0 || mux.opened({ protocol: PROTOCOL, id: vm.key })) return
  const genesis = decodeEntry((await vm.log.get(0))!, 0)
  const oracles = genesis.type === EntryType.GENESIS ? genesis.oracles : []
  // The script's methods and views, so a client that reaches only mirrors knows which calls they answer.
  const described = await views()?.describe().catch(() => null) ?? null
  const channel = mux.createChannel({ protocol: PROTOCOL, id: vm.key, handshake: c.raw, onopen: () => { heads.sendHead().catch(() => {}) } })
  if (!channel) return
  channel.addMessage({ encoding: c.raw, onmessage: () => {} }) // requests: not for mirrors
  channel.addMessage({ encoding: c.raw, onmessage: () => channel.close() })
  addAttestationMessages(channel, book)
  const heads = addHeadExchange(channel, vm.key, vm.log, onEquivocation)
  addViewMessages(channel, views)
  addBlockMessages(channel, async () => ({ log: vm.log, files: vm.drive.db.core, blobs: (await vm.drive.getBlobs()).core }))
  addFilesStateMessages(channel, null)
  addUpgradeMessages(channel, null)
  channel.open(encode(hello, { role: Role.MIRROR, signer: null, proof: null, info: { methods: described?.methods ?? [], views: described?.views ?? [], filesKey: vm.drive.key, length: vm.log.length, oracles, ...(described ? { script: described.script } : {}) } }))
}
