#!/usr/bin/env node
// CI guard: oclif.manifest.json is committed and must match what the build just generated.
import {execFileSync} from 'node:child_process'

try {
  execFileSync('git', ['diff', '--quiet', '--', 'oclif.manifest.json'], {stdio: 'inherit'})
} catch {
  console.error('oclif.manifest.json is stale: the build regenerated it with changes. Run `npm run build` and commit it.')
  process.exit(1)
}
