import {defineConfig} from 'vitest/config'

// Unit tests are pure and fast; integration and e2e tests talk to the real local stack
// (./scripts/stack up) and run one file at a time so they do not fight over topics. Their
// global set-up checks the stack and readies what every test of them shares (see the file).
// kafkajs 2.2.4 arms a timer with a negative delay when idle, which Node >= 23 reports on every
// test process (bin/run.js filters the same warning for the CLI); keep every other warning.
const quietKafkajs = ['--disable-warning=TimeoutNegativeWarning']

export default defineConfig({
  test: {
    projects: [
      {test: {name: 'unit', include: ['test/unit/**/*.test.{ts,tsx}']}},
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/helpers/stack-setup.ts'],
          execArgv: quietKafkajs,
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/helpers/stack-setup.ts'],
          execArgv: quietKafkajs,
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
})
