/**
 * The in-repository schema registry for event records: every `schemas/event/v<N>.avsc`, indexed
 * by the CRC-64-AVRO fingerprint that single-object encoding puts in front of each record. The
 * newest version is the reader schema; a resolver from each older (or, for a reader built from
 * fewer files, newer) writer schema into it is built once, here, never per record.
 */
import type {Type} from 'avsc'

import {rabinFingerprint} from './rabin.js'
import {PACKAGE_SCHEMAS_DIR, readSubject, SchemaFileError, type SchemaFile} from './schema-files.js'

// avsc's typings declare Resolver without exporting it.
type Resolver = ReturnType<Type['createResolver']>

export interface EventSchemaVersion {
  version: number
  file: string
  type: Type
  canonical: string
  /** CRC-64-AVRO of the canonical form, 8 bytes little-endian, as written in the record header. */
  fingerprint: Buffer
  /** Reads this writer's bytes as the reader schema; undefined for the reader schema itself. */
  resolver: Resolver | undefined
  // The fingerprint as two 32-bit halves, compared without allocating.
  readonly fingerprintLow: number
  readonly fingerprintHigh: number
}

export const EVENT_SUBJECT = 'event'

export class EventSchemaStore {
  /** Oldest first. */
  readonly versions: readonly EventSchemaVersion[]
  /** The newest version: what records are read as, and written with by default. */
  readonly reader: EventSchemaVersion

  constructor(files: readonly SchemaFile[], options: {readerVersion?: number} = {}) {
    if (files.length === 0) throw new SchemaFileError('', 'No event schema (schemas/event/v<N>.avsc) was found.')
    const sorted = [...files].sort((a, b) => a.version - b.version)
    const readerFile = options.readerVersion === undefined ? sorted.at(-1)! : sorted.find((f) => f.version === options.readerVersion)
    if (!readerFile) throw new SchemaFileError('', `There is no event schema version ${options.readerVersion}.`)
    this.versions = sorted.map((file) => {
      const fingerprint = rabinFingerprint(file.canonical)
      let resolver: Resolver | undefined
      if (file !== readerFile) {
        try {
          resolver = readerFile.type.createResolver(file.type)
        } catch (error) {
          throw new SchemaFileError(
            file.file,
            `The newest event schema (${readerFile.file}) cannot read data written with ${file.file}: ${(error as Error).message}.`,
          )
        }
      }
      return {
        version: file.version,
        file: file.file,
        type: file.type,
        canonical: file.canonical,
        fingerprint,
        resolver,
        fingerprintLow: fingerprint.readUInt32LE(0),
        fingerprintHigh: fingerprint.readUInt32LE(4),
      }
    })
    this.reader = this.versions.find((v) => v.version === readerFile.version)!
  }

  /** Loads `<dir>/event/v*.avsc`; the package's own schemas by default. */
  static load(dir: string = PACKAGE_SCHEMAS_DIR, options: {readerVersion?: number} = {}): EventSchemaStore {
    return new EventSchemaStore(readSubject(dir, EVENT_SUBJECT), options)
  }

  /** The schema version to write with; the newest by default. */
  writer(version?: number): EventSchemaVersion {
    if (version === undefined) return this.versions.at(-1)!
    const found = this.versions.find((v) => v.version === version)
    if (!found) throw new SchemaFileError('', `There is no event schema version ${version}; known: ${this.versions.map((v) => v.version).join(', ')}.`)
    return found
  }

  /** The writer schema whose fingerprint sits at `offset` of `buf` (8 bytes), if known. */
  find(buf: Buffer, offset: number): EventSchemaVersion | undefined {
    const low = buf.readUInt32LE(offset)
    const high = buf.readUInt32LE(offset + 4)
    for (const version of this.versions) {
      if (version.fingerprintLow === low && version.fingerprintHigh === high) return version
    }
    return undefined
  }
}

let packageStore: EventSchemaStore | undefined

/**
 * The package's event schemas, loaded once. Call it at start-up to fail early: it throws
 * SchemaFileError if a schema file is broken or an old version cannot be read by the newest.
 */
export function defaultEventSchemas(): EventSchemaStore {
  packageStore ??= EventSchemaStore.load()
  return packageStore
}
