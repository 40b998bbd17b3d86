#!/usr/bin/env node
// Checked before anything else loads, so an old Node gets this sentence and not a stack trace.
const major = Number(process.versions.node.split('.')[0])
if (major < 24) {
  console.error(`vms-node needs Node 24 or 26; this is Node ${process.versions.node}. Install Node 24 LTS (nvm install 24, or https://nodejs.org), then run npm install again.`)
  process.exit(1)
}
await import('../dist/src/cli/index.js')
