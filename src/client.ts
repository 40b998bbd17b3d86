/**
 * The client side of vms-node, for Node and Bare: dial a VM by key, call it,
 * read its files, check receipts. Loads nothing of the sandbox.
 */
export { VmsNode, type VmsNodeOptions } from './node/vms-node.js'
export { VmHandle, VmFiles, type VmFacts } from './client/vm-handle.js'
export { BlockCore } from './messages/wire.js'
export { parseBootstrap, type Bootstrap } from './node/network.js'
export { Identity, toKey, formatKey } from './identity.js'
export { scriptHash } from './messages/index.js'
export { verifyReceipt, verifyReceiptEntry, signedLength, ReceiptCache } from './receipt.js'
export { VmsError, type VmsErrorCode } from './errors.js'
export { canonicalEncode, canonicalDecode } from './canonical-json.js'
