/**
 * What the browser bundle gives hypercore-crypto and hypercore's caps in
 * place of sodium-universal: the few libsodium functions the client's code
 * reaches (BLAKE2b hashing, ed25519, random bytes), from @noble/hashes and
 * @noble/curves (audited, dependency-free, small). Anything else throws, so a
 * function the client did not expect to use is found at once, not mis-run.
 *
 * ed25519 verification is strict, as libsodium's (RFC 8032, not ZIP-215):
 * a signature the host's libsodium would refuse is refused here too.
 */
import { blake2b } from '@noble/hashes/blake2.js'
import { ed25519 } from '@noble/curves/ed25519.js'

export const crypto_sign_PUBLICKEYBYTES = 32
export const crypto_sign_SECRETKEYBYTES = 64
export const crypto_sign_SEEDBYTES = 32
export const crypto_sign_BYTES = 64
export const crypto_generichash_BYTES = 32
export const crypto_generichash_BYTES_MIN = 16
export const crypto_generichash_BYTES_MAX = 64
export const crypto_generichash_KEYBYTES = 32
export const crypto_box_SEALBYTES = 48
export const crypto_box_PUBLICKEYBYTES = 32
export const crypto_box_SECRETKEYBYTES = 32

export function crypto_generichash(out: Uint8Array, input: Uint8Array, key?: Uint8Array | null): void {
  out.set(blake2b(input, { dkLen: out.byteLength, ...(key ? { key } : {}) }))
}

export function crypto_generichash_batch(out: Uint8Array, inputs: Uint8Array[], key?: Uint8Array | null): void {
  const h = blake2b.create({ dkLen: out.byteLength, ...(key ? { key } : {}) })
  for (const i of inputs) h.update(i)
  out.set(h.digest())
}

export function randombytes_buf(buf: Uint8Array): void {
  // getRandomValues takes at most 65,536 bytes at a time.
  for (let o = 0; o < buf.byteLength; o += 65536) globalThis.crypto.getRandomValues(buf.subarray(o, Math.min(buf.byteLength, o + 65536)) as Uint8Array<ArrayBuffer>)
}

export function crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false })
  } catch {
    return false
  }
}

/** `secretKey` as libsodium lays it out: the 32-byte seed, then the public key. */
export function crypto_sign_detached(signature: Uint8Array, message: Uint8Array, secretKey: Uint8Array): void {
  signature.set(ed25519.sign(message, secretKey.subarray(0, 32)))
}

export function crypto_sign_seed_keypair(publicKey: Uint8Array, secretKey: Uint8Array, seed: Uint8Array): void {
  const pk = ed25519.getPublicKey(seed)
  publicKey.set(pk)
  secretKey.set(seed, 0)
  secretKey.set(pk, 32)
}

export function crypto_sign_keypair(publicKey: Uint8Array, secretKey: Uint8Array): void {
  const seed = new Uint8Array(32)
  randombytes_buf(seed)
  crypto_sign_seed_keypair(publicKey, secretKey, seed)
}

export function crypto_sign_ed25519_sk_to_pk(publicKey: Uint8Array, secretKey: Uint8Array): void {
  publicKey.set(secretKey.subarray(32, 64))
}

function absent(name: string): () => never {
  return () => { throw new Error(`${name} is not in vms-node's browser build`) }
}

export const crypto_box_seal = absent('crypto_box_seal')
export const crypto_box_seal_open = absent('crypto_box_seal_open')
export const crypto_box_keypair = absent('crypto_box_keypair')
export const crypto_box_seed_keypair = absent('crypto_box_seed_keypair')
