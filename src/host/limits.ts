import type { Limits } from '../messages/index.js'

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
