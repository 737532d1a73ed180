import { type FormEvent, useState } from 'react';
import { isValidBsn } from '../../../src/patient/bsn.ts';
import type { SourceOutcome, Timeline, TimelineStudy } from '../../../src/timeline/types.ts';
import { api } from '../api.ts';
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
 * with what each hospital answered; a study can be retrieved into the own PACS from here.
 */
export function TimelineScreen() {
  const t = useT();
  const { lang } = useLanguage();
  const [bsn, setBsn] = useState('');
  const [touched, setTouched] = useState(false);
  const [timeline, setTimeline] = useState<Timeline>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [retrieving, setRetrieving] = useState<ReadonlySet<string>>(new Set());
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

  const retrieve = async (s: TimelineStudy): Promise<void> => {
    if (timeline === undefined) return;
    try {
      await api('POST', '/api/v1/timeline/retrievals', {
        bsn: timeline.bsn,
        source: s.source.ura,
        studyInstanceUid: s.studyInstanceUid,
      });
      setRetrieving((r) => new Set([...r, s.studyInstanceUid]));
    } catch (err) {
      setError(err);
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
