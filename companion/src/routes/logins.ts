/**
 * Logins API: the questions a login to a cluster is waiting on (a new host key, a code), and the
 * person's replies from the lab. Announced as `login-question` / `login-settled` events
 * (routes/allocations.ts, /api/events).
 */
import { Router } from 'express';
import { loginReplySchema } from '../../../src/api/login';
import { HttpError } from '../http/errors';
import type { LoginQuestions } from '../login/questions';

export function loginsRouter(questions: LoginQuestions): Router {
  const router = Router();
  router.get('/api/logins', (_req, res) => {
    res.json({ questions: questions.pending });
  });
  router.post('/api/logins/:id', (req, res) => {
    const parsed = loginReplySchema.safeParse(req.body ?? {});
    if (!parsed.success) {
      throw new HttpError(
        400,
        'invalid_reply',
        'a reply is {"trust": true|false}, {"answers": [...]} or {"cancel": true}'
      );
    }
    questions.reply(req.params.id, parsed.data);
    res.status(204).end();
  });
  return router;
}
