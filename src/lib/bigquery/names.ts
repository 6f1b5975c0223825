/**
 * BigQuery names from configuration: validated before any request (a bad one is exit 2 naming
 * where it came from), and quoted with backticks wherever they reach SQL (DESIGN §4). The rules
 * are BigQuery's own, narrowed to ASCII so that a name never needs escaping inside backticks.
 */
import {ConfigError} from '../errors.js'

/** Dataset ids: letters, digits and underscores, up to 1,024 characters (BigQuery's rule). */
const DATASET = /^[A-Za-z0-9_]{1,1024}$/
/** Table ids: BigQuery also takes dashes and Unicode letters; kpipe takes the ASCII subset. */
const TABLE = /^[A-Za-z0-9_-]{1,1000}$/
/** Project ids (`my-project-123`), with the legacy domain-scoped form (`example.com:project`). */
const PROJECT = /^(?:[a-z0-9][a-z0-9.-]*:)?[a-z0-9][a-z0-9-]{0,62}$/i

export function checkDataset(name: string, origin = 'bigquery.dataset'): string {
  if (!DATASET.test(name)) {
    throw new ConfigError(`${origin}: ${clip(name)} is not a BigQuery dataset name: use letters, digits and "_" only (at most 1,024).`, {
      hint: 'Set --dataset / --bq-dataset / KPIPE_BQ_DATASET (or bigquery.dataset in kpipe.yaml) to a name such as analytics.',
    })
  }
  return name
}

export function checkTable(name: string, origin = '--table'): string {
  if (!TABLE.test(name)) {
    throw new ConfigError(`${origin}: ${clip(name)} is not a table name kpipe accepts: use letters, digits, "_" and "-" only.`, {
      hint: 'Give --table a name such as events.',
    })
  }
  return name
}

export function checkProject(name: string, origin = 'bigquery.project'): string {
  if (!PROJECT.test(name)) {
    throw new ConfigError(`${origin}: ${clip(name)} is not a Google Cloud project id.`, {
      hint: 'Set --bq-project / KPIPE_BQ_PROJECT (or bigquery.project in kpipe.yaml) to the project id, such as my-project-123 (local with the emulator).',
    })
  }
  return name
}

/** `project.dataset.table` quoted for GoogleSQL; every part has been checked above. */
export function quotedTable(project: string, dataset: string, table: string): string {
  return `\`${checkProject(project)}.${checkDataset(dataset)}.${checkTable(table)}\``
}

/** Quoted as JSON (a newline or control character stays on the one line of the sentence), clipped. */
function clip(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text)
}
