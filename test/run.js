#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) in its own process,
// streams brittle's TAP output, and ends with one line: `N passed, M failed`.
import { spawn } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const dir = join(root, 'dist', 'test')
const only = process.argv.slice(2)

function find(d) {
  const out = []
  for (const name of readdirSync(d).sort()) {
    const p = join(d, name)
    if (statSync(p).isDirectory()) out.push(...find(p))
    else if (name.endsWith('.test.js')) out.push(p)
  }
  return out
}

const files = find(dir).filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
let passed = 0
let failed = 0
const failures = []
/**
 * A test file whose tests all ended but whose process does not exit left
 * something open (a swarm, a timer, a child process): after this long it is
 * killed and counted as a failure, instead of hanging the run.
 */
const FILE_TIMEOUT_MS = Number(process.env.VMS_TEST_FILE_TIMEOUT_MS || 300000)

for (const file of files) {
  const name = relative(root, file)
  console.log(`# ${name}`)
  const code = await new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'inherit'] })
    let buf = ''
    child.stdout.on('data', (d) => {
      process.stdout.write(d)
      buf += d
      let i
      while ((i = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, i)
        buf = buf.slice(i + 1)
        // Top-level test results only (assertions are indented).
        if (/^ok \d+/.test(line)) passed++
        else if (/^not ok \d+/.test(line)) { failed++; failures.push(`${name}: ${line}`) }
      }
    })
    let hung = false
    const timer = setTimeout(() => { hung = true; child.kill('SIGKILL') }, FILE_TIMEOUT_MS)
    child.on('exit', (c) => { clearTimeout(timer); resolve(hung ? 'hung' : c) })
  })
  if (code === 'hung') {
    failed++
    failures.push(`${name}: did not exit within ${FILE_TIMEOUT_MS / 1000} s (a swarm, timer or process left open?); killed`)
  } else if (code !== 0 && !failures.some((f) => f.startsWith(name))) {
    failed++
    failures.push(`${name}: exited with code ${code}`)
  }
}

if (failures.length) {
  console.log('\nFailed:')
  for (const f of failures) console.log(`  ${f}`)
}
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
