import { useEffect, useState } from 'react';
import type { Role } from './api.ts';

// The screens, addressed by the part after '#': the node serves one page, and a reload or a bookmark comes back here.
export type Screen =
  | 'studies'
  | 'viewer'
  | 'send'
  | 'share'
  | 'shares'
  | 'uploads'
  | 'transfer'
  | 'transfers'
  | 'timeline'
  | 'audit'
  | 'admin'
  | 'partner';

/** Which roles see which screen: the node refuses the same things, this only keeps the menu honest. */
export const SCREENS_OF: Readonly<Record<Role, readonly Screen[]>> = {
  radiologist: ['studies', 'viewer', 'send', 'share', 'shares', 'uploads', 'transfer', 'transfers', 'timeline'],
  staff: ['studies', 'viewer', 'send', 'share', 'shares', 'uploads', 'transfer', 'transfers', 'timeline'],
  auditor: ['audit'],
  admin: ['admin'],
  partner: ['partner'],
};

export interface Route {
  screen: Screen | 'unknown' | 'home';
  /** The id after the screen name: a study UID to send, a transfer id to follow. */
  id?: string;
}

export function parseRoute(hash: string): Route {
  const [name = '', id] = hash.replace(/^#\/?/, '').split('/');
  if (name === '') return { screen: 'home' };
  const known: readonly string[] = [
    'studies',
    'viewer',
    'send',
    'share',
    'shares',
    'uploads',
    'transfer',
    'transfers',
    'timeline',
    'audit',
    'admin',
    'partner',
  ];
  if (!known.includes(name)) return { screen: 'unknown' };
  return { screen: name as Screen, ...(id !== undefined && id !== '' ? { id: decodeURIComponent(id) } : {}) };
}

export function go(screen: Screen, id?: string): void {
  location.hash = `#/${screen}${id !== undefined ? `/${encodeURIComponent(id)}` : ''}`;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const f = (): void => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', f);
    return () => removeEventListener('hashchange', f);
  }, []);
  return route;
}
