import { Fragment, useCallback, useEffect, useState } from 'react';
import { api, type Destinations } from '../api.ts';
import { dicomDate, localTime, personName } from '../format.ts';
import { useLanguage, useT } from '../i18n.tsx';
import { go } from '../route.ts';
import { Empty, ErrorNote, Loading } from '../ui-parts.tsx';
import { isValidBsn } from '../../../src/patient/bsn.ts';
import type { QuarantineView } from '../../../src/share/index.ts';
import { PacsSelect, RejectForm, StateBadge } from './transfers.tsx';

/**
 * Studies uploaded by patients and doctors elsewhere, held in quarantine: each is seen as uploaded, with who sent it,
 * and imported into the PACS under the BSN a person checked (the uploaded one, or the hospital's own), or rejected.
 */
export function UploadsScreen() {
  const t = useT();
  const { lang } = useLanguage();
  const [held, setHeld] = useState<QuarantineView[]>();
  const [destinations, setDestinations] = useState<Destinations>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState<string>();
  const [rejecting, setRejecting] = useState<string>();

  const load = useCallback(() => {
    setError(undefined);
    api<{ studies: QuarantineView[] }>('GET', '/api/v1/quarantine').then((r) => setHeld(r.studies), setError);
  }, []);
  useEffect(() => {
    load();
    api<Destinations>('GET', '/api/v1/destinations').then(setDestinations, setError);
  }, [load]);

  const decide = async (uid: string, action: 'import' | 'reject', body: unknown): Promise<void> => {
    setBusy(uid);
    setError(undefined);
    try {
      await api('POST', `/api/v1/quarantine/${uid}/${action}`, body);
      setRejecting(undefined);
      load();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(undefined);
    }
  };

  return (
    <section aria-labelledby="uploads-title">
      <h1 id="uploads-title">{t('uploadsTitle')}</h1>
      <p className="muted">{t('uploadsHint')}</p>
      <div className="buttons">
        <button type="button" className="primary" onClick={() => go('share')}>
          {t('requestImages')}
        </button>
        <button type="button" onClick={load}>
          {t('refresh')}
        </button>
      </div>
      <ErrorNote error={error} />
      {held === undefined || destinations === undefined ? <Loading /> : null}
      {held?.length === 0 ? <Empty>{t('noUploads')}</Empty> : null}
      {held !== undefined && destinations !== undefined && held.length > 0 ? (
        <table className="list" data-testid="quarantine">
          <thead>
            <tr>
              <th>{t('received')}</th>
              <th>{t('uploadedBy')}</th>
              <th>{t('asUploaded')}</th>
              <th>{t('study')}</th>
              <th>{t('state')}</th>
              <th>{t('fileUnder')}</th>
            </tr>
          </thead>
          <tbody>
            {held.map((q) => (
              <Fragment key={q.studyInstanceUid}>
                <tr data-study={q.studyInstanceUid}>
                  <td>{localTime(q.receivedAt, lang)}</td>
                  <td>{q.uploader.name}</td>
                  <td>
                    {personName(q.study?.patient.name)}
                    <br />
                    <small>
                      {q.study?.patient.patientId}
                      {q.study?.patient.bsn != null ? ` · BSN ${q.study.patient.bsn}` : ''}
                      {q.study?.patient.birthDate != null ? ` · ${dicomDate(q.study.patient.birthDate, lang)}` : ''}
                    </small>
                  </td>
                  <td>
                    {dicomDate(q.study?.studyDate, lang)} {q.study?.description ?? ''}
                    <br />
                    <small>
                      {q.study?.modalities.join(', ')} · {q.study?.instances ?? 0} {t('images').toLowerCase()}
                    </small>
                  </td>
                  <td>
                    <StateBadge state={q.state} />
                  </td>
                  <td className="actions">
                    {q.state === 'held' || q.state === 'failed' ? (
                      <ImportForm
                        proposed={q.study?.patient.bsn ?? ''}
                        pacs={destinations.pacs}
                        busy={busy === q.studyInstanceUid}
                        onImport={(bsn, destination) =>
                          void decide(q.studyInstanceUid, 'import', {
                            bsn,
                            ...(destination !== '' ? { destination } : {}),
                          })
                        }
                        onReject={() => setRejecting(q.studyInstanceUid)}
                      />
                    ) : null}
                  </td>
                </tr>
                {rejecting === q.studyInstanceUid ? (
                  <tr className="reject-row">
                    <td colSpan={6}>
                      <RejectForm
                        busy={busy === q.studyInstanceUid}
                        onCancel={() => setRejecting(undefined)}
                        onReject={(reason) => void decide(q.studyInstanceUid, 'reject', { reason })}
                      />
                    </td>
                  </tr>
                ) : null}
              </Fragment>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

/**
 * The BSN the study is filed under in the PACS: the uploaded one when it is a valid BSN, for the person to check
 * against the hospital's own record, or the one they type.
 */
function ImportForm(p: {
  proposed: string;
  pacs: readonly { aeTitle: string; description?: string }[];
  busy: boolean;
  onImport: (bsn: string, destination: string) => void;
  onReject: () => void;
}) {
  const t = useT();
  const [bsn, setBsn] = useState(isValidBsn(p.proposed) ? p.proposed : '');
  const [destination, setDestination] = useState(p.pacs[0]?.aeTitle ?? '');
  const valid = isValidBsn(bsn);
  return (
    <form
      className="import"
      onSubmit={(e) => {
        e.preventDefault();
        if (valid) p.onImport(bsn, destination);
      }}
    >
      <input
        aria-label={t('fileUnderBsn')}
        placeholder="BSN"
        inputMode="numeric"
        maxLength={9}
        value={bsn}
        onChange={(e) => setBsn(e.target.value.replace(/\D/g, ''))}
      />
      <PacsSelect pacs={p.pacs} value={destination} onChange={setDestination} />
      <button type="submit" className="primary" disabled={!valid || p.busy}>
        {t('importIntoPacs')}
      </button>
      <button type="button" onClick={p.onReject} disabled={p.busy}>
        {t('reject')}
      </button>
      {bsn !== '' && !valid ? <small className="error">{t('bsnInvalid')}</small> : null}
    </form>
  );
}
