export { VmHost, type VmHostOptions, type CallAnswer } from './host/vm-host.js'
export { DEFAULT_LIMITS } from './host/limits.js'
export { Identity, toKey, formatKey, verifyCallSignature, verifyUpgradeSignature } from './identity.js'
export { verifyReceipt, verifyReceiptEntry, verifyLogProof, checkedAnswer, signedLength, ReceiptCache } from './receipt.js'
export { Gateway, type GatewayOptions } from './gateway/gateway.js'
export { type LogProof } from './messages/gateway.js'
export { makeEvidence, verifyEvidence, type Evidence } from './audit/evidence.js'
export { replay, combineReports, checkpoints, type ReplayOptions, type ReplayReport, type Divergence, type DivergenceClass } from './audit/replay.js'
export { VmsError, type VmsErrorCode, type VmsErrorReason } from './errors.js'
export { canonicalEncode, canonicalDecode, canonicalStringify } from './canonical-json.js'
export {
  decodeEntry, encode, logEntry, receipt as receiptEncoding, signedCall as signedCallEncoding,
  EntryType, LoadReason, SANDBOX_API_VERSION, SANDBOX_API_VERSIONS, LOG_VERSION, scriptHash,
  type LogEntry, type Genesis, type LoadEntry, type CallEntry, type UpgradeEntry, type Receipt, type SignedCall, type SignedUpgrade, type Limits, type FilesState
} from './messages/index.js'
export { VmsNode, type VmsNodeOptions } from './node/vms-node.js'
export { mirrorProgress, watchMirror, type MirrorProgress } from './node/mirror-progress.js'
export { VmHandle, VmFiles, type VmFacts } from './client/vm-handle.js'
export { type VersionSpan } from './host/script-version.js'
export { BlockCore } from './messages/wire.js'
export { parseBootstrap, type Bootstrap } from './node/network.js'
