import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { api, type SessionInfo, type WorkspaceInfo } from '../api.ts';
import { localTime, personName } from '../format.ts';
import { useLanguage, useT } from '../i18n.tsx';
import { ShareStudyLines } from '../study-summary.tsx';
import { ErrorNote, Field, ListTable, NewPasswordFields } from '../ui-parts.tsx';
import { UploadFiles } from '../upload-files.tsx';
import type { SshKey } from '../../../src/auth/index.ts';
import type { PartnerShare } from '../../../src/share/index.ts';
import { partnerViewRoot } from '../../../src/share/view-roots.ts';
import { SharedViewer } from '../viewer/shared-viewer.tsx';

/** Days before a partner's password expires that the page warns. */
const WARN_DAYS = 14;

/**
 * A partner organization's own page: the shares made to it (its download folder), what it sends to the hospital (its
 * upload folder, into quarantine), and how to reach both over SFTP, with its SSH keys and its password.
 */
export function PartnerScreen({ session, workspace }: { session: SessionInfo; workspace: WorkspaceInfo }) {
  const t = useT();
  const organization = session.user.organization ?? '';
  const expiresAt = session.user.passwordExpiresAt;
  const daysLeft = expiresAt !== undefined ? Math.ceil((Date.parse(expiresAt) - Date.now()) / 86_400_000) : undefined;
  return (
    <section aria-labelledby="partner-title" className="partner">
      <h1 id="partner-title">{t('partnerTitle', { organization })}</h1>
      <p className="muted">{t('partnerHint', { hospital: workspace.organization.name })}</p>
      {daysLeft !== undefined && daysLeft <= WARN_DAYS ? (
        <p className="warning" role="alert" data-testid="password-warning">
          {t('passwordExpiresSoon', { days: String(Math.max(0, daysLeft)) })}
        </p>
      ) : null}
      <DownloadFolder />
      <h2>{t('partnerUpload')}</h2>
      <UploadFiles hospital={workspace.organization.name} heading={false} endpoint="/partner/v1/uploads" />
      {workspace.sftp !== undefined ? <SftpAccess username={session.user.username} sftp={workspace.sftp} /> : null}
      <ChangePassword open={daysLeft !== undefined && daysLeft <= WARN_DAYS} />
    </section>
  );
}

function DownloadFolder() {
  const t = useT();
  const { lang } = useLanguage();
  const [shares, setShares] = useState<PartnerShare[]>();
  const [error, setError] = useState<unknown>();
  const [viewing, setViewing] = useState<{ shareId: string; studyInstanceUid: string }>();
  useEffect(() => {
    api<{ shares: PartnerShare[] }>('GET', '/partner/v1/shares').then((r) => setShares(r.shares), setError);
  }, []);
  if (viewing !== undefined)
    return (
      <SharedViewer
        root={partnerViewRoot(viewing.shareId)}
        studyInstanceUid={viewing.studyInstanceUid}
        onClose={() => setViewing(undefined)}
      />
    );
  return (
    <>
      <h2>{t('partnerDownload')}</h2>
      <ErrorNote error={error} />
      <ListTable
        rows={shares}
        loading={error === undefined}
        empty={t('partnerNoShares')}
        testId="partner-shares"
        headers={[t('sharedOn'), t('patient'), t('navStudies'), t('validUntil'), undefined]}
      >
        {(s) => (
          <tr key={s.shareId}>
            <td>{localTime(s.createdAt, lang)}</td>
            <td>{s.deidentified ? <span className="badge">{t('deidentified')}</span> : personName(s.patientName)}</td>
            <td>
              <ShareStudyLines
                studies={s.studies}
                onView={(studyInstanceUid) => setViewing({ shareId: s.shareId, studyInstanceUid })}
              />
            </td>
            <td>{localTime(s.expiresAt, lang)}</td>
            <td className="actions">
              <a className="button primary" href={`/partner/v1/shares/${s.shareId}/zip`} download={s.fileName}>
                {t('downloadZip')}
              </a>
            </td>
          </tr>
        )}
      </ListTable>
    </>
  );
}

function SftpAccess({ username, sftp }: { username: string; sftp: NonNullable<WorkspaceInfo['sftp']> }) {
  const t = useT();
  const { lang } = useLanguage();
  const [keys, setKeys] = useState<SshKey[]>();
  const [publicKey, setPublicKey] = useState('');
  const [error, setError] = useState<unknown>();
  const load = useCallback(() => {
    api<{ keys: SshKey[] }>('GET', '/api/v1/session/ssh-keys').then((r) => setKeys(r.keys), setError);
  }, []);
  useEffect(load, [load]);
  const add = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setError(undefined);
    try {
      await api('POST', '/api/v1/session/ssh-keys', { publicKey });
      setPublicKey('');
      load();
    } catch (err) {
      setError(err);
    }
  };
  const remove = async (fingerprint: string): Promise<void> => {
    setError(undefined);
    await api('POST', '/api/v1/session/ssh-keys/remove', { fingerprint }).then(load, setError);
  };
  return (
    <>
      <h2>{t('sftpTitle')}</h2>
      <p className="muted">{t('sftpHint')}</p>
      <pre className="command" data-testid="sftp-command">
        sftp -P {sftp.port} {username}@{location.hostname}
      </pre>
      <p className="muted">
        {t('sftpHostKey')}: <code>{sftp.hostKeyFingerprint}</code>
      </p>
      <ErrorNote error={error} />
      {keys !== undefined && keys.length > 0 ? (
        <table className="list" data-testid="ssh-keys">
          <tbody>
            {keys.map((k) => (
              <tr key={k.fingerprint}>
                <td>
                  <code>{k.fingerprint}</code>
                  <div className="muted">
                    {k.type} {k.comment}
                  </div>
                </td>
                <td>{localTime(k.addedAt, lang)}</td>
                <td className="actions">
                  <button type="button" onClick={() => void remove(k.fingerprint)}>
                    {t('remove')}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <form className="form" onSubmit={(e) => void add(e)}>
        <Field label={t('sshKeyAdd')} hint={t('sshKeyHint')}>
          <textarea
            name="publicKey"
            rows={3}
            required
            placeholder="ssh-ed25519 AAAA… naam@computer"
            value={publicKey}
            onChange={(e) => setPublicKey(e.target.value)}
          />
        </Field>
        <div className="buttons">
          <button type="submit">{t('sshKeyRegister')}</button>
        </div>
      </form>
    </>
  );
}

function ChangePassword({ open }: { open: boolean }) {
  const t = useT();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [repeated, setRepeated] = useState('');
  const [error, setError] = useState<unknown>();
  const [done, setDone] = useState(false);
  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setError(undefined);
    setDone(false);
    if (next !== repeated) return setError(new Error(t('passwordsDiffer')));
    try {
      await api('POST', '/api/v1/session/password', { currentPassword: current, newPassword: next });
      setCurrent('');
      setNext('');
      setRepeated('');
      setDone(true);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <details open={open} className="change-password">
      <summary>{t('changePassword')}</summary>
      <form className="form" onSubmit={(e) => void submit(e)}>
        <Field label={t('currentPassword')}>
          <input
            type="password"
            autoComplete="current-password"
            required
            value={current}
            onChange={(e) => setCurrent(e.target.value)}
          />
        </Field>
        <NewPasswordFields
          value={next}
          repeated={repeated}
          onChange={(v, r) => {
            setNext(v);
            setRepeated(r);
          }}
        />
        <ErrorNote error={error} />
        {done ? <p role="status">{t('passwordChanged')}</p> : null}
        <div className="buttons">
          <button type="submit" className="primary">
            {t('changePassword')}
          </button>
        </div>
      </form>
    </details>
  );
}
