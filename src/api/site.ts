/**
 * The site's configuration, written by the cluster's admins in /etc/slurm-kernels/site.json
 * (docs/admin.md): which partitions the form offers, defaults for requests, environment presets,
 * the idle policy, and how long a starting job may take. Shared by the companion (which reads and
 * enforces it) and the extension (which shows what the companion serves of it).
 */
import { z } from 'zod';
import { environmentSchema, transportModes } from './allocation';
import { SiteDefaults, siteDefaultsSchema } from './cluster';

export const siteConfigSchema = z
  .object({
    /** The partitions offered, in this order; the others are neither shown nor accepted. */
    partitions: z.array(z.string().min(1)).min(1).optional(),
    defaults: siteDefaultsSchema.optional(),
    /** Environment presets, beside /etc/slurm-kernels/presets.json; the user's own win. */
    presets: z.record(z.string(), environmentSchema).optional(),
    /** Cancel an allocation whose kernels have all been idle this long (minutes); 0: never. */
    idleCancelMinutes: z.number().nonnegative().optional(),
    /** Cancel an allocation whose last kernel was shut down this long ago (minutes); 0: never. */
    noKernelCancelMinutes: z.number().nonnegative().optional(),
    /** Cancel an allocation whose GPUs have all been at 0 % this long, no code running (minutes). */
    gpuIdleCancelMinutes: z.number().nonnegative().optional(),
    /**
     * The jobs' dead-man's switch: a job no companion has been in touch with for this long, and
     * none of whose kernels is busy, ends itself (minutes; 30 by default).
     */
    deadManMinutes: z.number().positive().optional(),
    /** The jobs' GPU sampler: how often it reads nvidia-smi (seconds; 5 by default). */
    gpuSampleSeconds: z.number().min(0.1).max(600).optional(),
    /**
     * How the companion reaches a job's gateway: `auto` (ssh to the node, else a relay step
     * through srun), `ssh`, or `srun` where nodes refuse SSH. SLURM_KERNELS_NODE_TRANSPORT
     * overrides it for one user.
     */
    nodeTransport: z.enum(transportModes).optional(),
    /** How long a starting job may print nothing, and take in all, before it is given up. */
    startup: z
      .object({
        silenceSeconds: z.number().positive().optional(),
        maxSeconds: z.number().positive().optional()
      })
      .strict()
      .optional()
  })
  .strict();

export type SiteConfig = z.output<typeof siteConfigSchema>;

/**
 * A request with the site's defaults where it says nothing (never where it does). The default
 * preset (`environment`) is not among them: the CLI and the form resolve it and send the
 * environment itself.
 */
export function withSiteDefaults<T extends object>(
  input: T,
  defaults: SiteDefaults | undefined
): T {
  if (!defaults) {
    return input;
  }
  const filled: Record<string, unknown> = { ...defaults };
  delete filled.environment;
  for (const [name, value] of Object.entries(input)) {
    if (value !== undefined && value !== '') {
      filled[name] = value;
    }
  }
  return filled as T;
}
