import type {Hook} from '@oclif/core'

import {ExitCode} from '../lib/errors.js'

/** An unknown command is a usage error (exit 2), with the closest command suggested. */
const hook: Hook<'command_not_found'> = async function (options) {
  const known = options.config.commandIDs
  const wanted = options.id.replaceAll(':', ' ')
  const suggestion = known
    .map((id) => ({id, distance: levenshtein(id, options.id)}))
    .sort((a, b) => a.distance - b.distance)[0]
  process.stderr.write(`Error: "${wanted}" is not a kpipe command.\n`)
  if (suggestion && suggestion.distance <= 3) process.stderr.write(`Hint: did you mean "${suggestion.id.replaceAll(':', ' ')}"? See kpipe --help.\n`)
  else process.stderr.write('Hint: see kpipe --help for the commands.\n')
  process.exit(ExitCode.usage)
}

// Edit distance over command ids is a dozen lines; not worth a dependency.
function levenshtein(a: string, b: string): number {
  const row = Array.from({length: b.length + 1}, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1))
      previous = current
    }
  }
  return row[b.length]!
}

export default hook
