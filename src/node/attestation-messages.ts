/**
 * Messages 2–4 of a VM channel, on a host's or a mirror's side: 2 takes an
 * auditor's attestation, 4 asks for the ones held and 3 answers it.
 */
import c from 'compact-encoding'
import type { Channel } from 'protomux'
import { decodeStrict } from '../messages/index.js'
import { attestation, attestationsRequest, attestationsResponse } from '../messages/wire.js'
import { addRequestMessages } from './request-messages.js'
import type { AttestationBook } from './attestation-book.js'

export function addAttestationMessages(channel: Channel, book: AttestationBook): void {
  channel.addMessage({
    encoding: c.raw,
    onmessage(raw: Uint8Array) {
      try { book.add(decodeStrict(attestation, raw, 'attestation')) } catch { channel.close() }
    }
  })
  addRequestMessages(channel, attestationsRequest, attestationsResponse, 'attestations request', (req, reply) => {
    reply({ id: req.id, list: book.list() })
  }, { answerFirst: true })
}
