/**
 * A request message and its answer message on a channel, the serving side:
 * each request is decoded strictly and handed to `onrequest` with a way to
 * answer it. A request that does not decode closes the channel (nothing
 * else); so does anything the peer sends on the answer message. Answers
 * after the channel closed are dropped. Messages are numbered in the order
 * they are added: the request first, unless `answerFirst`.
 */
import c, { type Encoding } from 'compact-encoding'
import type { Channel, Message } from 'protomux'
import { decodeStrict, encode } from '../messages/index.js'

export function addRequestMessages<Req, Res>(
  channel: Channel,
  requests: Encoding<Req>,
  answers: Encoding<Res>,
  what: string,
  onrequest: (req: Req, reply: (res: Res) => void) => void,
  { answerFirst = false } = {}
): void {
  let out: Message<Uint8Array> | null = null
  const addAnswers = () => { out = channel.addMessage({ encoding: c.raw, onmessage: () => channel.close() }) }
  if (answerFirst) addAnswers()
  channel.addMessage({
    encoding: c.raw,
    onmessage(raw: Uint8Array) {
      let req: Req
      try { req = decodeStrict(requests, raw, what) } catch { channel.close(); return }
      onrequest(req, (res) => { if (!channel.closed) out!.send(encode(answers, res)) })
    }
  })
  if (!answerFirst) addAnswers()
}
