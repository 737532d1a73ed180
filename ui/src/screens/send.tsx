import { type FormEvent, useEffect, useState } from 'react';
import { api, type Destinations } from '../api.ts';
import { type DicomJson, num, str, strs, TAG } from '../dicom-json.ts';
import { dicomDate, personName } from '../format.ts';
import { useLanguage, useT } from '../i18n.tsx';
import { go } from '../route.ts';
import { ErrorNote, Field, Loading } from '../ui-parts.tsx';
import type { SendRequest } from '../../../src/exchange/outbox-routes.ts';

type Purpose = SendRequest['purpose'];

/** Send one study to a partner hospital: to whom, why, how urgent, and a reason the receiver reads. */
export function SendScreen({ studyInstanceUid }: { studyInstanceUid: string }) {
  const t = useT();
  const { lang } = useLanguage();
  const [study, setStudy] = useState<DicomJson | null>();
  const [destinations, setDestinations] = useState<Destinations>();
  const [to, setTo] = useState('');
  const [purpose, setPurpose] = useState<Purpose>('transfer');
  const [consentReference, setConsentReference] = useState('');
  const [urgency, setUrgency] = useState<'routine' | 'urgent'>('routine');
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();

  useEffect(() => {
    const q = new URLSearchParams({
      StudyInstanceUID: studyInstanceUid,
      includefield: 'StudyDescription,ModalitiesInStudy,NumberOfStudyRelatedInstances',
    });
    api<DicomJson[] | undefined>('GET', `/dicomweb/studies?${q.toString()}`).then(
      (r) => setStudy(r?.[0] ?? null),
      setError,
    );
    api<Destinations>('GET', '/api/v1/destinations').then(setDestinations, setError);
  }, [studyInstanceUid]);

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
      {study !== undefined && study !== null ? (
        <dl className="summary" data-testid="study-summary">
          <dt>{t('patient')}</dt>
          <dd>
            {personName(str(study, TAG.PatientName))} ({str(study, TAG.PatientID)})
          </dd>
          <dt>{t('study')}</dt>
          <dd>
            {dicomDate(str(study, TAG.StudyDate), lang)} · {str(study, TAG.StudyDescription)} ·{' '}
            {strs(study, TAG.ModalitiesInStudy).join(', ')} · {num(study, TAG.NumberOfStudyRelatedInstances) ?? '?'}{' '}
            {t('images').toLowerCase()}
          </dd>
        </dl>
      ) : null}
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
