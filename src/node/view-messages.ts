/**
 * Messages 6–7 of a VM channel on a host's or a mirror's side: run a
 * read-only call from the archive this peer holds, answer with the log length
 * it reflects. Nothing is logged; writes throw EROFS.
 */
import b4a from 'b4a'
import type { Channel } from 'protomux'
import { VmsError } from '../errors.js'
import { isCanonical } from '../canonical-json.js'
import { viewRequest, viewResponse, toWireError } from '../messages/wire.js'
import { addRequestMessages } from './request-messages.js'
import type { ViewRunner } from '../host/view-runner.js'

const MAX_VIEW_ARGS = 64 * 1024
const EMPTY = new Uint8Array(0)

export function addViewMessages(channel: Channel, runner: () => ViewRunner | null): void {
  addRequestMessages(channel, viewRequest, viewResponse, 'view request', (req, reply) => {
    const fail = (err: unknown) => reply({ id: req.id, length: 0, value: EMPTY, error: toWireError(err) })
    if (req.args.byteLength > MAX_VIEW_ARGS || !isCanonical(req.args, MAX_VIEW_ARGS) || req.args[0] !== 0x5b) {
      return fail(new VmsError('MALFORMED_REQUEST', 'view args must be the canonical JSON encoding of an array'))
    }
    const r = runner()
    if (!r) return fail(new VmsError('HOST_OFFLINE', 'this peer cannot run views (no sandbox here)'))
    r.run(req.method, b4a.toString(req.args, 'utf8'), req.caller).then((a) => {
      if (a.error) return reply({ id: req.id, length: a.length, value: EMPTY, error: { code: a.limit ? a.error.code : 'CALL_FAILED', message: `${req.method} failed: ${a.error.name}: ${a.error.message}`, remote: a.error } })
      reply({ id: req.id, length: a.length, value: b4a.from(a.value, 'utf8'), error: null })
    }, fail)
  })
}
