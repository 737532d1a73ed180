import type { Purpose } from './manifest.ts';

/** One routing rule of `exchange.routing`; the first that matches a transfer decides. */
export interface RoutingRule {
  from?: string | undefined;
  purpose?: Purpose | undefined;
  action: 'forward' | 'hold';
  /** The AE title of the local PACS (a DIMSE peer with a port) for `forward`. */
  destination?: string | undefined;
}

export type Route = { action: 'hold' } | { action: 'forward'; destination: string };

/**
 * Where arriving instances of a transfer go: straight into the local PACS as they arrive (so the first images are
 * usable within seconds), or held until a user accepts them. No matching rule means hold: nothing reaches the PACS
 * that an administrator did not route there.
 */
export function routeFor(rules: readonly RoutingRule[], transfer: { senderUra: string; purpose: Purpose }): Route {
  const rule = rules.find(
    (r) =>
      (r.from === undefined || r.from === transfer.senderUra) &&
      (r.purpose === undefined || r.purpose === transfer.purpose),
  );
  if (rule === undefined || rule.action === 'hold' || rule.destination === undefined) return { action: 'hold' };
  return { action: 'forward', destination: rule.destination };
}
