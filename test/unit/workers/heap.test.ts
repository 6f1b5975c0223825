import {describe, expect, it} from 'vitest'

import {heapFlagsToAdd} from '../../../src/lib/workers/heap.js'

describe('heapFlagsToAdd', () => {
  it('adds the worker heap limits by default: the 192 MB old space of the README', () => {
    const flags = heapFlagsToAdd([], {})
    expect(flags).toContain('--max-old-space-size=192')
    expect(flags.filter((flag) => flag.startsWith('--max-old-space-size'))).toEqual(['--max-old-space-size=192'])
  })
  it('respects heap flags the operator gave, on the command line or in NODE_OPTIONS', () => {
    expect(heapFlagsToAdd(['--max-old-space-size=1024'], {})).toEqual([])
    expect(heapFlagsToAdd([], {NODE_OPTIONS: '--enable-source-maps --max-semi-space-size=16'})).toEqual([])
    expect(heapFlagsToAdd([], {KPIPE_WORKER_HEAP: 'default'})).toEqual([])
  })
  it('does not loop after re-executing', () => {
    expect(heapFlagsToAdd([], {KPIPE_WORKER_HEAP_SET: '1'})).toEqual([])
  })
})
