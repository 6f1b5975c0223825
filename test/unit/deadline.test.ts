import {describe, expect, it} from 'vitest'

import {Deadline, settlesWithin} from '../../src/lib/deadline.js'

describe('settlesWithin', () => {
  it('is true for a promise that settles in time and false for one that does not', async () => {
    expect(await settlesWithin(Promise.resolve(1), 50)).toBe(true)
    expect(await settlesWithin(new Promise(() => undefined), 20)).toBe(false)
  })

  it('rethrows a rejection that came in time', async () => {
    await expect(settlesWithin(Promise.reject(new Error('boom')), 50)).rejects.toThrow('boom')
  })
})

describe('Deadline', () => {
  it('counts down and never below zero', () => {
    const deadline = new Deadline(1000, 10_000)
    expect(deadline.left(10_250)).toBe(750)
    expect(deadline.left(12_000)).toBe(0)
  })

  it('bounds a step that hangs, and every step after the deadline is skipped', async () => {
    const deadline = new Deadline(30)
    expect(await deadline.bound(() => new Promise(() => undefined))).toBe(false)
    let ran = false
    expect(
      await deadline.bound(async () => {
        ran = true
      }),
    ).toBe(false)
    expect(ran).toBe(false)
  })

  it('counts a failed step as finished', async () => {
    expect(await new Deadline(1000).bound(() => Promise.reject(new Error('x')))).toBe(true)
  })
})
