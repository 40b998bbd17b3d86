/**
 * ed25519 checks in the page at native speed: WebCrypto verifies a
 * receipt's or log proof's signature (0.09 ms in Chromium here, against
 * 1.6 ms for the bundled JS), and what it accepts goes into the receipt
 * cache, where the project's own verification then finds it. The signer must
 * not be a point of small order (libsodium refuses those; checked once per
 * key with noble), so nothing is accepted here that the host's peers refuse.
 * Without WebCrypto's Ed25519 the JS verification runs as it is.
 */
import b4a from 'b4a'
import { ed25519 } from '@noble/curves/ed25519.js'
import type { ReceiptCache } from '../receipt.js'

const keys = new Map<string, Promise<CryptoKey | null>>()

function importKey(signer: Uint8Array): Promise<CryptoKey | null> {
  const hex = b4a.toString(signer, 'hex')
  let key = keys.get(hex)
  if (!key) {
    key = (async () => {
      try {
        if (ed25519.Point.fromBytes(signer, false).isSmallOrder()) return null
        return await globalThis.crypto.subtle.importKey('raw', new Uint8Array(signer), { name: 'Ed25519' }, false, ['verify'])
      } catch {
        return null
      }
    })()
    keys.set(hex, key)
  }
  return key
}

/** If WebCrypto verifies `signature` over `signable` by `signer`, remember it in `cache`; else leave it for the JS check (which then fails it, or runs it). */
export async function preverify(signable: Uint8Array, signature: Uint8Array, signer: Uint8Array, cache: ReceiptCache): Promise<void> {
  if (cache.has(signable, signature)) return
  const key = await importKey(signer)
  if (!key) return
  try {
    if (await globalThis.crypto.subtle.verify({ name: 'Ed25519' }, key, new Uint8Array(signature), new Uint8Array(signable))) cache.add(signable, signature)
  } catch {}
}
