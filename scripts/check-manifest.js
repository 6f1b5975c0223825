#!/usr/bin/env node
// The committed oclif.manifest.json must describe the commands the build just compiled.
//   node scripts/check-manifest.js --normalize   sort the manifest's commands (run by `npm run build`:
//                                                oclif lists them in the order their modules finish loading)
//   node scripts/check-manifest.js               CI guard: compare with the committed manifest
import {execFileSync} from 'node:child_process'
import {readFileSync, writeFileSync} from 'node:fs'

const FILE = 'oclif.manifest.json'

function normalized(manifest) {
  const commands = Object.fromEntries(Object.keys(manifest.commands ?? {}).sort().map((id) => [id, manifest.commands[id]]))
  return {...manifest, commands}
}

if (process.argv.includes('--normalize')) {
  writeFileSync(FILE, `${JSON.stringify(normalized(JSON.parse(readFileSync(FILE, 'utf8'))), null, 2)}\n`)
  process.exit(0)
}

const built = JSON.stringify(normalized(JSON.parse(readFileSync(FILE, 'utf8'))))
const committed = JSON.stringify(normalized(JSON.parse(execFileSync('git', ['show', `HEAD:${FILE}`], {encoding: 'utf8'}))))
if (built !== committed) {
  console.error(`${FILE} is stale: it differs from what the build generates. Run \`npm run build\` and commit it.`)
  process.exit(1)
}
