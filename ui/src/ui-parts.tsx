import type { ReactNode } from 'react';
import { ApiError } from './api.ts';
import { useT } from './i18n.tsx';

/** A failure as staff read it: what the node said, with its code for the service desk. */
export function ErrorNote({ error }: { error: unknown }) {
  const t = useT();
  if (error === undefined || error === null) return null;
  const text =
    error instanceof ApiError
      ? error.code === 'NODE_UNREACHABLE'
        ? t('unreachable')
        : `${error.detail} (${error.code})`
      : error instanceof Error
        ? error.message
        : 'unknown error';
  return (
    <p className="error" role="alert">
      {t('errorPrefix')}: {text}
    </p>
  );
}

export function Loading() {
  const t = useT();
  return (
    <p className="muted" role="status" aria-live="polite">
      {t('loading')}
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

export function Field({ label, children, hint }: { label: string; children: ReactNode; hint?: string }) {
  return (
    <label className="field">
      <span>{label}</span>
      {children}
      {hint !== undefined ? <small className="muted">{hint}</small> : null}
    </label>
  );
}
