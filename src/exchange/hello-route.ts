import type { HttpsApp } from '../http/index.ts';

/**
 * GET /exchange/v1/hello — a partner node checks the link and the trust in both directions: it learns which
 * organization answers and which organization this node saw in its client certificate. No patient data.
 */
export function registerHelloRoute(app: HttpsApp, us: { name: string; ura: string }): void {
  const doc = { tag: 'exchange', summary: 'Check the link: which organization answers, and which one it saw calling' };
  app.get('/exchange/v1/hello', { config: { access: 'partner', doc } }, async (req) => ({
    organization: { name: us.name, ura: us.ura },
    caller: req.partner !== undefined ? { name: req.partner.name, ura: req.partner.ura } : null,
  }));
}
