import test from 'brittle'
import b4a from 'b4a'
import { canonicalStringify, canonicalEncode, canonicalDecode, isCanonical } from '../src/canonical-json.js'
import { caught } from './helpers/index.js'

const MAX = 1024 * 1024

type CodedError = Error & { code?: string }

function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s)
}

function nested(depth: number, leaf: unknown = 1): unknown {
  let v: unknown = leaf
  for (let i = 0; i < depth; i++) v = [v]
  return v
}

function nestedObjects(depth: number): unknown {
  let v: unknown = 1
  for (let i = 0; i < depth; i++) v = { k: v }
  return v
}

class Point { x = 1; y = 2 }

// ---------------------------------------------------------------------------

const encodes: Array<[string, unknown, string]> = [
  ['null', null, 'null'],
  ['true', true, 'true'],
  ['false', false, 'false'],
  ['integer', 42, '42'],
  ['negative', -7, '-7'],
  ['fraction', 0.1, '0.1'],
  ['large number, shortest form', 1e21, '1e+21'],
  ['small number, shortest form', 5e-7, '5e-7'],
  ['max safe integer', Number.MAX_SAFE_INTEGER, '9007199254740991'],
  ['-0 becomes 0', -0, '0'],
  ['-0 nested becomes 0', { a: [-0, 0] }, '{"a":[0,0]}'],
  ['string', 'hi', '"hi"'],
  ['string escapes', 'a"b\\c\nd\te\u0001', '"a\\"b\\\\c\\nd\\te\\u0001"'],
  ['empty array', [], '[]'],
  ['empty object', {}, '{}'],
  ['array, no whitespace', [1, 'two', [3, [4]], { five: 5 }], '[1,"two",[3,[4]],{"five":5}]'],
  ['keys sorted', { b: 1, a: 2, c: 3 }, '{"a":2,"b":1,"c":3}'],
  ['nested keys sorted', { z: { y: 1, x: [{ d: 1, c: 2 }] }, a: null }, '{"a":null,"z":{"x":[{"c":2,"d":1}],"y":1}}'],
  ['keys sorted as strings, not numbers', { 9: 'nine', 10: 'ten', a: 'a' }, '{"10":"ten","9":"nine","a":"a"}'],
  ['keys sorted by UTF-16 code units', { '\uff01': 1, '\u{1F600}': 2, B: 3, _: 4, a: 5 }, '{"B":3,"_":4,"a":5,"\u{1F600}":2,"\uff01":1}'],
  ['undefined property omitted', { a: undefined, b: 1, c: undefined }, '{"b":1}'],
  ['only undefined properties', { a: undefined }, '{}'],
  ['undefined in array is null', [undefined, 1, undefined], '[null,1,null]'],
  ['sparse array hole is null', [, 1], '[null,1]'], // eslint-disable-line no-sparse-arrays
  ['Date uses toJSON', new Date(Date.UTC(2020, 1, 3, 4, 5, 6, 7)), '"2020-02-03T04:05:06.007Z"'],
  ['Date in object', { when: new Date(0) }, '{"when":"1970-01-01T00:00:00.000Z"}'],
  ['invalid Date is null (its toJSON)', [new Date(NaN)], '[null]'],
  ['toJSON gets the key', { k: { toJSON: (key: string) => 'key=' + key } }, '{"k":"key=k"}'],
  ['toJSON gets the array index', [{ toJSON: (key: string) => 'key=' + key }], '["key=0"]'],
  ['toJSON returning an object is sorted', { toJSON: () => ({ b: 1, a: 2 }) }, '{"a":2,"b":1}'],
  ['Object.create(null)', Object.assign(Object.create(null), { b: 2, a: 1 }), '{"a":1,"b":2}'],
  ['emoji', '\u{1F600}', '"\u{1F600}"'],
  ['lone high surrogate is escaped', '\ud800', '"\\ud800"'],
  ['lone low surrogate is escaped', 'x\udc00y', '"x\\udc00y"']
]

test('canonicalStringify: exact output', (t) => {
  for (const [name, value, expected] of encodes) {
    t.is(canonicalStringify(value, MAX), expected, name)
  }
})

test('canonicalEncode: UTF-8 of the canonical string', (t) => {
  for (const [name, value, expected] of encodes) {
    const bytes = canonicalEncode(value, MAX)
    t.alike(Array.from(bytes), Array.from(utf8(expected)), name)
  }
  t.alike(Array.from(canonicalEncode('\u{1F600}', MAX)), [0x22, 0xf0, 0x9f, 0x98, 0x80, 0x22], 'emoji bytes')
})

test('the same object referenced twice is not a cycle', (t) => {
  const shared = { x: 1 }
  const list = [shared]
  t.is(canonicalStringify({ a: shared, b: shared }, MAX), '{"a":{"x":1},"b":{"x":1}}')
  t.is(canonicalStringify([shared, shared, [shared]], MAX), '[{"x":1},{"x":1},[{"x":1}]]')
  t.is(canonicalStringify({ a: list, b: { c: list } }, MAX), '{"a":[{"x":1}],"b":{"c":[{"x":1}]}}')
})

test('undefined at the top level: no value', (t) => {
  t.is(canonicalStringify(undefined, MAX), undefined)
  const bytes = canonicalEncode(undefined, MAX)
  t.ok(bytes instanceof Uint8Array)
  t.is(bytes.byteLength, 0)
  t.is(canonicalDecode(new Uint8Array(0)), undefined)
  t.is(canonicalStringify({ toJSON: () => undefined }, MAX), undefined, 'toJSON returning undefined')
})

// ---------------------------------------------------------------------------

const cyclic: Record<string, unknown> = { a: 1 }
cyclic['self'] = cyclic
const cyclicArray: unknown[] = [1]
cyclicArray.push([cyclicArray])
const deepCycle: Record<string, unknown> = {}
deepCycle['x'] = { y: [0, deepCycle] }

const rejects: Array<[string, unknown, string, string]> = [
  // [name, value, code, exact message]
  ['NaN', NaN, 'NOT_ENCODABLE', 'NOT_ENCODABLE: NaN is not a JSON number at $'],
  ['Infinity', Infinity, 'NOT_ENCODABLE', 'NOT_ENCODABLE: Infinity is not a JSON number at $'],
  ['-Infinity', -Infinity, 'NOT_ENCODABLE', 'NOT_ENCODABLE: -Infinity is not a JSON number at $'],
  ['NaN with a path', { a: [1, NaN] }, 'NOT_ENCODABLE', 'NOT_ENCODABLE: NaN is not a JSON number at $.a[1]'],
  ['Infinity deep', [{ b: { c: [0, 0, Infinity] } }], 'NOT_ENCODABLE', 'NOT_ENCODABLE: Infinity is not a JSON number at $[0].b.c[2]'],
  ['function', () => 1, 'NOT_ENCODABLE', 'NOT_ENCODABLE: a function is not a JSON value at $'],
  ['function in object (JSON would drop it)', { f: function () {} }, 'NOT_ENCODABLE', 'NOT_ENCODABLE: a function is not a JSON value at $.f'],
  ['function in array (JSON would make it null)', [1, () => 1], 'NOT_ENCODABLE', 'NOT_ENCODABLE: a function is not a JSON value at $[1]'],
  ['symbol', Symbol('s'), 'NOT_ENCODABLE', 'NOT_ENCODABLE: a symbol is not a JSON value at $'],
  ['symbol in object', { s: Symbol('s') }, 'NOT_ENCODABLE', 'NOT_ENCODABLE: a symbol is not a JSON value at $.s'],
  ['bigint', 1n, 'NOT_ENCODABLE', 'NOT_ENCODABLE: a bigint is not a JSON value (use a string) at $'],
  ['bigint in array', [0, [1n]], 'NOT_ENCODABLE', 'NOT_ENCODABLE: a bigint is not a JSON value (use a string) at $[1][0]'],
  ['object cycle', cyclic, 'NOT_ENCODABLE', 'NOT_ENCODABLE: the value refers to itself (cycle) at $.self'],
  ['array cycle', cyclicArray, 'NOT_ENCODABLE', 'NOT_ENCODABLE: the value refers to itself (cycle) at $[1][0]'],
  ['deep cycle', deepCycle, 'NOT_ENCODABLE', 'NOT_ENCODABLE: the value refers to itself (cycle) at $.x.y[1]'],
  ['Map', new Map([[1, 2]]), 'NOT_ENCODABLE', 'NOT_ENCODABLE: a Map is not a plain object (convert it to an object or array) at $'],
  ['Set', { s: new Set([1]) }, 'NOT_ENCODABLE', 'NOT_ENCODABLE: a Set is not a plain object (convert it to an object or array) at $.s'],
  ['Uint8Array', [new Uint8Array(2)], 'NOT_ENCODABLE', 'NOT_ENCODABLE: a Uint8Array is not a JSON value (use an array of numbers or a string) at $[0]'],
  ['Buffer (despite its toJSON)', { b: Buffer.from('hi') }, 'NOT_ENCODABLE', 'NOT_ENCODABLE: a Buffer is not a JSON value (use an array of numbers or a string) at $.b'],
  ['class instance', { p: new Point() }, 'NOT_ENCODABLE', 'NOT_ENCODABLE: a Point is not a plain object (convert it to an object or array) at $.p'],
  ['RegExp', /x/, 'NOT_ENCODABLE', 'NOT_ENCODABLE: a RegExp is not a plain object (convert it to an object or array) at $'],
  ['65 nested arrays', nested(65), 'TOO_LARGE', 'TOO_LARGE: nesting deeper than 64 at $' + '[0]'.repeat(64)],
  ['65 nested objects', nestedObjects(65), 'TOO_LARGE', 'TOO_LARGE: nesting deeper than 64 at $' + '.k'.repeat(64)]
]

test('not encodable: code, name and path', (t) => {
  for (const [name, value, code, message] of rejects) {
    const err = caught(() => canonicalStringify(value, MAX))
    t.is(err?.code, code, name + ': code')
    t.is(err?.message, message, name + ': message')
    t.is(err?.name, 'EncodingError', name + ': name')
    const err2 = caught(() => canonicalEncode(value, MAX))
    t.is(err2?.code, code, name + ': canonicalEncode code')
  }
})

test('cycle message mentions the cycle', (t) => {
  const err = caught(() => canonicalEncode(cyclic, MAX))
  t.ok(/cycle/.test(err?.message ?? ''), err?.message)
})


// ---------------------------------------------------------------------------

test('nesting: exactly 64 levels encode', (t) => {
  t.is(canonicalStringify(nested(64), MAX), '['.repeat(64) + '1' + ']'.repeat(64))
  t.is(canonicalStringify(nestedObjects(64), MAX), '{"k":'.repeat(64) + '1' + '}'.repeat(64))
  const err = caught(() => canonicalStringify(nested(64, []), MAX))
  t.is(err?.code, 'TOO_LARGE', '64 arrays around an empty array are 65 levels')
})

test('size limit: one big string', (t) => {
  // '"' + 8 x + '"' is exactly 10 bytes
  t.is(canonicalStringify('x'.repeat(8), 10), '"xxxxxxxx"')
  t.is(canonicalEncode('x'.repeat(8), 10).byteLength, 10)
  let err = caught(() => canonicalStringify('x'.repeat(9), 10))
  t.is(err?.code, 'TOO_LARGE')
  t.is(err?.message, 'TOO_LARGE: value is larger than 10 bytes at $')
  err = caught(() => canonicalEncode({ a: ['x'.repeat(100)] }, 50))
  t.is(err?.code, 'TOO_LARGE')
  t.is(err?.message, 'TOO_LARGE: value is larger than 50 bytes at $.a[0]')
  err = caught(() => canonicalEncode('x'.repeat(10 * MAX), MAX))
  t.is(err?.code, 'TOO_LARGE')
})

test('size limit: multi-byte UTF-8 counts bytes, not characters', (t) => {
  // 10 x U+20AC is 12 UTF-16 units as JSON but 32 UTF-8 bytes
  const err = caught(() => canonicalEncode('\u20ac'.repeat(10), 20))
  t.is(err?.code, 'TOO_LARGE')
  t.is(err?.message, 'TOO_LARGE: value is larger than 20 bytes at $')
  t.is(canonicalEncode('\u20ac'.repeat(10), 32).byteLength, 32)
})

test('size limit: many small items (canonicalEncode)', (t) => {
  const many = new Array(1000).fill(1) // "[1,1,...,1]" is 2001 bytes
  t.is(canonicalEncode(many, 2001).byteLength, 2001)
  let err = caught(() => canonicalEncode(many, 2000))
  t.is(err?.code, 'TOO_LARGE', 'one byte short')
  err = caught(() => canonicalEncode(many, 1500))
  t.is(err?.code, 'TOO_LARGE')
  err = caught(() => canonicalEncode(many, 100))
  t.is(err?.code, 'TOO_LARGE')
  const obj: Record<string, number> = {}
  for (let i = 0; i < 500; i++) obj['k' + i] = i
  const size = JSON.stringify(obj).length
  t.is(canonicalEncode(obj, size).byteLength, size)
  err = caught(() => canonicalEncode(obj, size - 1))
  t.is(err?.code, 'TOO_LARGE', 'object one byte short')
})

test('size limit: canonicalStringify never returns more than maxBytes of ASCII', (t) => {
  // The doc: "longer than `maxBytes`: TOO_LARGE". The sandbox relies on
  // canonicalStringify alone to bound a call's result (maxResultBytes).
  // Each value below is pure ASCII; maxBytes is one less than its length.
  const cases: Array<[string, unknown]> = [
    ['1000 small numbers', new Array(1000).fill(1)],
    ['500 small properties', Object.fromEntries(Array.from({ length: 500 }, (_, i) => ['k' + i, i]))],
    ['brackets of an array', ['x'.repeat(8)]],
    ['nested empty arrays', nested(30, [])],
    ['1000 empty arrays', new Array(1000).fill([])]
  ]
  for (const [name, value] of cases) {
    const size = JSON.stringify(value).length
    t.is(canonicalStringify(value, size)?.length, size, name + ': fits in exactly its size')
    let out: string | undefined
    const err = caught(() => { out = canonicalStringify(value, size - 1) })
    t.is(err?.code, 'TOO_LARGE', `${name}: maxBytes ${size - 1} should be TOO_LARGE, got ${err ? String(err.code) : (out?.length ?? 0) + ' bytes'}`)
  }
})

// ---------------------------------------------------------------------------

const unicode = [
  'h\u00e9llo',
  '\u65e5\u672c\u8a9e',
  '\u{1F600}\u{1F469}\u200d\u{1F4BB}',
  '\ud800',
  '\udfff',
  'a\ud83db', // high surrogate not followed by a low one
  '\u0000\u001f\u007f',
  '\u2028\u2029',
  '"\\/',
  '\ufeffbom',
  ''
]

test('unicode strings round-trip', (t) => {
  for (const s of unicode) {
    const bytes = canonicalEncode(s, MAX)
    t.is(canonicalDecode(bytes), s, JSON.stringify(s))
    t.ok(isCanonical(bytes, MAX), JSON.stringify(s) + ' is canonical')
    const wrapped = { [s]: [s] }
    t.alike(canonicalDecode(canonicalEncode(wrapped, MAX)), wrapped, JSON.stringify(s) + ' as key and in array')
  }
})

test('values round-trip', (t) => {
  const values: unknown[] = [null, true, 0, 1.5, -3, 'x', [], {}, [1, [2, { a: 'b', c: [null] }]], { z: 1, a: { y: 2, b: 3 } }]
  for (const v of values) {
    const bytes = canonicalEncode(v, MAX)
    t.alike(canonicalDecode(bytes), v, JSON.stringify(v))
    t.is(b4a.toString(canonicalEncode(canonicalDecode(bytes), MAX)), b4a.toString(bytes), 'stable: ' + JSON.stringify(v))
  }
})

test('canonicalDecode rejects bad bytes', (t) => {
  t.is(caught(() => canonicalDecode(new Uint8Array([0x22, 0xff, 0x22])))?.name, 'TypeError', 'invalid UTF-8')
  t.is(caught(() => canonicalDecode(utf8('[1,')))?.name, 'SyntaxError', 'not JSON')
})

// ---------------------------------------------------------------------------

const canonical: Array<[string, Uint8Array, boolean]> = [
  ['canonical array', utf8('[1,2]'), true],
  ['canonical object', utf8('{"a":2,"b":1}'), true],
  ['canonical nested', canonicalEncode({ b: [1, { d: 'x', c: null }], a: true }, MAX), true],
  ['canonical emoji', canonicalEncode(['\u{1F600}'], MAX), true],
  ['canonical lone surrogate escape', utf8('"\\ud800"'), true],
  ['empty bytes (undefined)', new Uint8Array(0), true],
  ['space after comma', utf8('[1, 2]'), false],
  ['leading space', utf8(' [1,2]'), false],
  ['trailing newline', utf8('[1,2]\n'), false],
  ['space after colon', utf8('{"a": 1}'), false],
  ['unsorted keys', utf8('{"b":1,"a":2}'), false],
  ['nested unsorted keys', utf8('[{"b":1,"a":2}]'), false],
  ['duplicate keys', utf8('{"a":1,"a":1}'), false],
  ['-0', utf8('[-0]'), false],
  ['1.0', utf8('[1.0]'), false],
  ['exponent form', utf8('[1e2]'), false],
  ['upper-case exponent', utf8('[1E+21]'), false],
  ['needless escape', utf8('["\\u0041"]'), false],
  ['escaped slash', utf8('["\\/"]'), false],
  ['upper-case surrogate escape', utf8('"\\uD800"'), false],
  ['escaped emoji (canonical is raw UTF-8)', utf8('"\\ud83d\\ude00"'), false],
  ['invalid UTF-8', new Uint8Array([0x5b, 0x22, 0xff, 0x22, 0x5d]), false],
  ['UTF-8 encoded surrogate', new Uint8Array([0x22, 0xed, 0xa0, 0x80, 0x22]), false],
  ['overlong UTF-8', new Uint8Array([0x22, 0xc1, 0x81, 0x22]), false],
  ['BOM before JSON', new Uint8Array([0xef, 0xbb, 0xbf, 0x5b, 0x5d]), false],
  ['not JSON', utf8('[1,'), false],
  ['bare word', utf8('undefined'), false],
  ['too deep', utf8('['.repeat(65) + ']'.repeat(65)), false]
]

test('isCanonical', (t) => {
  for (const [name, bytes, expected] of canonical) {
    t.is(isCanonical(bytes, MAX), expected, name)
  }
})

test('isCanonical respects maxBytes', (t) => {
  const bytes = utf8('["abcdef"]')
  t.is(isCanonical(bytes, 10), true)
  t.is(isCanonical(bytes, 9), false)
})
