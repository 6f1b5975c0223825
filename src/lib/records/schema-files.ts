/**
 * The Avro schemas kept in the repository: `schemas/<subject>/v<N>.avsc`, one file per version.
 */
import {readdirSync, readFileSync, statSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import avro from 'avsc'
import type {Type} from 'avsc'

// avsc's typings declare Schema without exporting it.
type Schema = Parameters<typeof avro.Type.forSchema>[0]

/** The package's own `schemas/` (the same three levels up from src/lib/records and dist/lib/records). */
export const PACKAGE_SCHEMAS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../schemas')

export interface SchemaFile {
  subject: string
  version: number
  /** Absolute path. */
  file: string
  type: Type
  /** Parsing Canonical Form (Avro specification), the input of the fingerprint. */
  canonical: string
}

/** A schema file that cannot be read or is not a valid Avro schema. */
export class SchemaFileError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(message)
    this.name = 'SchemaFileError'
  }
}

const VERSION_FILE = /^v(\d+)\.avsc$/

/** Subjects under `dir`: its subdirectories holding at least one v<N>.avsc, sorted by name. */
export function listSubjects(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => statSync(path.join(dir, name)).isDirectory())
    .filter((name) => readdirSync(path.join(dir, name)).some((file) => VERSION_FILE.test(file)))
    .sort()
}

/** Reads and parses every `v<N>.avsc` of one subject, oldest version first. */
export function readSubject(dir: string, subject: string): SchemaFile[] {
  const subjectDir = path.join(dir, subject)
  const versions = readdirSync(subjectDir)
    .map((name) => ({name, match: VERSION_FILE.exec(name)}))
    .filter((entry): entry is {name: string; match: RegExpExecArray} => entry.match !== null)
    .map((entry) => ({file: path.join(subjectDir, entry.name), version: Number(entry.match[1])}))
    .sort((a, b) => a.version - b.version)
  return versions.map(({file, version}) => {
    const type = parseSchemaFile(file)
    return {subject, version, file, type, canonical: JSON.stringify(type.schema())}
  })
}

export function parseSchemaFile(file: string): Type {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new SchemaFileError(file, `${file} cannot be read: ${(error as Error).message}.`)
  }
  let schema: Schema
  try {
    schema = JSON.parse(text) as Schema
  } catch (error) {
    throw new SchemaFileError(file, `${file} is not valid JSON: ${(error as Error).message}.`)
  }
  try {
    // Logical types (timestamp-millis) are read as their underlying type; the codec converts.
    return avro.Type.forSchema(schema)
  } catch (error) {
    throw new SchemaFileError(file, `${file} is not a valid Avro schema: ${(error as Error).message}.`)
  }
}
