import { useState } from 'react';
import { api } from './api.ts';
import { localTime } from './format.ts';
import { type TextKey, useLanguage, useT } from './i18n.tsx';
import { ErrorNote, Loading } from './ui-parts.tsx';
import type { AuditAction } from '../../src/audit/types.ts';
import type { AccessHistoryEntry } from '../../src/share/index.ts';

/** Each action of the audit trail as a patient would say it. */
const ACTION_TEXT: Readonly<Record<AuditAction, TextKey>> = {
  create: 'historyCreate',
  read: 'historyRead',
  query: 'historyQuery',
  retrieve: 'historyRetrieve',
  send: 'historySend',
  receive: 'historyReceive',
  'verify-failure': 'historyVerifyFailure',
  import: 'historyImport',
  share: 'historyShare',
  download: 'historyDownload',
  upload: 'historyUpload',
  export: 'historyExport',
  purge: 'historyPurge',
  login: 'historyLogin',
  'login-failure': 'historyLoginFailure',
  logout: 'historyLogout',
  'consent-check': 'historyConsentCheck',
  'configuration-change': 'historyConfigurationChange',
  'audit-read': 'historyAuditRead',
};

const KIND_TEXT: Readonly<Record<AccessHistoryEntry['kind'], TextKey>> = {
  person: 'historyPerson',
  system: 'historySystem',
  hospital: 'historyHospital',
  recipient: 'historyRecipient',
};

/**
 * Who accessed the patient's data on this node (NEN 7513), for a patient who opened a share made to them: asked for
 * on purpose (the reading is itself recorded), newest first, in plain words.
 */
export function AccessHistory() {
  const t = useT();
  const { lang } = useLanguage();
  const [entries, setEntries] = useState<AccessHistoryEntry[] | 'loading'>();
  const [error, setError] = useState<unknown>();

  const load = (): void => {
    setEntries('loading');
    api<{ entries: AccessHistoryEntry[] }>('GET', '/share/v1/access-history').then(
      (r) => setEntries(r.entries),
      (err: unknown) => {
        setEntries(undefined);
        setError(err);
      },
    );
  };

  return (
    <section aria-labelledby="history-title" className="history">
      <h2 id="history-title">{t('historyTitle')}</h2>
      <p className="muted">{t('historyHint')}</p>
      <ErrorNote error={error} />
      {entries === undefined ? (
        <button type="button" onClick={load}>
          {t('historyShow')}
        </button>
      ) : null}
      {entries === 'loading' ? <Loading /> : null}
      {Array.isArray(entries) ? (
        <table className="list" data-testid="access-history">
          <thead>
            <tr>
              <th>{t('date')}</th>
              <th>{t('historyWho')}</th>
              <th>{t('historyWhat')}</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((e, i) => (
              <tr key={`${e.time}-${i}`}>
                <td>{localTime(e.time, lang)}</td>
                <td>
                  {e.who}
                  <div className="muted">
                    {t(KIND_TEXT[e.kind])}
                    {e.organization !== null ? `, ${e.organization}` : ''}
                  </div>
                </td>
                <td>
                  {t(ACTION_TEXT[e.action])}
                  {e.outcome === 'failure' ? <span className="badge share-revoked">{t('historyRefused')}</span> : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
