/**
 * `GET /api/presets`: the environment presets of the site (/etc/slurm-kernels/presets.json) and of
 * the user (~/.config/slurm-kernels/presets.json), for the request form.
 */
import { Router } from 'express';
import { HttpError } from '../http/errors';
import { loadPresets, PresetError } from '../presets';

export function presetsRouter(load = loadPresets): Router {
  const router = Router();
  router.get('/api/presets', async (_req, res) => {
    try {
      res.json(await load());
    } catch (err) {
      if (err instanceof PresetError) {
        throw new HttpError(500, 'bad_presets', err.message);
      }
      throw err;
    }
  });
  return router;
}
