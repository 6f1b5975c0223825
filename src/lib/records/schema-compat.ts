/**
 * Compatibility of the schema versions kept in the repository, as a schema registry would
 * check it: BACKWARD (the newer schema reads data written with the older) and FORWARD (the older
 * schema reads data written with the newer). avsc's createResolver is the judge — it throws
 * exactly when the Avro resolution rules fail; the explanation then walks the record fields to
 * name the one at fault, which avsc's own message ("cannot read "string" as "int"") does not.
 */
import path from 'node:path'
import type {Type} from 'avsc'

import {listSubjects, readSubject, SchemaFileError, type SchemaFile} from './schema-files.js'

export interface SchemaPairResult {
  /** The older file, relative to the schemas directory (`event/v1.avsc`). */
  from: string
  /** The newer file. */
  to: string
  /** The newer schema reads data written with the older. */
  backward: boolean
  /** The older schema reads data written with the newer. */
  forward: boolean
  /** One sentence naming the pair and the field, when either direction fails. */
  error: string | null
}

export interface SchemaSubjectResult {
  subject: string
  versions: number[]
  pairs: SchemaPairResult[]
  /** A file of the subject that cannot be read or parsed. */
  error: string | null
}

export interface SchemaCheckResult {
  ok: boolean
  dir: string
  transitive: boolean
  subjects: SchemaSubjectResult[]
}

export interface SchemaCheckOptions {
  /** The directory holding `<subject>/v<N>.avsc`. */
  dir: string
  /** Check every pair of versions, not only consecutive ones. */
  transitive?: boolean
  /** Only these subjects; all by default. */
  subjects?: string[]
}

/** Checks every subject under `dir`. Throws SchemaFileError only when `dir` itself cannot be listed. */
export function checkSchemaCompatibility(options: SchemaCheckOptions): SchemaCheckResult {
  const transitive = options.transitive ?? false
  let subjects: string[]
  try {
    subjects = listSubjects(options.dir)
  } catch (error) {
    throw new SchemaFileError(options.dir, `The schemas directory ${options.dir} cannot be read: ${(error as Error).message}.`)
  }
  if (options.subjects?.length) {
    const missing = options.subjects.filter((s) => !subjects.includes(s))
    if (missing.length > 0) {
      throw new SchemaFileError(options.dir, `There is no subject ${missing.join(', ')} in ${options.dir} (found: ${subjects.join(', ') || 'none'}).`)
    }
    subjects = options.subjects
  }
  const results = subjects.map((subject): SchemaSubjectResult => {
    let files: SchemaFile[]
    try {
      files = readSubject(options.dir, subject)
    } catch (error) {
      const message = error instanceof SchemaFileError ? relativeMessage(error.message, options.dir) : (error as Error).message
      return {subject, versions: [], pairs: [], error: message}
    }
    const pairs: SchemaPairResult[] = []
    for (let newer = 1; newer < files.length; newer++) {
      const first = transitive ? 0 : newer - 1
      for (let older = first; older < newer; older++) pairs.push(checkPair(files[older]!, files[newer]!, options.dir))
    }
    return {subject, versions: files.map((f) => f.version), pairs, error: null}
  })
  const ok = results.every((s) => s.error === null && s.pairs.every((p) => p.error === null))
  return {ok, dir: options.dir, transitive, subjects: results}
}

/** Checks one pair of versions in both directions. */
export function checkPair(older: SchemaFile, newer: SchemaFile, dir: string): SchemaPairResult {
  const from = path.relative(dir, older.file)
  const to = path.relative(dir, newer.file)
  const backwardProblem = resolutionProblem(newer.type, older.type, 'backward')
  const forwardProblem = resolutionProblem(older.type, newer.type, 'forward')
  let error: string | null = null
  if (backwardProblem) {
    error = `${to} is not backward compatible with ${from} (it cannot read data written with it): ${backwardProblem}.`
  } else if (forwardProblem) {
    error = `${to} is not forward compatible with ${from} (data written with it cannot be read with ${from}): ${forwardProblem}.`
  }
  return {from, to, backward: backwardProblem === undefined, forward: forwardProblem === undefined, error}
}

type Direction = 'backward' | 'forward'

/** Why `reader` cannot read data written with `writer`, or undefined when it can. */
export function resolutionProblem(reader: Type, writer: Type, direction: Direction): string | undefined {
  try {
    reader.createResolver(writer)
    return undefined
  } catch (error) {
    return explain(reader, writer, direction, '') ?? (error as Error).message
  }
}

interface RecordField {
  name: string
  type: Type
  aliases: string[]
  defaultValue(): unknown
}

function fieldsOf(type: Type): RecordField[] | undefined {
  return type.typeName === 'record' || type.typeName === 'error' ? (type as unknown as {fields: RecordField[]}).fields : undefined
}

function explain(reader: Type, writer: Type, direction: Direction, at: string): string | undefined {
  const readerFields = fieldsOf(reader)
  const writerFields = fieldsOf(writer)
  if (!readerFields || !writerFields) {
    try {
      reader.createResolver(writer)
      return undefined
    } catch (error) {
      return at ? `field "${at}" changed type: ${(error as Error).message}` : (error as Error).message
    }
  }
  if (reader.name !== writer.name && !(reader.aliases ?? []).includes(writer.name ?? '')) {
    return `the record ${at ? `at field "${at}" ` : ''}is named ${writer.name} in one and ${reader.name} in the other, with no alias`
  }
  for (const field of readerFields) {
    const fieldPath = at ? `${at}.${field.name}` : field.name
    const names = [field.name, ...(field.aliases ?? [])]
    const source = writerFields.find((w) => names.includes(w.name))
    if (!source) {
      if (field.defaultValue() === undefined) {
        return direction === 'backward'
          ? `field "${fieldPath}" was added without a default`
          : `field "${fieldPath}" was removed, and the older schema has no default for it`
      }
      continue
    }
    try {
      field.type.createResolver(source.type)
    } catch (error) {
      return explain(field.type, source.type, direction, fieldPath) ?? `field "${fieldPath}" changed type: ${(error as Error).message}`
    }
  }
  return undefined
}

function relativeMessage(message: string, dir: string): string {
  return message.split(`${dir}${path.sep}`).join('')
}
