/**
 * Wire types of `GET /api/cluster`, shared by the companion (which builds the reply) and the
 * JupyterLab extension (which validates it before use).
 */
import { z } from 'zod';

export const gresSchema = z.object({
  name: z.string(),
  type: z.string().nullable(),
  count: z.number().int().nonnegative()
});

export const nodeSchema = z.object({
  name: z.string(),
  state: z.string(),
  partitions: z.array(z.string()),
  cpus: z.object({
    allocated: z.number().int(),
    idle: z.number().int(),
    total: z.number().int()
  }),
  memoryMb: z.number().int().nullable(),
  gres: z.array(gresSchema),
  gresUsed: z.array(gresSchema)
});

export const gpuTypeSchema = z.object({
  type: z.string().nullable(),
  total: z.number().int(),
  free: z.number().int(),
  /** The most of this type any single node of the partition has: a job can ask for at most this. */
  maxPerNode: z.number().int()
});

export const partitionSchema = z.object({
  name: z.string(),
  isDefault: z.boolean(),
  state: z.string(),
  /** Minutes; null when unlimited. */
  maxTimeMinutes: z.number().int().nullable(),
  defaultTimeMinutes: z.number().int().nullable(),
  nodes: z.array(z.string()),
  totalCpus: z.number().int(),
  gpus: z.object({
    total: z.number().int(),
    free: z.number().int(),
    types: z.array(gpuTypeSchema)
  })
});

/** Request fields a site may default; `environment` names a preset. */
export const siteDefaultsSchema = z
  .object({
    partition: z.string().optional(),
    gres: z.string().optional(),
    time: z.string().optional(),
    cpus: z.number().int().positive().optional(),
    memory: z.string().optional(),
    account: z.string().optional(),
    qos: z.string().optional(),
    environment: z.string().optional()
  })
  .strict();

/** What the companion serves of the site's configuration in GET /api/cluster. */
export const sitePolicySchema = z.object({
  partitions: z.array(z.string()).nullable(),
  defaults: siteDefaultsSchema,
  /** The site's cancel limits (minutes); the companion applies them where they are stricter. */
  idleCancelMinutes: z.number().nonnegative().nullable(),
  noKernelCancelMinutes: z.number().nonnegative().nullable().optional(),
  gpuIdleCancelMinutes: z.number().nonnegative().nullable().optional()
});

export type SitePolicy = z.infer<typeof sitePolicySchema>;

export const clusterSchema = z.object({
  partitions: z.array(partitionSchema),
  nodes: z.array(nodeSchema),
  /** The user's accounts and QOS where Slurm has accounting; empty where it has none. */
  accounts: z.array(z.string()),
  qos: z.array(z.string()),
  /** ISO time of the Slurm reads this reply comes from. */
  fetchedAt: z.string(),
  /** What the site's admins configured (docs/admin.md); absent from older companions. */
  site: sitePolicySchema.optional()
});

export type Gres = z.infer<typeof gresSchema>;
export type ClusterNode = z.infer<typeof nodeSchema>;
export type GpuType = z.infer<typeof gpuTypeSchema>;
export type Partition = z.infer<typeof partitionSchema>;
export type Cluster = z.infer<typeof clusterSchema>;
export type SiteDefaults = z.infer<typeof siteDefaultsSchema>;

/** The body of every error reply: a machine-readable code, a sentence for people, the field at fault. */
export const errorSchema = z.object({
  error: z.string(),
  message: z.string(),
  field: z.string().optional()
});

export type ApiError = z.infer<typeof errorSchema>;
