import b4a from 'b4a'
/**
 * Canonical JSON: the one encoding of arguments, results and oracle values,
 * so that a replay compares bytes, not opinions.
 *
 * - Object keys sorted by UTF-16 code units (as RFC 8785); no whitespace.
 * - Numbers: finite only, ECMAScript shortest form; `-0` becomes `0`.
 *   `NaN` and `±Infinity` are NOT_ENCODABLE (JSON would silently make them null).
 * - `undefined`: at the top level it means "no value" (encoded as nothing);
 *   inside an object the property is left out; inside an array it becomes `null`.
 * - Functions, symbols, bigints, cycles, and objects that are not plain objects
 *   or arrays (Map, Set, typed arrays, class instances) are NOT_ENCODABLE, with
 *   the path of the offending value. Objects with `toJSON` (Date) use it.
 * - Deeper than `MAX_DEPTH`, or longer than `maxBytes`: TOO_LARGE.
 *
 * The function is self-contained on purpose: the sandbox injects its source
 * (`canonicalStringify.toString()`) so scripts and host share one encoder.
 */
export function canonicalStringify(value: unknown, maxBytes: number): string | undefined {
  const MAX_DEPTH = 64
  const stack: unknown[] = []
  let length = 0

  function fail(code: string, path: string, what: string): never {
    const err = new Error(`${code}: ${what} at ${path}`) as Error & { code: string }
    err.name = 'EncodingError'
    err.code = code
    throw err
  }

  // Counts UTF-8 bytes of everything emitted, separators included, and stops at maxBytes.
  function emit(s: string, path: string): string {
    let n = s.length
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i)
      if (c >= 0x80) n += c < 0x800 ? 1 : (c >= 0xd800 && c < 0xe000 ? 1 : 2)
    }
    length += n
    if (length > maxBytes) fail('TOO_LARGE', path, `value is larger than ${maxBytes} bytes`)
    return s
  }

  function enc(v: unknown, path: string, key: string): string | undefined {
    if (v !== null && typeof v === 'object' && ArrayBuffer.isView(v)) {
      fail('NOT_ENCODABLE', path, `a ${(v as object).constructor?.name || 'typed array'} is not a JSON value (use an array of numbers or a string)`)
    }
    if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') {
      v = (v as { toJSON(k: string): unknown }).toJSON(key)
    }
    switch (typeof v) {
      case 'undefined': return undefined
      case 'boolean': return emit(v ? 'true' : 'false', path)
      case 'string': return emit(JSON.stringify(v), path)
      case 'number':
        if (!Number.isFinite(v)) fail('NOT_ENCODABLE', path, `${v} is not a JSON number`)
        return emit(v === 0 ? '0' : JSON.stringify(v), path)
      case 'bigint': return fail('NOT_ENCODABLE', path, 'a bigint is not a JSON value (use a string)')
      case 'symbol': return fail('NOT_ENCODABLE', path, 'a symbol is not a JSON value')
      case 'function': return fail('NOT_ENCODABLE', path, 'a function is not a JSON value')
    }
    if (v === null) return emit('null', path)
    const o = v as object
    if (stack.indexOf(o) !== -1) fail('NOT_ENCODABLE', path, 'the value refers to itself (cycle)')
    if (stack.length >= MAX_DEPTH) fail('TOO_LARGE', path, `nesting deeper than ${MAX_DEPTH}`)
    stack.push(o)
    let out: string
    if (Array.isArray(o)) {
      emit('[', path)
      const parts: string[] = []
      for (let i = 0; i < o.length; i++) {
        if (i > 0) emit(',', path)
        const s = enc(o[i], path + '[' + i + ']', String(i))
        parts.push(s === undefined ? emit('null', path) : s)
      }
      out = '[' + parts.join(',') + emit(']', path)
    } else {
      const proto = Object.getPrototypeOf(o)
      if (proto !== Object.prototype && proto !== null) {
        const name = (proto && proto.constructor && proto.constructor.name) || 'object'
        fail('NOT_ENCODABLE', path, `a ${name} is not a plain object (convert it to an object or array)`)
      }
      emit('{', path)
      const keys = Object.keys(o).sort()
      const parts: string[] = []
      for (const k of keys) {
        const val = (o as Record<string, unknown>)[k]
        if (val === undefined) continue
        if (parts.length > 0) emit(',', path)
        const name = emit(JSON.stringify(k), path) + emit(':', path)
        const s = enc(val, path + '.' + k, k)
        if (s === undefined) continue
        parts.push(name + s)
      }
      out = '{' + parts.join(',') + emit('}', path)
    }
    stack.pop()
    return out
  }

  return enc(value, '$', '')
}


/** Canonical bytes of a value; an empty buffer stands for "no value" (undefined). */
export function canonicalEncode(value: unknown, maxBytes: number): Uint8Array {
  const s = canonicalStringify(value, maxBytes)
  if (s === undefined) return new Uint8Array(0)
  const bytes = b4a.from(s, 'utf8')
  if (bytes.byteLength > maxBytes) {
    const err = new Error(`TOO_LARGE: value is larger than ${maxBytes} bytes at $`) as Error & { code: string }
    err.name = 'EncodingError'
    err.code = 'TOO_LARGE'
    throw err
  }
  return bytes
}

/** Inverse of canonicalEncode. Throws on bytes that are not valid UTF-8 JSON. */
export function canonicalDecode(bytes: Uint8Array): unknown {
  if (bytes.byteLength === 0) return undefined
  const text = b4a.toString(bytes, 'utf8')
  // Invalid UTF-8 decodes to U+FFFD, which re-encodes to other bytes (no TextDecoder under Bare).
  if (!b4a.equals(b4a.from(text, 'utf8'), bytes)) throw new TypeError('the bytes are not valid UTF-8')
  return JSON.parse(text)
}

/** True when the bytes are exactly the canonical encoding of what they decode to. */
export function isCanonical(bytes: Uint8Array, maxBytes: number): boolean {
  let again: Uint8Array
  try {
    again = canonicalEncode(canonicalDecode(bytes), maxBytes)
  } catch {
    return false
  }
  if (again.byteLength !== bytes.byteLength) return false
  for (let i = 0; i < again.byteLength; i++) if (again[i] !== bytes[i]) return false
  return true
}
