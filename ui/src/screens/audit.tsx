import { type FormEvent, useState } from 'react';
import { AUDIT_ACTIONS, type AuditRecord } from '../../../src/audit/types.ts';
import { api, type AuditChainView } from '../api.ts';
import { localTime } from '../format.ts';
import { useLanguage, useT } from '../i18n.tsx';
import { Empty, ErrorNote, Field, Loading } from '../ui-parts.tsx';

/** The auditor's view of the trail (NEN 7513): filter by patient, person, action and time; each reading is recorded. */
export function AuditScreen() {
  const t = useT();
  const { lang } = useLanguage();
  const [bsn, setBsn] = useState('');
  const [user, setUser] = useState('');
  const [action, setAction] = useState('');
  const [since, setSince] = useState('');
  const [until, setUntil] = useState('');
  const [records, setRecords] = useState<AuditRecord[]>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [chain, setChain] = useState<AuditChainView>();
  const [verifying, setVerifying] = useState(false);

  const verify = async (): Promise<void> => {
    setVerifying(true);
    setChain(undefined);
    setError(undefined);
    try {
      setChain(await api<AuditChainView>('GET', '/api/v1/audit/verification'));
    } catch (err) {
      setError(err);
    } finally {
      setVerifying(false);
    }
  };

  const submit = async (e?: FormEvent): Promise<void> => {
    e?.preventDefault();
    const q = new URLSearchParams({ limit: '500' });
    if (bsn.trim() !== '') q.set('bsn', bsn.trim());
    if (user.trim() !== '') q.set('user', user.trim());
    if (action !== '') q.set('action', action);
    if (since !== '') q.set('since', new Date(since).toISOString());
    if (until !== '') q.set('until', new Date(until).toISOString());
    setBusy(true);
    setError(undefined);
    try {
      const r = await api<{ records: AuditRecord[] }>('GET', `/api/v1/audit?${q.toString()}`);
      setRecords(r.records.reverse());
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">{t('auditTitle')}</h1>
      <p className="muted">{t('auditHint')}</p>
      <form className="search" onSubmit={(e) => void submit(e)} role="search">
        <Field label={t('bsn')}>
          <input name="bsn" inputMode="numeric" maxLength={9} value={bsn} onChange={(e) => setBsn(e.target.value)} />
        </Field>
        <Field label={t('user')}>
          <input name="user" value={user} onChange={(e) => setUser(e.target.value)} />
        </Field>
        <Field label={t('action')}>
          <select name="action" value={action} onChange={(e) => setAction(e.target.value)}>
            <option value="">{t('any')}</option>
            {AUDIT_ACTIONS.map((a) => (
              <option key={a}>{a}</option>
            ))}
          </select>
        </Field>
        <Field label={t('since')}>
          <input name="since" type="datetime-local" value={since} onChange={(e) => setSince(e.target.value)} />
        </Field>
        <Field label={t('until')}>
          <input name="until" type="datetime-local" value={until} onChange={(e) => setUntil(e.target.value)} />
        </Field>
        <button type="submit" className="primary" disabled={busy}>
          {t('search')}
        </button>
        <button type="button" onClick={() => void verify()} disabled={verifying}>
          {t('verifyChain')}
        </button>
      </form>
      {verifying ? <Loading /> : null}
      {chain?.intact === true ? (
        <p className="notice" role="status" data-testid="chain">
          {t('chainIntact', { records: chain.records })}
        </p>
      ) : null}
      {chain?.intact === false ? (
        <p className="error" role="alert" data-testid="chain">
          {t('chainBroken', { sequence: chain.firstBadSequence, problem: chain.problem })}
        </p>
      ) : null}
      <ErrorNote error={error} />
      {busy ? <Loading /> : null}
      {records?.length === 0 ? <Empty>{t('noRecords')}</Empty> : null}
      {records !== undefined && records.length > 0 ? (
        <table className="list audit" data-testid="audit">
          <thead>
            <tr>
              <th>#</th>
              <th>{t('time')}</th>
              <th>{t('action')}</th>
              <th>{t('outcome')}</th>
              <th>{t('user')}</th>
              <th>{t('patient')}</th>
              <th>{t('description')}</th>
              <th>{t('grounds')}</th>
              <th>{t('where')}</th>
            </tr>
          </thead>
          <tbody>
            {records.map((r) => (
              <tr key={r.sequence} className={r.outcome === 'failure' ? 'failure' : undefined}>
                <td className="number">{r.sequence}</td>
                <td>{localTime(r.time, lang)}</td>
                <td>{r.action}</td>
                <td>{r.outcome}</td>
                <td>
                  {r.user.name}
                  {r.responsibleUser !== undefined ? ` (${r.responsibleUser.name})` : ''}
                </td>
                <td>{r.patient?.bsn ?? r.patient?.patientId ?? ''}</td>
                <td>{r.description}</td>
                <td>{[r.grounds.purpose, r.grounds.authorization].filter(Boolean).join(' · ')}</td>
                <td>{[r.accessPoint.node, r.accessPoint.ip, r.accessPoint.aeTitle].filter(Boolean).join(' · ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
