#!/usr/bin/env node
// kpipe needs Node 22.15 or newer: process.execve (the workers' fixed heap) and zlib's zstd
// (compressed input) arrived in it. Say so in one sentence rather than fail somewhere inside.
const [major, minor] = process.versions.node.split('.').map(Number)
if (major < 22 || (major === 22 && minor < 15)) {
  process.stderr.write(`Error: kpipe needs Node.js 22.15 or newer; this is ${process.version}.\nHint: Install a current Node.js (24 LTS is tested).\n`)
  process.exit(2)
}

// Node's compile cache (in the OS temp directory): the compiled code of kpipe and its dependencies
// is kept on disk, so that every command after the first starts ~140 ms sooner (`lag --help`:
// 0.55 s → 0.41 s here). Nothing changes where the directory cannot be written.
const {enableCompileCache} = await import('node:module')
enableCompileCache?.()

// `kpipe … | head` closes stdout early: stop quietly, as other command-line tools do, instead of
// Node's "unsettled top-level await" warning and exit 13.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(0)
  throw error
})

// Before anything loads kafkajs: the fixes to its producer (acknowledgements kept per partition,
// linear grouping, a native CRC-32C; see the module for why, and why in place), and its idle
// timer's TimeoutNegativeWarning dropped.
const {applyKafkajsPatches, quietKafkajsTimerWarning} = await import('../dist/lib/kafka/kafkajs-patches.js')
applyKafkajsPatches()
quietKafkajsTimerWarning()

const {execute, settings} = await import('@oclif/core')
// The built CLI runs its compiled code, whatever NODE_ENV says: with NODE_ENV=development or test
// (common in a developer's shell) oclif would otherwise look for TypeScript sources next to dist/
// and print "Could not find source … Defaulting to compiled source" before every command.
settings.enableAutoTranspile = false

await execute({dir: import.meta.url})
