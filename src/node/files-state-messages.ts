/**
 * Messages 10–11 of a VM channel: an auditor's query of what the host's log
 * commits to, and the host's signed statement (see audit/unlogged.ts). Only
 * the host holds the log's key: a mirror answers that it cannot sign.
 */
import type { Channel } from 'protomux'
import { VmsError } from '../errors.js'
import { filesStateRequest, filesStateResponse, toWireError, type FilesStateQuery, type FilesStateStatement } from '../messages/wire.js'
import { addRequestMessages } from './request-messages.js'

/** Most statements being made per channel; more are answered QUEUE_FULL. */
const MAX_PENDING = 4

export function addFilesStateMessages(channel: Channel, state: ((query: FilesStateQuery) => Promise<FilesStateStatement>) | null): void {
  let pending = 0
  addRequestMessages(channel, filesStateRequest, filesStateResponse, 'files state request', (req, reply) => {
    const fail = (err: unknown) => reply({ id: req.id, statement: null, error: toWireError(err) })
    if (!state) return fail(new VmsError('HOST_OFFLINE', 'a mirror cannot state what the host\'s log commits to: ask the host'))
    if (pending >= MAX_PENDING) return fail(new VmsError('QUEUE_FULL', `${pending} statements being made for this connection: wait for them`))
    pending++
    state(req.query).then((statement) => reply({ id: req.id, statement, error: null }), fail).finally(() => { pending-- })
  })
}
