import { type FormEvent, useState } from 'react';
import { api, ApiError, type SessionInfo, type WorkspaceInfo } from '../api.ts';
import { useLanguage, useT } from '../i18n.tsx';
import { ErrorNote, Field, NewPasswordFields } from '../ui-parts.tsx';

/**
 * Password plus the authenticator's code, both at every sign-in (a local account), or the hospital's identity
 * provider. A failure says the same whatever was wrong, as the node does.
 */
export function SignInScreen({
  workspace,
  why,
  signedIn,
}: {
  workspace: WorkspaceInfo;
  why?: 'ended' | 'signed-out';
  signedIn: (s: SessionInfo) => void;
}) {
  const t = useT();
  const { lang, setLang } = useLanguage();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  // A partner's password that has expired: a new one goes with the same password and code.
  const [expired, setExpired] = useState(false);
  const [newPassword, setNewPassword] = useState('');
  const [repeated, setRepeated] = useState('');
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<unknown>();

  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    if (expired && newPassword !== repeated) {
      setFailure(new Error(t('passwordsDiffer')));
      return;
    }
    setBusy(true);
    setFailure(undefined);
    try {
      await api('POST', '/api/v1/session', {
        username,
        password,
        code: code.replace(/\s/g, ''),
        ...(expired ? { newPassword } : {}),
      });
      signedIn(await api<SessionInfo>('GET', '/api/v1/session'));
    } catch (err) {
      if (err instanceof ApiError && err.code === 'PASSWORD_EXPIRED') setExpired(true);
      else if (!(err instanceof ApiError && err.code === 'ACCOUNT_INVALID')) {
        setFailure(err);
        setCode('');
      } else setFailure(err);
    } finally {
      setBusy(false);
    }
  };

  const failureText =
    failure instanceof ApiError && failure.code === 'SIGN_IN_FAILED'
      ? t('signInFailed')
      : failure instanceof ApiError && failure.code === 'SIGN_IN_RATE_LIMITED'
        ? t('signInThrottled')
        : undefined;

  return (
    <main className="sign-in">
      <form onSubmit={(e) => void submit(e)} aria-labelledby="sign-in-title">
        <div className="brand">
          <img src="/favicon.svg" alt="" width={36} height={36} />
          <div>
            <h1 id="sign-in-title">Beeldbrug</h1>
            <p className="org">{workspace.organization.name}</p>
          </div>
        </div>
        {why === 'ended' ? (
          <p className="notice" role="status">
            {t('sessionEnded')}
          </p>
        ) : null}
        {why === 'signed-out' ? (
          <p className="notice" role="status">
            {t('signedOut')}
          </p>
        ) : null}
        <Field label={t('username')}>
          <input
            name="username"
            autoComplete="username"
            required
            autoFocus
            value={username}
            onChange={(e) => setUsername(e.target.value)}
          />
        </Field>
        <Field label={t('password')}>
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </Field>
        {expired ? (
          <>
            <p className="notice" role="status" data-testid="password-expired">
              {t('passwordExpired')}
            </p>
            <NewPasswordFields
              value={newPassword}
              repeated={repeated}
              autoFocus
              onChange={(v, r) => {
                setNewPassword(v);
                setRepeated(r);
              }}
            />
          </>
        ) : null}
        <Field label={t('code')}>
          <input
            name="code"
            inputMode="numeric"
            autoComplete="one-time-code"
            pattern="[0-9 ]{6,8}"
            required
            value={code}
            onChange={(e) => setCode(e.target.value)}
          />
        </Field>
        {failureText !== undefined ? (
          <p className="error" role="alert">
            {failureText}
          </p>
        ) : (
          <ErrorNote error={failure} />
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? t('signingIn') : t('signIn')}
        </button>
        {workspace.signIn.oidc ? (
          <a className="button" href="/api/v1/session/oidc">
            {t('signInOidc')}
          </a>
        ) : null}
        <button type="button" className="link" onClick={() => setLang(lang === 'nl' ? 'en' : 'nl')}>
          {t('language')}
        </button>
      </form>
    </main>
  );
}
