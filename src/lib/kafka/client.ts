/**
 * The one place a kafkajs client is built from kpipe's configuration: brokers, TLS, SASL,
 * bounded timeouts and retries, and kafkajs' own logging routed through kpipe's logger.
 */
import {readFileSync} from 'node:fs'
import kafkajs, {type Kafka, type KafkaConfig, type LogEntry, type RetryOptions, type SASLOptions} from 'kafkajs'

import type {KpipeConfig} from '../config.js'
import {ConfigError} from '../errors.js'

// kafkajs is CommonJS: under ESM its values come from the default export.
const {Kafka: KafkaClient, logLevel} = kafkajs

export interface KafkaClientOptions {
  /** Retry policy: short for one-shot admin commands, longer for workers. */
  retry?: RetryOptions
  /** Receives kafkajs' log lines at warn and above (all levels with debug). */
  onLog?: (entry: {level: 'error' | 'warn' | 'info' | 'debug'; namespace: string; message: string; extra: Record<string, unknown>}) => void
  debug?: boolean
}

/** Few, quick retries: a command facing dead brokers answers within a few seconds (exit 3). */
export const COMMAND_RETRY: RetryOptions = {retries: 2, initialRetryTime: 250, maxRetryTime: 1500, factor: 0.2, multiplier: 2}
/** Workers ride out broker restarts. */
export const WORKER_RETRY: RetryOptions = {retries: 10, initialRetryTime: 300, maxRetryTime: 10_000, factor: 0.2, multiplier: 2}

export function kafkaClientConfig(kafka: KpipeConfig['kafka'], options: KafkaClientOptions = {}): KafkaConfig {
  const config: KafkaConfig = {
    clientId: kafka.clientId,
    brokers: kafka.brokers,
    connectionTimeout: kafka.connectionTimeoutMs,
    requestTimeout: kafka.requestTimeoutMs,
    retry: options.retry ?? COMMAND_RETRY,
    logLevel: options.debug ? logLevel.DEBUG : logLevel.WARN,
    logCreator: () => (entry: LogEntry) => {
      const {message, ...extra} = entry.log
      const level = entry.level === logLevel.ERROR ? 'error' : entry.level === logLevel.WARN ? 'warn' : entry.level === logLevel.INFO ? 'info' : 'debug'
      options.onLog?.({level, namespace: entry.namespace, message, extra})
    },
  }
  if (kafka.ssl) {
    const tls: {ca?: Buffer[]; cert?: Buffer; key?: Buffer} = {}
    if (kafka.caFile) tls.ca = [readTlsFile(kafka.caFile, 'kafka.caFile', 'the CA file', 'KPIPE_KAFKA_CA_FILE')]
    // Mutual TLS: Node's TLS options, read once here (a key file is never logged or echoed).
    if (kafka.certFile) tls.cert = readTlsFile(kafka.certFile, 'kafka.certFile', 'the client certificate', 'KPIPE_KAFKA_CERT_FILE')
    if (kafka.keyFile) tls.key = readTlsFile(kafka.keyFile, 'kafka.keyFile', 'the client key', 'KPIPE_KAFKA_KEY_FILE')
    config.ssl = Object.keys(tls).length > 0 ? tls : true
  }
  if (kafka.sasl) config.sasl = saslOptions(kafka.sasl)
  return config
}

function readTlsFile(file: string, key: string, what: string, variable: string): Buffer {
  try {
    return readFileSync(file)
  } catch {
    throw new ConfigError(`${key}: ${what} ${file} cannot be read.`, {hint: `Check ${variable}.`})
  }
}

function saslOptions(sasl: NonNullable<KpipeConfig['kafka']['sasl']>): SASLOptions {
  const {username, password} = sasl
  switch (sasl.mechanism) {
    case 'plain':
      return {mechanism: 'plain', username, password}
    case 'scram-sha-256':
      return {mechanism: 'scram-sha-256', username, password}
    case 'scram-sha-512':
      return {mechanism: 'scram-sha-512', username, password}
  }
}

/** The principal Kafka gives kpipe, where kpipe knows it (SASL: `User:<username>`). */
export function kafkaPrincipal(kafka: KpipeConfig['kafka']): string | undefined {
  return kafka.sasl ? `User:${kafka.sasl.username}` : undefined
}

export function createKafka(kafka: KpipeConfig['kafka'], options: KafkaClientOptions = {}): Kafka {
  return new KafkaClient(kafkaClientConfig(kafka, options))
}
