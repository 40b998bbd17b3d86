/**
 * What a sandbox is loaded with, from the genesis (or, for a VM being
 * created, from what its genesis will say): the host, a replay and a view
 * runner load a VM's script the same way.
 */
import { SANDBOX_API_VERSIONS, type Genesis } from '../messages/index.js'
import { VmsError } from '../errors.js'
import type { SandboxConfig } from './protocol.js'

export function sandboxConfigFor(g: Pick<Genesis, 'apiVersion' | 'script' | 'filename' | 'limits' | 'oracles'>, extra: { timeoutMs?: number; readOnly?: boolean; migrateFrom?: number } = {}): SandboxConfig {
  if (!SANDBOX_API_VERSIONS.includes(g.apiVersion)) {
    throw new VmsError('SANDBOX_UNAVAILABLE', `the VM uses sandbox API version ${g.apiVersion}; this vms-node runs ${SANDBOX_API_VERSIONS.join(' and ')}: upgrade vms-node`)
  }
  return {
    apiVersion: g.apiVersion,
    script: g.script,
    filename: g.filename,
    timeoutMs: extra.timeoutMs ?? g.limits.timeoutMs,
    memoryMb: g.limits.memoryMb,
    maxResultBytes: g.limits.maxResultBytes,
    maxFileBytes: g.limits.maxFileBytes,
    oracles: g.oracles,
    ...(extra.readOnly ? { readOnly: true } : {}),
    ...(extra.migrateFrom !== undefined ? { migrateFrom: extra.migrateFrom } : {})
  }
}
