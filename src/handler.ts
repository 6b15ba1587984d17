/**
 * Calls to the companion API, through Jupyter Server (jupyter-server-proxy), so Jupyter's own
 * authentication and XSRF protection apply. Every reply is validated before it is returned.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import type { z } from 'zod';
import { Cluster, clusterSchema, errorSchema } from './api/cluster';
import { COMPANION_PATH } from './tokens';

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
  const url = URLExt.join(settings.baseUrl, COMPANION_PATH, endpoint);
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

namespace Private {
  export function parseJson(text: string): unknown {
    try {
      return text ? JSON.parse(text) : undefined;
    } catch {
      return undefined;
    }
  }
}
