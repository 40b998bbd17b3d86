/**
 * Text encodings for the isolate, which has no TextEncoder, atob or Buffer:
 * UTF-8, hex and base64, to and from byte arrays. Like the runtime, this is
 * injected as source text (`textCodecs.toString()`), so it refers to nothing
 * outside itself.
 */
/* eslint-disable */
export interface TextCodecs {
  utf8Encode(s: string): Uint8Array
  utf8Decode(u: Uint8Array): string
  toHex(u: Uint8Array): string
  fromHex(s: string): Uint8Array
  toBase64(u: Uint8Array): string
  fromBase64(s: string): Uint8Array
}

export function textCodecs(): TextCodecs {
  // ---- UTF-8 (a bare isolate has no TextEncoder) -----------------------------------
  // Lone surrogates encode as U+FFFD; a byte that starts no sequence decodes as U+FFFD.
  // Bytes are counted first and written into one array: pushing numbers onto a
  // JS array took ~10 bytes of heap per byte (a 10 MB file broke the memory limit).
  const fromCharCode = String.fromCharCode
  const fromCodePoint = String.fromCodePoint
  function utf8Encode(s: string): Uint8Array {
    let n = 0
    for (let i = 0; i < s.length; i++) {
      const cp = s.charCodeAt(i)
      if (cp < 0x80) n += 1
      else if (cp < 0x800) n += 2
      else if (cp >= 0xd800 && cp < 0xdc00 && i + 1 < s.length && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) < 0xe000) { n += 4; i++ }
      else n += 3
    }
    const out = new Uint8Array(n)
    let o = 0
    for (let i = 0; i < s.length; i++) {
      let cp = s.charCodeAt(i)
      if (cp >= 0xd800 && cp < 0xdc00 && i + 1 < s.length) {
        const lo = s.charCodeAt(i + 1)
        if (lo >= 0xdc00 && lo < 0xe000) { cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00); i++ }
      }
      if (cp >= 0xd800 && cp < 0xe000) cp = 0xfffd
      if (cp < 0x80) out[o++] = cp
      else if (cp < 0x800) { out[o++] = 0xc0 | (cp >> 6); out[o++] = 0x80 | (cp & 63) }
      else if (cp < 0x10000) { out[o++] = 0xe0 | (cp >> 12); out[o++] = 0x80 | ((cp >> 6) & 63); out[o++] = 0x80 | (cp & 63) }
      else { out[o++] = 0xf0 | (cp >> 18); out[o++] = 0x80 | ((cp >> 12) & 63); out[o++] = 0x80 | ((cp >> 6) & 63); out[o++] = 0x80 | (cp & 63) }
    }
    return out
  }
  /**
   * A string made of UTF-16 code units added one by one, turned into strings
   * a chunk at a time: a string grown a character at a time took ~60 ms and
   * ~64 bytes of heap a character.
   */
  function unitWriter(): { add(unit: number): void; done(): string } {
    const parts: string[] = []
    const units = new Uint16Array(8192)
    let k = 0
    return {
      add(unit) {
        if (k === units.length) { parts.push(fromCharCode.apply(null, units as unknown as number[])); k = 0 }
        units[k++] = unit
      },
      done() {
        parts.push(fromCharCode.apply(null, units.subarray(0, k) as unknown as number[]))
        return parts.join('')
      }
    }
  }
  function utf8Decode(u: Uint8Array): string {
    const out = unitWriter()
    for (let i = 0; i < u.length;) {
      const x = u[i]!
      let cp = 0xfffd, n = 1
      if (x < 0x80) cp = x
      else if (x >= 0xc2 && x < 0xe0 && i + 1 < u.length) { cp = ((x & 31) << 6) | (u[i + 1]! & 63); n = 2 }
      else if (x >= 0xe0 && x < 0xf0 && i + 2 < u.length) { cp = ((x & 15) << 12) | ((u[i + 1]! & 63) << 6) | (u[i + 2]! & 63); n = 3 }
      else if (x >= 0xf0 && x < 0xf5 && i + 3 < u.length) { cp = ((x & 7) << 18) | ((u[i + 1]! & 63) << 12) | ((u[i + 2]! & 63) << 6) | (u[i + 3]! & 63); n = 4 }
      if (cp < 0x10000) out.add(cp)
      else {
        const pair = fromCodePoint(cp) // past U+10FFFF this throws, as it always did
        out.add(pair.charCodeAt(0))
        out.add(pair.charCodeAt(1))
      }
      i += n
    }
    return out.done()
  }
  const HEX = '0123456789abcdef'
  function toHex(u: Uint8Array): string {
    const out = unitWriter()
    for (let i = 0; i < u.length; i++) {
      out.add(HEX.charCodeAt(u[i]! >> 4))
      out.add(HEX.charCodeAt(u[i]! & 15))
    }
    return out.done()
  }
  /** The value of a hex digit's char code, or -1. */
  function hexDigit(c: number): number {
    if (c >= 48 && c <= 57) return c - 48
    if (c >= 97 && c <= 102) return c - 87
    if (c >= 65 && c <= 70) return c - 55
    return -1
  }
  function fromHex(s: string): Uint8Array {
    // A loop, not a regular expression: matching 10 MB of hex overflowed the stack.
    if (s.length % 2 !== 0) throw new TypeError('not a hex string')
    const u = new Uint8Array(s.length / 2)
    for (let i = 0; i < u.length; i++) {
      const hi = hexDigit(s.charCodeAt(2 * i))
      const lo = hexDigit(s.charCodeAt(2 * i + 1))
      if (hi < 0 || lo < 0) throw new TypeError('not a hex string')
      u[i] = hi * 16 + lo
    }
    return u
  }

  // ---- base64 (as Node's Buffer writes it: the standard alphabet, padded) ---------------
  // Read back in either alphabet (standard or URL-safe), padding optional,
  // whitespace skipped; anything else is refused (Buffer skips it silently).
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
  function toBase64(u: Uint8Array): string {
    const out = unitWriter()
    let i = 0
    for (; i + 2 < u.length; i += 3) {
      const n = (u[i]! << 16) | (u[i + 1]! << 8) | u[i + 2]!
      out.add(B64.charCodeAt(n >> 18)); out.add(B64.charCodeAt((n >> 12) & 63)); out.add(B64.charCodeAt((n >> 6) & 63)); out.add(B64.charCodeAt(n & 63))
    }
    const rest = u.length - i
    if (rest > 0) {
      const n = (u[i]! << 16) | (rest === 2 ? u[i + 1]! << 8 : 0)
      out.add(B64.charCodeAt(n >> 18)); out.add(B64.charCodeAt((n >> 12) & 63))
      out.add(rest === 2 ? B64.charCodeAt((n >> 6) & 63) : 61); out.add(61)
    }
    return out.done()
  }
  /** The value of a base64 digit's char code (either alphabet), -2 for whitespace, or -1. */
  function base64Digit(c: number): number {
    if (c >= 65 && c <= 90) return c - 65
    if (c >= 97 && c <= 122) return c - 71
    if (c >= 48 && c <= 57) return c + 4
    if (c === 43 || c === 45) return 62
    if (c === 47 || c === 95) return 63
    if (c === 32 || c === 9 || c === 10 || c === 13) return -2
    return -1
  }
  function fromBase64(s: string): Uint8Array {
    let digits = 0
    let end = s.length
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i)
      if (c === 61) { end = i; break } // '=': padding, the end
      const d = base64Digit(c)
      if (d === -1) throw new TypeError('not a base64 string')
      if (d >= 0) digits++
    }
    for (let i = end; i < s.length; i++) {
      const c = s.charCodeAt(i)
      if (c !== 61 && base64Digit(c) !== -2) throw new TypeError('not a base64 string')
    }
    if (digits % 4 === 1) throw new TypeError('not a base64 string')
    const out = new Uint8Array((digits * 3) >> 2)
    let acc = 0, bits = 0, o = 0
    for (let i = 0; i < end; i++) {
      const d = base64Digit(s.charCodeAt(i))
      if (d < 0) continue
      acc = ((acc << 6) | d) & 0xffffff
      bits += 6
      if (bits >= 8) { bits -= 8; out[o++] = (acc >> bits) & 255 }
    }
    return out
  }

  return { utf8Encode, utf8Decode, toHex, fromHex, toBase64, fromBase64 }
}
