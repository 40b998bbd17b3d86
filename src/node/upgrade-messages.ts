/**
 * Messages 12–13 of a VM channel: an owner's upgrade, and its answer (the new
 * version, the upgrade entry's receipt, the methods added and removed). Only
 * the host runs upgrades: a mirror answers that it cannot.
 */
import type { Channel } from 'protomux'
import { VmsError } from '../errors.js'
import { upgradeRequest, upgradeResponse, toWireError } from '../messages/wire.js'
import type { SignedUpgrade } from '../messages/index.js'
import type { UpgradeAnswer } from '../host/pipeline-items.js'
import { addRequestMessages } from './request-messages.js'

/** Most upgrades in flight per channel; more are answered QUEUE_FULL. */
const MAX_PENDING = 4

export function addUpgradeMessages(channel: Channel, upgrade: ((u: SignedUpgrade) => Promise<UpgradeAnswer>) | null): void {
  let pending = 0
  addRequestMessages(channel, upgradeRequest, upgradeResponse, 'upgrade request', (req, reply) => {
    const fail = (err: unknown) => reply({ id: req.id, error: toWireError(err), version: 0, receipt: null, added: [], removed: [] })
    if (!upgrade) return fail(new VmsError('HOST_OFFLINE', 'a mirror cannot upgrade a VM: ask its host'))
    if (pending >= MAX_PENDING) return fail(new VmsError('QUEUE_FULL', `${pending} upgrades in flight on this connection: wait for them`))
    pending++
    upgrade(req.upgrade).then(
      (a) => reply({ id: req.id, error: null, version: a.version, receipt: a.receipt, added: a.added, removed: a.removed }),
      (err) => reply({ id: req.id, error: toWireError(err), version: 0, receipt: (err as { receipt?: never }).receipt ?? null, added: [], removed: [] })
    ).finally(() => { pending-- })
  })
}
