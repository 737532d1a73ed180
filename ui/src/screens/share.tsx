import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { api, type Destinations } from '../api.ts';
import { strs, TAG } from '../dicom-json.ts';
import { localTime, personName } from '../format.ts';
import { type TextKey, useLanguage, useT } from '../i18n.tsx';
import { go } from '../route.ts';
import { ShareStudyLines, StudySummary, useStudy } from '../study-summary.tsx';
import { ErrorNote, Field, ListTable, Loading } from '../ui-parts.tsx';
import type { DeidOptions } from '../../../src/deid/index.ts';
import { mayHaveTextInPixels } from '../../../src/deid/text-in-pixels.ts';
import type { ShareState, ShareView } from '../../../src/share/index.ts';

/** The PS3.15 options a sender may pick, with their labels; all off is the Basic Profile alone. */
const DEID_OPTIONS: readonly (readonly [keyof DeidOptions, TextKey])[] = [
  ['retainLongitudinalDates', 'deidKeepDates'],
  ['retainDeviceIdentity', 'deidKeepDevice'],
  ['cleanDescriptors', 'deidCleanDescriptions'],
];
const NO_OPTIONS: DeidOptions = {
  retainLongitudinalDates: false,
  retainDeviceIdentity: false,
  cleanDescriptors: false,
};

const STATE_TEXT: Readonly<Record<ShareState, TextKey>> = {
  active: 'shareActive',
  expired: 'shareExpired',
  revoked: 'shareRevoked',
  locked: 'shareLocked',
  'used-up': 'shareUsedUp',
};

/**
 * Share one study with a patient or a doctor elsewhere: who gets the link by e-mail and the code by SMS. Without a
 * study, the same link asks them for images instead (an upload request).
 */
export function ShareScreen({ studyInstanceUid }: { studyInstanceUid: string }) {
  const t = useT();
  const request = studyInstanceUid === '';
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [mobile, setMobile] = useState('');
  const [validDays, setValidDays] = useState(7);
  const [isPatient, setIsPatient] = useState(false);
  const [upload, setUpload] = useState(false);
  const [deidentify, setDeidentify] = useState<DeidOptions>();
  // A partner organization's account instead of a person: the share goes to its download folder.
  const [partners, setPartners] = useState<Destinations['partnerAccounts']>([]);
  const [partner, setPartner] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();

  const study = useStudy(studyInstanceUid, setError, !request);
  useEffect(() => {
    if (!request)
      api<Destinations>('GET', '/api/v1/destinations').then((d) => setPartners(d.partnerAccounts), setError);
  }, [request]);
  const toPartner = partner !== '';

  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await api<ShareView>('POST', '/api/v1/shares', {
        studyInstanceUids: request ? [] : [studyInstanceUid],
        ...(toPartner ? { partner } : { recipient: { name, email, mobile, isPatient } }),
        validDays,
        ...(request || (upload && !toPartner) ? { upload: true } : {}),
        ...(deidentify !== undefined && !request ? { deidentify } : {}),
      });
      go('shares');
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  if (error === undefined && study === undefined && !request) return <Loading />;
  const textInPixels =
    study !== undefined && study !== null ? strs(study, TAG.ModalitiesInStudy).filter(mayHaveTextInPixels) : [];
  return (
    <section aria-labelledby="share-title">
      <h1 id="share-title">{t(request ? 'requestTitle' : 'shareTitle')}</h1>
      {request ? null : <StudySummary study={study} />}
      {toPartner ? null : <p className="muted">{t(request ? 'requestHint' : 'shareHint')}</p>}
      <form className="form" onSubmit={(e) => void submit(e)}>
        {partners.length > 0 ? (
          <Field label={t('shareTo')}>
            <select name="partner" value={partner} onChange={(e) => setPartner(e.target.value)}>
              <option value="">{t('shareToPerson')}</option>
              {partners.map((p) => (
                <option key={p.username} value={p.username}>
                  {t('shareToPartner', { organization: p.organization })}
                </option>
              ))}
            </select>
          </Field>
        ) : null}
        {toPartner ? <p className="muted">{t('shareToPartnerHint')}</p> : null}
        {toPartner ? null : (
          <>
            <Field label={t('recipientName')}>
              <input name="name" required maxLength={200} value={name} onChange={(e) => setName(e.target.value)} />
            </Field>
            <Field label={t('recipientEmail')}>
              <input
                name="email"
                type="email"
                required
                autoComplete="off"
                value={email}
                onChange={(e) => setEmail(e.target.value)}
              />
            </Field>
            <Field label={t('recipientMobile')} hint={t('recipientMobileHint')}>
              <input
                name="mobile"
                type="tel"
                required
                autoComplete="off"
                value={mobile}
                onChange={(e) => setMobile(e.target.value)}
              />
            </Field>
            <label className="choice">
              <input
                type="checkbox"
                name="isPatient"
                checked={isPatient}
                onChange={(e) => setIsPatient(e.target.checked)}
              />
              {t('recipientIsPatient')}
            </label>
          </>
        )}
        <Field label={t('validDays')}>
          <input
            name="validDays"
            type="number"
            min={1}
            max={30}
            required
            value={validDays}
            onChange={(e) => setValidDays(Number(e.target.value))}
          />
        </Field>
        {request || toPartner ? null : (
          <label className="choice">
            <input type="checkbox" name="upload" checked={upload} onChange={(e) => setUpload(e.target.checked)} />
            {t('allowUpload')}
          </label>
        )}
        {request ? null : (
          <fieldset>
            <legend>{t('deidentify')}</legend>
            <label className="choice">
              <input
                type="checkbox"
                name="deidentify"
                checked={deidentify !== undefined}
                onChange={(e) => setDeidentify(e.target.checked ? NO_OPTIONS : undefined)}
              />
              {t('deidentifyImages')}
            </label>
            {deidentify !== undefined ? (
              <div data-testid="deid-options">
                <p className="muted">{t('deidentifyHint')}</p>
                <div className="options">
                  {DEID_OPTIONS.map(([option, label]) => (
                    <label key={option} className="choice">
                      <input
                        type="checkbox"
                        name={option}
                        checked={deidentify[option]}
                        onChange={(e) => setDeidentify({ ...deidentify, [option]: e.target.checked })}
                      />
                      {t(label)}
                    </label>
                  ))}
                </div>
                {textInPixels.length > 0 ? (
                  <p className="warning" role="note">
                    {t('deidentifyTextInPixels', { modalities: textInPixels.join(', ') })}
                  </p>
                ) : null}
              </div>
            ) : null}
          </fieldset>
        )}
        <ErrorNote error={error} />
        <div className="buttons">
          <button type="submit" className="primary" disabled={busy || (study === null && !request)}>
            {busy ? t('sharing') : t(request ? 'request' : 'share')}
          </button>
          <button type="button" onClick={() => go(request ? 'uploads' : 'studies')}>
            {t('cancel')}
          </button>
        </div>
      </form>
    </section>
  );
}

/** Everything shared from this node: with whom, whether the link still opens, how often it was used; revoke from here. */
export function SharesScreen() {
  const t = useT();
  const { lang } = useLanguage();
  const [shares, setShares] = useState<ShareView[]>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState<string>();

  const load = useCallback(() => {
    api<{ shares: ShareView[] }>('GET', '/api/v1/shares').then((r) => setShares(r.shares), setError);
  }, []);
  useEffect(load, [load]);

  const revoke = async (s: ShareView): Promise<void> => {
    if (!confirm(t('revokeConfirm', { name: s.recipient.name }))) return;
    setBusy(s.shareId);
    setError(undefined);
    try {
      const revoked = await api<ShareView>('POST', `/api/v1/shares/${s.shareId}/revoke`);
      setShares((all) => all?.map((x) => (x.shareId === revoked.shareId ? revoked : x)));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(undefined);
    }
  };

  if (shares === undefined && error === undefined) return <Loading />;
  return (
    <section aria-labelledby="shares-title">
      <h1 id="shares-title">{t('sharesTitle')}</h1>
      <ErrorNote error={error} />
      <ListTable
        rows={shares}
        loading={error === undefined}
        empty={t('noShares')}
        testId="shares"
        headers={[
          t('date'),
          t('patient'),
          t('study'),
          t('recipient'),
          t('state'),
          t('opened'),
          t('downloads'),
          t('validUntil'),
          undefined,
        ]}
      >
        {(s) => (
          <tr key={s.shareId} data-share={s.shareId}>
            <td>{localTime(s.createdAt, lang)}</td>
            <td>
              {personName(s.patientName ?? '')}{' '}
              {s.patient.bsn !== undefined || s.patient.patientId !== undefined ? (
                <span className="muted">({s.patient.bsn ?? s.patient.patientId})</span>
              ) : null}
              {s.deidentify !== null ? (
                <div>
                  <span className="badge">{t('deidentified')}</span>
                </div>
              ) : null}
            </td>
            <td>
              <ShareStudyLines studies={s.studies} />
              {s.studies.length === 0 ? <div>{t('uploadRequest')}</div> : null}
            </td>
            <td>
              {s.recipient.name}
              <div className="muted">
                {s.recipient.partner !== undefined
                  ? t('partnerFolder')
                  : `${s.recipient.email} · ${s.recipient.mobile}`}
              </div>
              <div className="muted">
                {t('sharedBy')}: {s.createdBy.name}
              </div>
            </td>
            <td>
              <span className={`badge share-${s.state}`}>{t(STATE_TEXT[s.state])}</span>
            </td>
            <td>
              {s.opens} / {s.maxOpens}
            </td>
            <td>{s.downloads}</td>
            <td>{localTime(s.expiresAt, lang)}</td>
            <td className="actions">
              {s.state === 'active' || s.state === 'used-up' || s.state === 'locked' ? (
                <button type="button" disabled={busy === s.shareId} onClick={() => void revoke(s)}>
                  {t('revoke')}
                </button>
              ) : null}
            </td>
          </tr>
        )}
      </ListTable>
    </section>
  );
}
