import {mkdirSync, mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'

import {checkSchemaCompatibility} from '../../../src/lib/records/schema-compat.js'
import {PACKAGE_SCHEMAS_DIR} from '../../../src/lib/records/schema-files.js'

type Field = {name: string; type: unknown; default?: unknown}
const record = (fields: Field[], name = 'Thing') => ({type: 'record', name, namespace: 'test', fields})

function schemasDir(subjects: Record<string, Record<string, unknown>>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'kpipe-compat-'))
  for (const [subject, files] of Object.entries(subjects)) {
    mkdirSync(path.join(dir, subject))
    for (const [file, schema] of Object.entries(files)) {
      writeFileSync(path.join(dir, subject, file), typeof schema === 'string' ? schema : JSON.stringify(schema))
    }
  }
  return dir
}

describe('checkSchemaCompatibility', () => {
  it('passes the schemas kept in the repository', () => {
    const result = checkSchemaCompatibility({dir: PACKAGE_SCHEMAS_DIR, transitive: true})
    expect(result.ok).toBe(true)
    expect(result.subjects).toEqual([
      {
        subject: 'event',
        versions: [1, 2],
        error: null,
        pairs: [{from: 'event/v1.avsc', to: 'event/v2.avsc', backward: true, forward: true, error: null}],
      },
    ])
  })

  it('accepts a field added with a default, both ways', () => {
    const dir = schemasDir({
      thing: {
        'v1.avsc': record([{name: 'id', type: 'string'}]),
        'v2.avsc': record([
          {name: 'id', type: 'string'},
          {name: 'tags', type: {type: 'array', items: 'string'}, default: []},
        ]),
      },
    })
    expect(checkSchemaCompatibility({dir}).ok).toBe(true)
  })

  it('fails a field added without a default (not backward), naming the pair and the field', () => {
    const dir = schemasDir({
      thing: {
        'v1.avsc': record([{name: 'id', type: 'string'}]),
        'v2.avsc': record([
          {name: 'id', type: 'string'},
          {name: 'tenant', type: 'string'},
        ]),
      },
    })
    const result = checkSchemaCompatibility({dir})
    expect(result.ok).toBe(false)
    expect(result.subjects[0]!.pairs).toEqual([
      {
        from: 'thing/v1.avsc',
        to: 'thing/v2.avsc',
        backward: false,
        forward: true,
        error: 'thing/v2.avsc is not backward compatible with thing/v1.avsc (it cannot read data written with it): field "tenant" was added without a default.',
      },
    ])
  })

  it('fails a field removed that the older schema needs (not forward)', () => {
    const dir = schemasDir({
      thing: {
        'v1.avsc': record([
          {name: 'id', type: 'string'},
          {name: 'plan', type: 'string'},
        ]),
        'v2.avsc': record([{name: 'id', type: 'string'}]),
      },
    })
    const pair = checkSchemaCompatibility({dir}).subjects[0]!.pairs[0]!
    expect(pair).toMatchObject({backward: true, forward: false})
    expect(pair.error).toBe(
      'thing/v2.avsc is not forward compatible with thing/v1.avsc (data written with it cannot be read with thing/v1.avsc): ' +
        'field "plan" was removed, and the older schema has no default for it.',
    )
  })

  it('fails a type change, naming the field', () => {
    const dir = schemasDir({
      thing: {
        'v1.avsc': record([{name: 'id', type: 'string'}]),
        'v2.avsc': record([{name: 'id', type: 'int'}]),
      },
    })
    const pair = checkSchemaCompatibility({dir}).subjects[0]!.pairs[0]!
    expect(pair).toMatchObject({backward: false, forward: false})
    expect(pair.error).toMatch(/^thing\/v2\.avsc is not backward compatible with thing\/v1\.avsc .*: field "id" changed type: .*"string".*"int"/)
  })

  it('accepts a promotion (int → long) backward but not forward', () => {
    const dir = schemasDir({
      thing: {
        'v1.avsc': record([{name: 'count', type: 'int'}]),
        'v2.avsc': record([{name: 'count', type: 'long'}]),
      },
    })
    const pair = checkSchemaCompatibility({dir}).subjects[0]!.pairs[0]!
    expect(pair).toMatchObject({backward: true, forward: false})
    expect(pair.error).toMatch(/not forward compatible .*: field "count" changed type/)
  })

  it('names a field inside a nested record by its path', () => {
    const meta = (regionType: string) => ({type: 'record', name: 'Meta', fields: [{name: 'region', type: regionType}]})
    const dir = schemasDir({
      thing: {
        'v1.avsc': record([{name: 'meta', type: meta('string')}]),
        'v2.avsc': record([{name: 'meta', type: meta('boolean')}]),
      },
    })
    expect(checkSchemaCompatibility({dir}).subjects[0]!.pairs[0]!.error).toMatch(/field "meta\.region" changed type/)
  })

  it('reports a renamed record', () => {
    const dir = schemasDir({
      thing: {
        'v1.avsc': record([{name: 'id', type: 'string'}], 'Thing'),
        'v2.avsc': record([{name: 'id', type: 'string'}], 'Other'),
      },
    })
    expect(checkSchemaCompatibility({dir}).subjects[0]!.pairs[0]!.error).toMatch(/named test\.Thing in one and test\.Other in the other/)
  })

  it('checks only consecutive pairs by default, and every pair with transitive', () => {
    const dir = schemasDir({
      thing: {
        'v1.avsc': record([{name: 'id', type: 'string'}]),
        'v2.avsc': record([
          {name: 'id', type: 'string'},
          {name: 'b', type: 'string', default: 'x'},
        ]),
        'v3.avsc': record([
          {name: 'id', type: 'string'},
          {name: 'b', type: 'string'},
        ]),
      },
    })
    const consecutive = checkSchemaCompatibility({dir})
    expect(consecutive.ok).toBe(true)
    expect(consecutive.subjects[0]!.pairs.map((p) => `${p.from}>${p.to}`)).toEqual(['thing/v1.avsc>thing/v2.avsc', 'thing/v2.avsc>thing/v3.avsc'])

    const transitive = checkSchemaCompatibility({dir, transitive: true})
    expect(transitive.ok).toBe(false)
    expect(transitive.subjects[0]!.pairs.map((p) => [`${p.from}>${p.to}`, p.backward])).toEqual([
      ['thing/v1.avsc>thing/v2.avsc', true],
      ['thing/v1.avsc>thing/v3.avsc', false],
      ['thing/v2.avsc>thing/v3.avsc', true],
    ])
  })

  it('orders versions numerically (v10 after v9)', () => {
    const files: Record<string, unknown> = {}
    for (let v = 1; v <= 10; v++) files[`v${v}.avsc`] = record([{name: 'id', type: 'string'}])
    const result = checkSchemaCompatibility({dir: schemasDir({thing: files})})
    expect(result.subjects[0]!.versions).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    expect(result.subjects[0]!.pairs.at(-1)).toMatchObject({from: 'thing/v9.avsc', to: 'thing/v10.avsc'})
  })

  it('reports a file that is not valid JSON or not a valid schema as an error of its subject', () => {
    const dir = schemasDir({
      good: {'v1.avsc': record([{name: 'id', type: 'string'}])},
      thing: {'v1.avsc': record([{name: 'id', type: 'string'}]), 'v2.avsc': '{"type": "record",'},
      worse: {'v1.avsc': {type: 'record', name: 'X', fields: [{name: 'a', type: 'strin'}]}},
    })
    const result = checkSchemaCompatibility({dir})
    expect(result.ok).toBe(false)
    expect(result.subjects.map((s) => [s.subject, s.error?.replace(/:.*/, '')])).toEqual([
      ['good', undefined],
      ['thing', 'thing/v2.avsc is not valid JSON'],
      ['worse', 'worse/v1.avsc is not a valid Avro schema'],
    ])
  })

  it('limits the check to the subjects asked for, and refuses an unknown one', () => {
    const dir = schemasDir({a: {'v1.avsc': record([])}, b: {'v1.avsc': record([])}})
    expect(checkSchemaCompatibility({dir, subjects: ['b']}).subjects.map((s) => s.subject)).toEqual(['b'])
    expect(() => checkSchemaCompatibility({dir, subjects: ['c']})).toThrow(/There is no subject c in .* \(found: a, b\)\./)
  })
})
