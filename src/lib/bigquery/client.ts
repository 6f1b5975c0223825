/**
 * The one place a BigQuery client is made (@google-cloud/bigquery), from the resolved
 * configuration: project, endpoint, and how it authenticates.
 */
import {BigQuery, type BigQueryOptions} from '@google-cloud/bigquery'
import {PassThroughClient} from 'google-auth-library'

import type {KpipeConfig} from '../config.js'
import {checkDataset, checkProject} from './names.js'

export interface BigQueryClientOptions {
  /**
   * The client's per-request timeout. On Node it has no effect today (the client hands it to
   * node-fetch 3, which dropped the option: googleapis/google-cloud-node#7998); callers that must
   * not hang bound their calls themselves (the analytics sink does).
   */
  timeoutMs?: number
  /**
   * The client's own retries. The worker turns them off: the engine retries with backoff while
   * holding the partition and counts each failure, and a hidden retry would delay the sink's
   * own handling of a refused row.
   */
  autoRetry?: boolean
}

/**
 * A plain-http endpoint is an emulator (no Google endpoint speaks http, and a token would travel
 * in clear text): it gets no credentials, so the client does not go looking for Google's (a
 * second of probing the GCE metadata server and a MetadataLookupWarning on stderr). Any https
 * endpoint, and Google's default one, authenticate with Application Default Credentials.
 */
export function isEmulatorEndpoint(endpoint: string | undefined): boolean {
  return endpoint !== undefined && /^http:\/\//i.test(endpoint)
}

export function createBigQuery(config: KpipeConfig['bigquery'], options: BigQueryClientOptions = {}): BigQuery {
  checkProject(config.project)
  checkDataset(config.dataset)
  const clientOptions: BigQueryOptions & {timeout?: number} = {
    projectId: config.project,
    retryOptions: {autoRetry: options.autoRetry ?? true},
    timeout: options.timeoutMs ?? 60_000,
  }
  if (config.endpoint) clientOptions.apiEndpoint = config.endpoint.replace(/\/+$/, '')
  if (isEmulatorEndpoint(config.endpoint)) clientOptions.authClient = new PassThroughClient()
  return new BigQuery(clientOptions)
}
