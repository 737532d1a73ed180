import { type FormEvent, useEffect, useState } from 'react';
import { api, type Destinations } from '../api.ts';
import { useT } from '../i18n.tsx';
import { go } from '../route.ts';
import { StudySummary, useStudy } from '../study-summary.tsx';
import { ErrorNote, Field, Loading } from '../ui-parts.tsx';
import type { SendRequest } from '../../../src/exchange/outbox-routes.ts';

type Purpose = SendRequest['purpose'];

/** Send one study to a partner hospital: to whom, why, how urgent, and a reason the receiver reads. */
export function SendScreen({ studyInstanceUid }: { studyInstanceUid: string }) {
  const t = useT();
  const [destinations, setDestinations] = useState<Destinations>();
  const [to, setTo] = useState('');
  const [purpose, setPurpose] = useState<Purpose>('transfer');
  const [consentReference, setConsentReference] = useState('');
  const [urgency, setUrgency] = useState<'routine' | 'urgent'>('routine');
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();

  const study = useStudy(studyInstanceUid, setError);

  useEffect(() => {
    api<Destinations>('GET', '/api/v1/destinations').then(setDestinations, setError);
  }, []);

  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const r = await api<{ transferId: string }>('POST', '/api/v1/outbox', {
        studyInstanceUid,
        to,
        purpose,
        urgency,
        reason,
        ...(purpose === 'consultation' ? { consentReference } : {}),
      });
      go('transfer', r.transferId);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  if (error === undefined && (study === undefined || destinations === undefined)) return <Loading />;
  return (
    <section aria-labelledby="send-title">
      <h1 id="send-title">{t('sendTitle')}</h1>
      <StudySummary study={study} />
      <form className="form" onSubmit={(e) => void submit(e)}>
        <Field label={t('to')}>
          <select name="to" required value={to} onChange={(e) => setTo(e.target.value)}>
            <option value="">{t('choose')}</option>
            {destinations?.partners.map((p) => (
              <option key={p.ura} value={p.ura}>
                {p.name} (URA {p.ura})
              </option>
            ))}
          </select>
        </Field>
        <fieldset>
          <legend>{t('purpose')}</legend>
          {(
            [
              ['transfer', 'purposeTransfer'],
              ['consultation', 'purposeConsultation'],
              ['internal', 'purposeInternal'],
            ] as const
          ).map(([value, text]) => (
            <label key={value} className="choice">
              <input
                type="radio"
                name="purpose"
                value={value}
                checked={purpose === value}
                onChange={() => setPurpose(value)}
              />
              {t(text)}
            </label>
          ))}
        </fieldset>
        {purpose === 'consultation' ? (
          <Field label={t('consentReference')} hint={t('consentNeeded')}>
            <input
              name="consentReference"
              required
              value={consentReference}
              onChange={(e) => setConsentReference(e.target.value)}
            />
          </Field>
        ) : null}
        <fieldset>
          <legend>{t('urgency')}</legend>
          {(['routine', 'urgent'] as const).map((u) => (
            <label key={u} className="choice">
              <input type="radio" name="urgency" value={u} checked={urgency === u} onChange={() => setUrgency(u)} />
              {t(u)}
            </label>
          ))}
        </fieldset>
        <Field label={t('reason')} hint={t('reasonHint')}>
          <textarea
            name="reason"
            rows={3}
            maxLength={4000}
            value={reason}
            onChange={(e) => setReason(e.target.value)}
          />
        </Field>
        <ErrorNote error={error} />
        <div className="buttons">
          <button type="submit" className="primary" disabled={busy || study === null}>
            {busy ? t('sending') : t('send')}
          </button>
          <button type="button" onClick={() => go('studies')}>
            {t('cancel')}
          </button>
        </div>
      </form>
    </section>
  );
}
