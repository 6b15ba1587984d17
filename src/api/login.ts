/**
 * Wire types of a login's questions (`GET /api/logins`, `POST /api/logins/:id`, and the
 * `login-question` / `login-settled` events): what the companion must ask the person while it
 * logs in to a cluster from a laptop (a host key it has never seen, a code, a password), shared
 * by the companion (which asks) and the JupyterLab extension (which shows the dialog).
 */
import { z } from 'zod';

/** A host key no known_hosts file lists: trust it (it is then saved) or not. */
export const hostKeyQuestionSchema = z.object({
  id: z.string(),
  kind: z.literal('host-key'),
  cluster: z.string(),
  host: z.string(),
  port: z.number().int(),
  keyType: z.string(),
  /** As OpenSSH prints it: "SHA256:…". */
  fingerprint: z.string()
});

/** One keyboard-interactive round: a code, a password, "press 1 for a push". */
export const promptsQuestionSchema = z.object({
  id: z.string(),
  kind: z.literal('prompts'),
  cluster: z.string(),
  name: z.string(),
  instructions: z.string(),
  prompts: z.array(z.object({ prompt: z.string(), echo: z.boolean() }))
});

export const loginQuestionSchema = z.discriminatedUnion('kind', [
  hostKeyQuestionSchema,
  promptsQuestionSchema
]);

export type LoginQuestion = z.infer<typeof loginQuestionSchema>;

/** The person's reply: to a host key, whether to trust it; to prompts, the answers in order. */
export const loginReplySchema = z.union([
  z.object({ trust: z.boolean() }).strict(),
  z.object({ answers: z.array(z.string().max(4096)) }).strict(),
  z.object({ cancel: z.literal(true) }).strict()
]);

export type LoginReply = z.infer<typeof loginReplySchema>;
