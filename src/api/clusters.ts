/**
 * Wire types of the clusters one lab drives (`GET/POST /api/clusters`, `DELETE /api/clusters/:name`),
 * shared by the companion (which logs in to them and keeps the list) and the JupyterLab extension
 * (which adds them, and shows each one's partitions, allocations and kernels under its name).
 *
 * The companion on a login node serves its own Slurm as the cluster named `local`; a lab on a
 * laptop adds clusters by their ssh config alias (or `user@host`), each reached over one login.
 * Each cluster's API is under `clusters/<name>/`; the default cluster's also at the root.
 */
import { z } from 'zod';

/** The login node's own Slurm, in the login-node deployment. */
export const LOCAL_CLUSTER = 'local';

/**
 * A cluster's name: in kernelspec names, paths and the picker, so short and plain; lower case, as
 * Jupyter lowercases kernelspec names (a name with capitals would not be found again).
 */
export const clusterNameSchema = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9_.-]{0,39}$/,
    'a name is up to 40 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit'
  );

/**
 * What `ssh -G` is given: an alias of the user's ssh config, or [user@]host[:port] spelled as ssh
 * takes it. Never starts with "-", so it cannot be read as one of ssh's options.
 */
export const clusterAliasSchema = z
  .string()
  .trim()
  .min(1, 'give an ssh config alias or user@host')
  .max(255)
  .regex(
    /^[A-Za-z0-9_.@%+:[\]][A-Za-z0-9_.@%+:[\]-]*$/,
    'an ssh config alias or user@host: letters, digits and . _ - @ % + : [ ], not starting with -'
  );

/** The person's request to add a cluster. */
export const addClusterSchema = z
  .object({
    alias: clusterAliasSchema,
    /** Defaults to the alias's host part. */
    name: clusterNameSchema.optional()
  })
  .strict();

export type AddClusterInput = z.input<typeof addClusterSchema>;

/** A cluster as the companion keeps it (~/.config/slurm-kernels/clusters.json). */
export const clusterEntrySchema = z
  .object({
    name: clusterNameSchema,
    alias: clusterAliasSchema,
    /**
     * Where on the cluster its records live (default ~/.local/state/slurm-kernels there, where a
     * companion on its login node keeps them too): two aliases of one cluster kept apart.
     */
    stateDir: z.string().startsWith('/').optional()
  })
  .strict();

export type ClusterEntry = z.infer<typeof clusterEntrySchema>;

/** One cluster of the lab, as listed. */
export const clusterSummarySchema = z.object({
  name: clusterNameSchema,
  /** The ssh alias it is reached by; null for the local one. */
  alias: z.string().nullable(),
  local: z.boolean(),
  /** The one served at the API's root too (the CLI's, and older labs'). */
  default: z.boolean(),
  /** The login's state (laptop mode): "up", "asking", "connecting", "down"…; "local" for local. */
  login: z.string()
});

export type ClusterSummary = z.infer<typeof clusterSummarySchema>;

export const clusterListSchema = z.object({
  clusters: z.array(clusterSummarySchema)
});

/** The name a cluster gets from its alias: "alice@Login.HPC.example.org" → "login.hpc.example.org". */
export function clusterNameFor(alias: string): string {
  const host = alias.slice(alias.lastIndexOf('@') + 1).replace(/^\[|\]$/g, '');
  const plain = host
    .toLowerCase()
    .replace(/[^a-z0-9_.-]/g, '-')
    .replace(/^[^a-z0-9]+/, '');
  return (plain || 'cluster').slice(0, 40);
}
