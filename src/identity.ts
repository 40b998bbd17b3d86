/**
 * A caller identity: an ed25519 keypair that signs calls.
 * `System.caller.id` is the public key in z-base-32.
 */
import crypto, { type KeyPair } from 'hypercore-crypto'
import id from 'hypercore-id-encoding'
import b4a from 'b4a'
import { canonicalEncode } from './canonical-json.js'
import { callSignable, upgradeSignable, scriptHash, NONCE_BYTES, type SignedCall, type SignedUpgrade } from './messages/index.js'
import { VmsError, describe } from './errors.js'

/** Default size limit for args when signing; the host enforces its own. */
const SIGN_MAX_ARGS = 16 * 1024 * 1024

export class Identity {
  readonly publicKey: Buffer
  readonly secretKey: Buffer

  constructor(keyPair: KeyPair) {
    this.publicKey = keyPair.publicKey
    this.secretKey = keyPair.secretKey
  }

  static generate(): Identity {
    return new Identity(crypto.keyPair())
  }

  /** A deterministic identity from a 32-byte seed. */
  static fromSeed(seed: Uint8Array): Identity {
    return new Identity(crypto.keyPair(seed))
  }

  /** The caller id scripts see: z-base-32 of the public key. */
  get id(): string {
    return id.encode(this.publicKey)
  }

  /**
   * Sign a call of `method(...args)` for the VM with key `vmKey`.
   * Throws NOT_ENCODABLE / TOO_LARGE when args are not canonical JSON values.
   */
  sign(vmKey: Uint8Array | string, method: string, args: unknown[] = [], opts: { time?: number; /** pin the call to this script version (hash) */ scriptHash?: Uint8Array } = {}): SignedCall {
    const key = toKey(vmKey)
    if (typeof method !== 'string' || method === '') throw new VmsError('MALFORMED_REQUEST', `the method must be a name (a string), not ${describe(method)}`)
    if (!Array.isArray(args)) throw new VmsError('MALFORMED_REQUEST', `the args of ${method} must be an array (the method's arguments in order), not ${describe(args)}`)
    let encoded: Uint8Array
    try {
      encoded = canonicalEncode(args, SIGN_MAX_ARGS)
    } catch (err) {
      const e = err as Error & { code?: string }
      throw new VmsError(e.code === 'TOO_LARGE' ? 'TOO_LARGE' : 'NOT_ENCODABLE', `args of ${method}: ${e.message}`)
    }
    if (opts.scriptHash !== undefined && !(opts.scriptHash instanceof Uint8Array && opts.scriptHash.byteLength === 32)) {
      throw new VmsError('MALFORMED_REQUEST', `a script version is its 32-byte hash, not ${describe(opts.scriptHash)}`)
    }
    const nonce = makeNonce(opts.time ?? Date.now())
    const signature = crypto.sign(callSignable(key, method, encoded, nonce, opts.scriptHash), this.secretKey)
    return { vmKey: key, method, args: encoded, nonce, publicKey: this.publicKey, signature, ...(opts.scriptHash ? { scriptHash: b4a.from(opts.scriptHash) } : {}) }
  }

  /**
   * Sign an upgrade of a VM's script to `script` (as one of its owners):
   * the owner's signature over (VM key, the script's hash, a nonce, its file name).
   */
  signUpgrade(vmKey: Uint8Array | string, script: string, opts: { filename?: string; time?: number } = {}): SignedUpgrade {
    const key = toKey(vmKey)
    if (typeof script !== 'string' || script === '') throw new VmsError('MALFORMED_REQUEST', `the new script must be its source text, not ${describe(script)}`)
    const nonce = makeNonce(opts.time ?? Date.now())
    const hash = scriptHash(script)
    const filename = opts.filename ?? 'script.js'
    const signature = crypto.sign(upgradeSignable(key, hash, nonce, filename), this.secretKey)
    return { vmKey: key, script, filename, nonce, owner: this.publicKey, signature }
  }
}

/** A nonce: 8 bytes of issue time (ms, big-endian) then 8 random bytes. */
export function makeNonce(time: number): Buffer {
  const n = crypto.randomBytes(NONCE_BYTES)
  // Big-endian by hand: in a browser the bytes are a plain Uint8Array.
  n[0] = 0
  n[1] = 0
  for (let i = 7, t = time; i >= 2; i--, t = Math.floor(t / 256)) n[i] = t % 256
  return n
}

export function nonceTime(nonce: Uint8Array): number {
  let t = 0
  for (let i = 2; i < 8; i++) t = t * 256 + nonce[i]!
  return t
}

export function verifyCallSignature(call: SignedCall): boolean {
  return crypto.verify(callSignable(call.vmKey, call.method, call.args, call.nonce, call.scriptHash), call.signature, call.publicKey)
}

export function verifyUpgradeSignature(u: { vmKey: Uint8Array; script: string; filename: string; nonce: Uint8Array; owner: Uint8Array; signature: Uint8Array }): boolean {
  return crypto.verify(upgradeSignable(u.vmKey, scriptHash(u.script), u.nonce, u.filename), u.signature, u.owner)
}

/** A VM key from z-base-32, hex, or bytes. Throws MALFORMED_REQUEST on anything else. */
export function toKey(key: Uint8Array | string): Buffer {
  try {
    if (typeof key === 'string' && /^[0-9a-f]{64}$/i.test(key)) return b4a.from(key, 'hex')
    const buf = typeof key === 'string' ? id.decode(key) : b4a.from(key)
    if (buf.byteLength !== 32) throw new Error('not 32 bytes')
    return buf
  } catch {
    throw new VmsError('MALFORMED_REQUEST', 'a key must be 32 bytes, in z-base-32 or hex')
  }
}

export function formatKey(key: Uint8Array): string {
  return id.encode(key)
}
