import { type FormEvent, useState } from 'react';
import { isValidBsn } from '../../../src/patient/bsn.ts';
import type { SourceOutcome, Timeline, TimelineStudy } from '../../../src/timeline/types.ts';
import { api } from '../api.ts';
import { type DicomJson, num, TAG } from '../dicom-json.ts';
import { go } from '../route.ts';
import type { InboxView } from '../../../src/exchange/inbox-routes.ts';
import { dicomDate } from '../format.ts';
import { type TextKey, useLanguage, useT } from '../i18n.tsx';
import { Empty, ErrorNote, Field } from '../ui-parts.tsx';

const SOURCE_TEXT: Readonly<Record<SourceOutcome['status'], TextKey>> = {
  answered: 'sourceAnswered',
  refused: 'sourceRefused',
  'timed-out': 'sourceTimedOut',
  failed: 'sourceFailed',
};

/**
 * A patient's studies at every hospital the registry names and the patient consented to, newest first on one axis,
 * with what each hospital answered; a study is opened in the viewer from its source (the source sends it here over the
 * exchange, consent checked again there) or retrieved into the own PACS.
 */
export function TimelineScreen() {
  const t = useT();
  const { lang } = useLanguage();
  const [bsn, setBsn] = useState('');
  const [touched, setTouched] = useState(false);
  const [timeline, setTimeline] = useState<Timeline>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  /** Studies asked of their source, with the transfer that brings each here. */
  const [retrieving, setRetrieving] = useState<ReadonlyMap<string, string>>(new Map());
  /** The study being fetched to be opened in the viewer. */
  const [opening, setOpening] = useState<string>();
  const valid = isValidBsn(bsn.trim());

  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setTouched(true);
    if (!valid) return;
    setBusy(true);
    setError(undefined);
    setTimeline(undefined);
    try {
      setTimeline(await api<Timeline>('POST', '/api/v1/timeline', { bsn: bsn.trim(), includeReports: true }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  /** Asks the source to send the study here (once); answers the transfer that brings it. */
  const retrieve = async (s: TimelineStudy): Promise<string | undefined> => {
    if (timeline === undefined) return undefined;
    const asked = retrieving.get(s.studyInstanceUid);
    if (asked !== undefined) return asked;
    try {
      const r = await api<{ transferId: string }>('POST', '/api/v1/timeline/retrievals', {
        bsn: timeline.bsn,
        source: s.source.ura,
        studyInstanceUid: s.studyInstanceUid,
      });
      setRetrieving((m) => new Map([...m, [s.studyInstanceUid, r.transferId]]));
      return r.transferId;
    } catch (err) {
      setError(err);
      return undefined;
    }
  };

  /** Opens the study in the viewer: at once when this node holds all of it, else once its source has sent it. */
  const view = async (s: TimelineStudy): Promise<void> => {
    setOpening(s.studyInstanceUid);
    setError(undefined);
    try {
      const q = new URLSearchParams({
        StudyInstanceUID: s.studyInstanceUid,
        includefield: 'NumberOfStudyRelatedInstances',
      });
      const here = (await api<DicomJson[] | undefined>('GET', `/dicomweb/studies?${q.toString()}`))?.[0];
      if (here === undefined || (num(here, TAG.NumberOfStudyRelatedInstances) ?? 0) < s.instances) {
        const transferId = await retrieve(s);
        if (transferId === undefined) return;
        for (;;) {
          const tr = await api<InboxView>('GET', `/api/v1/inbox/${transferId}?waitSeconds=20`);
          if (tr.state === 'failed' || tr.state === 'rejected') throw new Error(t('viewFailed'));
          if (tr.state !== 'open') break;
        }
      }
      go('viewer', s.studyInstanceUid);
    } catch (err) {
      setError(err);
    } finally {
      setOpening(undefined);
    }
  };

  const years = new Map<string, TimelineStudy[]>();
  for (const s of timeline?.studies ?? []) {
    const year = s.studyDate?.slice(0, 4) ?? '—';
    years.set(year, [...(years.get(year) ?? []), s]);
  }

  return (
    <section aria-labelledby="timeline-title">
      <h1 id="timeline-title">{t('navTimeline')}</h1>
      <p className="muted">{t('timelineHint')}</p>
      <form className="search" onSubmit={(e) => void submit(e)} role="search">
        <Field label={t('bsn')}>
          <input
            name="bsn"
            inputMode="numeric"
            autoComplete="off"
            maxLength={9}
            value={bsn}
            aria-invalid={touched && !valid}
            onChange={(e) => setBsn(e.target.value.replace(/\D/g, ''))}
            onBlur={() => setTouched(bsn !== '')}
          />
        </Field>
        <button type="submit" className="primary" disabled={busy}>
          {busy ? t('loading') : t('showTimeline')}
        </button>
      </form>
      {touched && !valid ? (
        <p className="error" role="alert">
          {t('bsnInvalid')}
        </p>
      ) : null}
      <ErrorNote error={error} />
      {timeline !== undefined ? (
        <>
          <h2>{t('sources')}</h2>
          {timeline.sources.length === 0 ? <Empty>{t('noSources')}</Empty> : null}
          <ul className="sources" data-testid="sources">
            {timeline.sources.map((s) => (
              <li key={s.ura} className={`source source-${s.status}`}>
                <strong>{s.name}</strong> · {t(SOURCE_TEXT[s.status])}
                {s.status === 'answered' ? ` · ${s.studies} · ${s.ms} ms` : ''}
                {s.reason !== undefined ? <small className="muted"> · {s.reason}</small> : null}
              </li>
            ))}
          </ul>
          <ol className="timeline" data-testid="timeline">
            {[...years].map(([year, studies]) => (
              <li key={year} className="year">
                <h3>{year}</h3>
                <ul>
                  {studies.map((s) => (
                    <li key={`${s.source.ura}/${s.studyInstanceUid}`} className="event">
                      <div className="when">{dicomDate(s.studyDate, lang)}</div>
                      <div className="what">
                        <strong>{s.modalities.join(', ')}</strong> {s.description ?? ''}
                        <div className="muted">
                          {s.source.name} · {s.series} series · {s.instances} {t('images').toLowerCase()}
                          {s.accessionNumber !== null ? ` · ${s.accessionNumber}` : ''}
                        </div>
                        {s.reportText !== undefined ? (
                          <details>
                            <summary>{t('report')}</summary>
                            <pre className="report">{s.reportText}</pre>
                          </details>
                        ) : null}
                      </div>
                      <div className="actions">
                        <button
                          type="button"
                          className="primary"
                          disabled={opening !== undefined}
                          onClick={() => void view(s)}
                        >
                          {opening === s.studyInstanceUid ? t('openingFromSource') : t('view')}
                        </button>
                        {retrieving.has(s.studyInstanceUid) ? (
                          <span className="badge state-sending">{t('retrieving')}</span>
                        ) : (
                          <button type="button" onClick={() => void retrieve(s)}>
                            {t('retrieve')}
                          </button>
                        )}
                      </div>
                    </li>
                  ))}
                </ul>
              </li>
            ))}
          </ol>
        </>
      ) : null}
    </section>
  );
}
