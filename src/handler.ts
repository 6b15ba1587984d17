/**
 * Calls to the companion API, through Jupyter Server (jupyter-server-proxy), so Jupyter's own
 * authentication and XSRF protection apply. Every reply is validated before it is returned.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { z } from 'zod';
import {
  Allocation,
  AllocationRequestInput,
  allocationSchema,
  CancelPolicy,
  cancelPolicySchema,
  environmentSchema
} from './api/allocation';
import { Cluster, clusterSchema, errorSchema } from './api/cluster';
import {
  AddClusterInput,
  clusterListSchema,
  ClusterSummary,
  clusterSummarySchema
} from './api/clusters';
import type { LoginReply } from './api/login';
import { COMPANION_PATH } from './tokens';

/**
 * Server settings that may name one cluster of the lab: its API is under
 * `slurm-kernels/clusters/<name>/`. Without a cluster, the companion's root (its default cluster).
 */
export interface ICompanionSettings extends ServerConnection.ISettings {
  readonly companionPath?: string;
}

/** The settings of one cluster's API. */
export function clusterSettings(
  settings: ServerConnection.ISettings,
  cluster: string
): ICompanionSettings {
  return {
    ...settings,
    companionPath: URLExt.join(
      COMPANION_PATH,
      'clusters',
      encodeURIComponent(cluster)
    )
  };
}

/** The URL of `endpoint` of the companion (of the cluster the settings name, if any). */
export function companionUrl(
  settings: ServerConnection.ISettings,
  endpoint: string
): string {
  const path = (settings as ICompanionSettings).companionPath ?? COMPANION_PATH;
  return URLExt.join(settings.baseUrl, path, endpoint);
}

/**
 * A reply of the companion that is an error, or is not what the API promises.
 */
export class CompanionError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly field?: string
  ) {
    super(message);
    this.name = 'CompanionError';
  }
}

/**
 * Requests `endpoint` of the companion and validates the JSON reply against `schema`.
 *
 * #### Notes
 * Rejects with `ServerConnection.NetworkError` when Jupyter Server cannot be reached, and with a
 * `CompanionError` for an error reply (its `message` is the companion's sentence) or a reply that
 * does not match the schema.
 */
export async function requestAPI<T>(
  endpoint: string,
  schema: z.ZodType<T>,
  settings: ServerConnection.ISettings,
  init: RequestInit = {}
): Promise<T> {
  const url = companionUrl(settings, endpoint);
  const response = await ServerConnection.makeRequest(url, init, settings);
  const text = await response.text();
  const body = Private.parseJson(text);
  if (!response.ok) {
    const error = errorSchema.safeParse(body);
    if (error.success) {
      throw new CompanionError(
        error.data.message,
        response.status,
        error.data.error,
        error.data.field
      );
    }
    throw new CompanionError(
      `The cluster service answered ${response.status} ${response.statusText}`.trim(),
      response.status,
      'http_error'
    );
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    throw new CompanionError(
      'The cluster service sent a reply this version does not understand.',
      response.status,
      'bad_reply'
    );
  }
  return parsed.data;
}

/**
 * Reads partitions, nodes and free GPUs. `refresh` bypasses the companion's short cache.
 */
export function fetchCluster(
  settings: ServerConnection.ISettings,
  refresh = false
): Promise<Cluster> {
  return requestAPI(
    refresh ? 'api/cluster?refresh=1' : 'api/cluster',
    clusterSchema,
    settings
  );
}

const allocationListSchema = z.object({
  allocations: z.array(allocationSchema)
});
const presetsSchema = z.object({
  default: z.string().optional(),
  presets: z.record(z.string(), environmentSchema)
});
export type Presets = z.infer<typeof presetsSchema>;

/** The user's allocations, newest first. */
export async function fetchAllocations(
  settings: ServerConnection.ISettings
): Promise<Allocation[]> {
  return (await requestAPI('api/allocations', allocationListSchema, settings))
    .allocations;
}

/**
 * Submits a request. Rejects with a CompanionError whose `field` names the bad field (400), or
 * carrying Slurm's refusal (502).
 */
export function requestAllocation(
  input: AllocationRequestInput,
  settings: ServerConnection.ISettings
): Promise<Allocation> {
  return requestAPI(
    'api/allocations',
    allocationSchema,
    settings,
    jsonBody('POST', input)
  );
}

/** The job script the companion would submit for this request. */
export async function previewJobScript(
  input: AllocationRequestInput,
  settings: ServerConnection.ISettings
): Promise<string> {
  return (
    await requestAPI(
      'api/job-script',
      z.object({ script: z.string() }),
      settings,
      jsonBody('POST', input)
    )
  ).script;
}

export function cancelAllocation(
  id: string,
  settings: ServerConnection.ISettings
): Promise<Allocation> {
  return requestAPI(
    `api/allocations/${encodeURIComponent(id)}`,
    allocationSchema,
    settings,
    { method: 'DELETE' }
  );
}

/** Puts off the cancel the allocation's policy scheduled (no kernel, or idle). */
export function keepAllocation(
  id: string,
  settings: ServerConnection.ISettings
): Promise<Allocation> {
  return requestAPI(
    `api/allocations/${encodeURIComponent(id)}/keep`,
    allocationSchema,
    settings,
    { method: 'POST' }
  );
}

/** Sends the user's cancel policy; answers with the one in force (the site's may be stricter). */
export function putCancelPolicy(
  policy: CancelPolicy,
  settings: ServerConnection.ISettings
): Promise<CancelPolicy> {
  return requestAPI(
    'api/policy',
    cancelPolicySchema,
    settings,
    jsonBody('PUT', policy)
  );
}

export async function fetchJobLog(
  id: string,
  settings: ServerConnection.ISettings
): Promise<string> {
  return (
    await requestAPI(
      `api/allocations/${encodeURIComponent(id)}/log`,
      z.object({ log: z.string() }),
      settings
    )
  ).log;
}

/** The person's reply to a login's question (laptop mode): see api/login.ts. */
export async function replyToLogin(
  id: string,
  reply: LoginReply,
  settings: ServerConnection.ISettings
): Promise<void> {
  await requestAPI(
    `api/logins/${encodeURIComponent(id)}`,
    z.unknown(),
    settings,
    jsonBody('POST', reply)
  );
}

/** The clusters of this lab (always asked of the companion's root). */
export async function fetchClusters(
  settings: ServerConnection.ISettings
): Promise<ClusterSummary[]> {
  return (await requestAPI('api/clusters', clusterListSchema, rootOf(settings)))
    .clusters;
}

/** Adds a cluster by its ssh alias; rejects with a CompanionError whose `field` is at fault. */
export function addCluster(
  input: AddClusterInput,
  settings: ServerConnection.ISettings
): Promise<ClusterSummary> {
  return requestAPI(
    'api/clusters',
    clusterSummarySchema,
    rootOf(settings),
    jsonBody('POST', input)
  );
}

export async function removeCluster(
  name: string,
  settings: ServerConnection.ISettings
): Promise<void> {
  await requestAPI(
    `api/clusters/${encodeURIComponent(name)}`,
    z.unknown(),
    rootOf(settings),
    { method: 'DELETE' }
  );
}

function rootOf(settings: ServerConnection.ISettings): ICompanionSettings {
  return { ...settings, companionPath: COMPANION_PATH };
}

export function fetchPresets(
  settings: ServerConnection.ISettings
): Promise<Presets> {
  return requestAPI('api/presets', presetsSchema, settings);
}

function jsonBody(method: string, body: unknown): RequestInit {
  return {
    method,
    body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json' }
  };
}

namespace Private {
  export function parseJson(text: string): unknown {
    try {
      return text ? JSON.parse(text) : undefined;
    } catch {
      return undefined;
    }
  }
}
