import { Router } from 'express';
import type { AppConfig } from '../config.js';

/** The privacy notice: what we store, why, and how to reach us about it. Same for every reader. */
export function createPrivacyRoutes(config: AppConfig): Router {
  const router = Router();
  router.get('/privacy', (_req, res) => {
    res.set('Cache-Control', 'public, max-age=300');
    res.render('consent/privacy', {
      title: 'Privacy and cookies',
      policyVersion: config.consent.policyVersion,
      categories: config.consent.categories,
    });
  });
  return router;
}
