import type { Limits } from '../messages/index.js'
import { VmsError, describe } from '../errors.js'

/** Limits a VM gets unless its creator says otherwise. Fixed in the genesis. */
export const DEFAULT_LIMITS: Limits = {
  timeoutMs: 5000,
  memoryMb: 128,
  maxArgsBytes: 64 * 1024,
  maxResultBytes: 1024 * 1024,
  maxFileBytes: 16 * 1024 * 1024,
  nonceWindowMs: 5 * 60 * 1000,
  nonceSkewMs: 60 * 1000
}

export const METHOD_NAME = /^[A-Za-z_$][A-Za-z0-9_$]{0,127}$/
export const RESERVED_METHODS = new Set(['init'])

/** The range each limit may take: what the sandbox and the log can honour. */
const LIMIT_RANGES: Record<keyof Limits, [min: number, max: number, what: string]> = {
  // isolated-vm takes a 32-bit timeout and at least 8 MB of heap
  timeoutMs: [1, 2 ** 31 - 1, 'ms a call may run'],
  memoryMb: [8, 2 ** 20, 'MB of heap for the script'],
  // "[]" is the smallest args; a call must fit a connection's in-flight budget (8 MB)
  maxArgsBytes: [2, 4 * 1024 * 1024, 'bytes of a call\'s args (canonical JSON)'],
  maxResultBytes: [1, 2 ** 30, 'bytes of a result (canonical JSON)'],
  maxFileBytes: [1, 2 ** 40, 'bytes of a file the script writes'],
  // a call signed now must have time to arrive
  nonceWindowMs: [1000, 2 ** 31 - 1, 'ms a signed call stays valid'],
  nonceSkewMs: [0, 2 ** 31 - 1, 'ms a caller\'s clock may run ahead']
}

/**
 * The limits a new VM gets: the defaults with `given` over them. Throws
 * BAD_OPTION for a limit that is not one (a typo) or not a whole number in
 * its range, before anything is made.
 */
export function resolveLimits(given: Partial<Limits> | undefined): Limits {
  if (given === undefined || given === null) return { ...DEFAULT_LIMITS }
  if (typeof given !== 'object' || Array.isArray(given)) throw new VmsError('BAD_OPTION', 'limits must be an object, say { timeoutMs: 5000 }')
  const limits = { ...DEFAULT_LIMITS }
  for (const [name, value] of Object.entries(given)) {
    if (value === undefined) continue
    const range = LIMIT_RANGES[name as keyof Limits]
    if (!range) throw new VmsError('BAD_OPTION', `limits.${name} is not a limit; the limits are ${Object.keys(LIMIT_RANGES).join(', ')}`)
    const [min, max, what] = range
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new VmsError('BAD_OPTION', `limits.${name} is ${describe(value)}: it takes a whole number of ${what}, from ${min} to ${max} (default ${DEFAULT_LIMITS[name as keyof Limits]})`)
    }
    limits[name as keyof Limits] = value
  }
  return limits
}

/** A count or a time in an option: a whole number, at least `min`. Throws BAD_OPTION naming the option. */
export function checkWholeOption(name: string, value: unknown, min: number): void {
  if (value === undefined) return
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > Number.MAX_SAFE_INTEGER) {
    throw new VmsError('BAD_OPTION', `${name} is ${describe(value)}: it takes a whole number, at least ${min}`)
  }
}
