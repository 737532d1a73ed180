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

/**
 * A new password, typed twice (the caller compares the two before sending): at sign-in once the old one expired, and
 * when a person changes theirs.
 */
export function NewPasswordFields({
  value,
  repeated,
  onChange,
  autoFocus = false,
}: {
  value: string;
  repeated: string;
  onChange: (value: string, repeated: string) => void;
  autoFocus?: boolean;
}) {
  const t = useT();
  return (
    <>
      <Field label={t('newPassword')} hint={t('newPasswordHint')}>
        <input
          name="newPassword"
          type="password"
          autoComplete="new-password"
          required
          autoFocus={autoFocus}
          value={value}
          onChange={(e) => onChange(e.target.value, repeated)}
        />
      </Field>
      <Field label={t('repeatPassword')}>
        <input
          name="repeatPassword"
          type="password"
          autoComplete="new-password"
          required
          value={repeated}
          onChange={(e) => onChange(value, e.target.value)}
        />
      </Field>
    </>
  );
}

/**
 * A list as every screen shows one: loading until the rows come, a sentence when there are none, else a table with
 * these column headers (an empty one for a column of buttons) and a row per item.
 */
export function ListTable<T>(p: {
  rows: readonly T[] | undefined;
  /** Shown while the rows have not come (and nothing went wrong). */
  loading: boolean;
  empty: ReactNode;
  testId: string;
  headers: readonly (string | undefined)[];
  children: (row: T) => ReactNode;
}) {
  if (p.rows === undefined) return p.loading ? <Loading /> : null;
  if (p.rows.length === 0) return <Empty>{p.empty}</Empty>;
  return (
    <table className="list" data-testid={p.testId}>
      <thead>
        <tr>
          {p.headers.map((h, i) => (
            <th key={i}>{h}</th>
          ))}
        </tr>
      </thead>
      <tbody>{p.rows.map(p.children)}</tbody>
    </table>
  );
}
