/** Reading a VM's storage on this machine (log, replay). */
import Corestore from 'corestore'
import { openVmCores, closeVmCores, type VmCores } from '../host/vm-storage.js'
import { VmsError } from '../errors.js'
import { checkStorageDir, storageOpenError } from '../storage-dir.js'
import { NodeRegistry, vmStore } from '../node/node-registry.js'
import { fail } from './fail.js'

/**
 * Open a VM's storage for reading (it must hold a VM, and not be open
 * elsewhere), run `fn`, close. The storage is the VM's own directory
 * (`create`), or a node's (`serve --storage`, which keeps each VM in a
 * namespace named for it): `vm` names it, and may be left out when the node
 * holds one VM.
 */
export async function withCores(storage: string, vm: string | undefined, fn: (cores: VmCores) => Promise<void>): Promise<void> {
  await checkStorageDir(storage, { existing: true }).catch((err: Error) => fail(err.message))
  const registry = await new NodeRegistry(storage).read().catch((err: Error) => fail(err.message))
  const names = registry.vms.map((v) => v.name)
  if (vm !== undefined && names.length === 0) fail(`${storage} is not a node's storage (no VMs listed in it): give the VM's own storage directory, without --vm`)
  let entry: { name: string; own?: boolean } = { name: '', own: true } // a VM's own storage: its VM is at the root
  if (names.length > 0) {
    if (vm === undefined && names.length > 1) fail(`${storage} is a node's storage with ${names.length} VMs (${names.join(', ')}): pick one with --vm NAME`)
    const name = vm ?? names[0]!
    if (!names.includes(name)) fail(`${storage} holds no VM named ${name} (it has: ${names.join(', ')})`)
    entry = registry.vms.find((v) => v.name === name)!
  }
  let store = new Corestore(storage)
  let opened = await store.ready().then(() => null, (err: Error) => err)
  if ((opened as { code?: string } | null)?.code === 'DEVICE_FILE') {
    // A copy (a backup, a storage sent to an auditor): hypercore appends to none, but reading one is safe.
    await store.close().catch(() => {})
    store = new Corestore(storage, { readOnly: true })
    opened = await store.ready().then(() => null, (err: Error) => err)
    if (!opened) console.error(`vms-node: ${storage} is a copy of a storage: read it read-only`)
  }
  if (opened) {
    await store.close().catch(() => {})
    fail(storageOpenError(storage, opened).message)
  }
  const cores = await openVmCores(vmStore(store, entry), { existing: true }).catch(async (err) => {
    await store.close()
    return fail(err instanceof VmsError ? err.message : `cannot open ${storage}: ${err.message}`)
  })
  try {
    await fn(cores)
  } finally {
    await closeVmCores(cores)
    await store.close()
  }
}
