/**
 * Messages sent on one connection in the same tick go out as one protomux
 * batch: one frame, one encryption and a few UDP packets instead of one of
 * each per message (a group commit answers its calls at once; callers send
 * their next calls at once).
 */
import type { Channel, Message } from 'protomux'

const corked = new WeakSet<Channel>()

export function sendBatched<T>(channel: Channel, message: Message<T>, value: T): void {
  if (!corked.has(channel)) {
    corked.add(channel)
    channel.cork()
    setImmediate(() => {
      corked.delete(channel)
      try { channel.uncork() } catch {} // the connection went away meanwhile: nothing to send to
    })
  }
  message.send(value)
}
