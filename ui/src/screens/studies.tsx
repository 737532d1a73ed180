import { type FormEvent, type ReactNode, useEffect, useState } from 'react';
import { api, type Destinations } from '../api.ts';
import type { PacsSearchView } from '../../../src/node/pacs-routes.ts';
import { type DicomJson, num, str, strs, TAG } from '../dicom-json.ts';
import { dicomDate, personName, toDicomDate } from '../format.ts';
import { useLanguage, useT } from '../i18n.tsx';
import { go } from '../route.ts';
import { Empty, ErrorNote, Field, Loading } from '../ui-parts.tsx';

const PAGE = 25;
const MODALITIES = ['CT', 'MR', 'CR', 'DX', 'US', 'MG', 'NM', 'PT', 'XA', 'RF', 'SR'] as const;

interface Criteria {
  patientId: string;
  patientName: string;
  from: string;
  to: string;
  modality: string;
  accession: string;
}

const empty: Criteria = { patientId: '', patientName: '', from: '', to: '', modality: '', accession: '' };

/** The QIDO-RS query for the criteria (PS3.18 10.6): the node's own index, through the same access layer as DICOM. */
function qido(c: Criteria, offset: number): string {
  const q = new URLSearchParams();
  if (c.patientId.trim() !== '') q.set('PatientID', c.patientId.trim());
  const name = c.patientName.trim();
  // A name typed without a wildcard matches names that start with it, as staff expect of a search box.
  if (name !== '') q.set('PatientName', /[*?]/.test(name) ? name : `${name}*`);
  if (c.from !== '' || c.to !== '') q.set('StudyDate', `${toDicomDate(c.from)}-${toDicomDate(c.to)}`);
  if (c.modality !== '') q.set('ModalitiesInStudy', c.modality);
  if (c.accession.trim() !== '') q.set('AccessionNumber', c.accession.trim());
  q.set('includefield', 'StudyDescription,ModalitiesInStudy,NumberOfStudyRelatedSeries,NumberOfStudyRelatedInstances');
  q.set('limit', String(PAGE + 1));
  q.set('offset', String(offset));
  return `/dicomweb/studies?${q.toString()}`;
}

/** The PACS search's query: the same criteria, as the node's API takes them (dates as YYYY-MM-DD). */
function pacsQuery(c: Criteria): string | undefined {
  const q = new URLSearchParams();
  if (c.patientId.trim() !== '') q.set('patientId', c.patientId.trim());
  if (c.patientName.trim() !== '') q.set('patientName', c.patientName.trim());
  if (c.from !== '') q.set('from', c.from);
  if (c.to !== '') q.set('to', c.to);
  if (c.modality !== '') q.set('modality', c.modality);
  if (c.accession.trim() !== '') q.set('accession', c.accession.trim());
  if (q.size === 0) return undefined;
  q.set('limit', '50');
  return `/api/v1/pacs/studies?${q.toString()}`;
}

export function StudiesScreen() {
  const t = useT();
  const [where, setWhere] = useState<'node' | 'pacs'>('node');
  const [pacs, setPacs] = useState<Destinations['pacsSearch']>();
  const [pacsFound, setPacsFound] = useState<PacsSearchView>();
  const [criteria, setCriteria] = useState<Criteria>(empty);
  const [asked, setAsked] = useState<Criteria>(empty);
  const [studies, setStudies] = useState<DicomJson[]>();
  const [more, setMore] = useState(false);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  const load = async (c: Criteria, offset: number): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      const page = (await api<DicomJson[] | undefined>('GET', qido(c, offset))) ?? [];
      setMore(page.length > PAGE);
      setStudies((prev) => [...(offset > 0 ? (prev ?? []) : []), ...page.slice(0, PAGE)]);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  useEffect(() => {
    void load(empty, 0);
    api<Destinations>('GET', '/api/v1/destinations').then((d) => setPacs(d.pacsSearch), setError);
  }, []);

  const searchPacs = async (c: Criteria): Promise<void> => {
    const path = pacsQuery(c);
    setError(undefined);
    setPacsFound(undefined);
    if (path === undefined) {
      setError(new Error(t('pacsNeedsCriteria')));
      return;
    }
    setBusy(true);
    try {
      setPacsFound(await api<PacsSearchView>('GET', path));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const submit = (e: FormEvent): void => {
    e.preventDefault();
    setAsked(criteria);
    if (where === 'pacs') void searchPacs(criteria);
    else void load(criteria, 0);
  };
  const set = (k: keyof Criteria) => (e: { target: { value: string } }) =>
    setCriteria({ ...criteria, [k]: e.target.value });

  return (
    <section aria-labelledby="studies-title">
      <h1 id="studies-title">{t('navStudies')}</h1>
      {pacs !== undefined ? (
        <div className="where" role="radiogroup" aria-label={t('searchIn')}>
          <label className="choice">
            <input type="radio" name="where" checked={where === 'node'} onChange={() => setWhere('node')} />
            {t('searchNode')}
          </label>
          <label className="choice">
            <input
              type="radio"
              name="where"
              checked={where === 'pacs'}
              onChange={() => {
                setWhere('pacs');
                setPacsFound(undefined);
                setError(undefined);
              }}
            />
            {t('searchPacs', { pacs: pacs.description ?? pacs.aeTitle })}
          </label>
        </div>
      ) : null}
      <form className="search" onSubmit={submit} role="search">
        <Field label={t('patientId')}>
          <input name="patientId" value={criteria.patientId} onChange={set('patientId')} />
        </Field>
        <Field label={t('patientName')}>
          <input name="patientName" value={criteria.patientName} onChange={set('patientName')} />
        </Field>
        <Field label={t('dateFrom')}>
          <input name="from" type="date" value={criteria.from} onChange={set('from')} />
        </Field>
        <Field label={t('dateTo')}>
          <input name="to" type="date" value={criteria.to} onChange={set('to')} />
        </Field>
        <Field label={t('modality')}>
          <select name="modality" value={criteria.modality} onChange={set('modality')}>
            <option value="">{t('any')}</option>
            {MODALITIES.map((m) => (
              <option key={m}>{m}</option>
            ))}
          </select>
        </Field>
        <Field label={t('accession')}>
          <input name="accession" value={criteria.accession} onChange={set('accession')} />
        </Field>
        <button type="submit" className="primary" disabled={busy}>
          {t('search')}
        </button>
      </form>
      <p className="muted">{where === 'pacs' ? t('pacsHint') : t('studiesHint')}</p>
      <ErrorNote error={error} />
      {where === 'pacs' ? <PacsResults found={pacsFound} busy={busy} onFetched={() => void searchPacs(asked)} /> : null}
      {where === 'node' && studies === undefined && error === undefined ? <Loading /> : null}
      {where === 'node' && studies !== undefined && studies.length === 0 ? <Empty>{t('noStudies')}</Empty> : null}
      {where === 'node' && studies !== undefined && studies.length > 0 ? (
        <StudyTable
          testId="studies"
          thumbnails
          rows={studies.map((s) => {
            const uid = str(s, TAG.StudyInstanceUID);
            return {
              uid,
              date: str(s, TAG.StudyDate),
              patientName: str(s, TAG.PatientName),
              patientId: str(s, TAG.PatientID),
              description: str(s, TAG.StudyDescription),
              modalities: strs(s, TAG.ModalitiesInStudy),
              instances: num(s, TAG.NumberOfStudyRelatedInstances),
              accession: str(s, TAG.AccessionNumber),
              actions: <OpenAndSend uid={uid} />,
            };
          })}
        />
      ) : null}
      {where === 'node' && more ? (
        <button type="button" disabled={busy} onClick={() => void load(asked, studies?.length ?? 0)}>
          {t('more')}
        </button>
      ) : null}
    </section>
  );
}

/** What the PACS answered: a study the node holds opens and sends from here; another is fetched into the node first. */
function PacsResults({
  found,
  busy,
  onFetched,
}: {
  found: PacsSearchView | undefined;
  busy: boolean;
  onFetched: () => void;
}) {
  const t = useT();
  const [fetching, setFetching] = useState<ReadonlySet<string>>(new Set());
  const [error, setError] = useState<unknown>();
  if (found === undefined) return busy ? <Loading /> : null;
  const fetchStudy = async (uid: string): Promise<void> => {
    setFetching((f) => new Set([...f, uid]));
    setError(undefined);
    try {
      await api('POST', '/api/v1/pacs/retrievals', { studyInstanceUid: uid });
      onFetched();
    } catch (err) {
      setError(err);
    } finally {
      setFetching((f) => new Set([...f].filter((x) => x !== uid)));
    }
  };
  return (
    <>
      <ErrorNote error={error} />
      {found.studies.length === 0 ? <Empty>{t('noStudies')}</Empty> : null}
      {found.studies.length > 0 ? (
        <StudyTable
          testId="pacs-studies"
          rows={found.studies.map((s) => ({
            uid: s.studyInstanceUid,
            date: s.studyDate,
            patientName: s.patient.name,
            patientId: s.patient.patientId,
            description: s.description,
            modalities: s.modalities,
            instances: s.instances,
            accession: s.accessionNumber,
            actions: s.heldHere ? (
              <>
                <span className="badge state-delivered">{t('inBeeldbrug')}</span>{' '}
                <OpenAndSend uid={s.studyInstanceUid} />
              </>
            ) : (
              <button
                type="button"
                disabled={fetching.has(s.studyInstanceUid)}
                onClick={() => void fetchStudy(s.studyInstanceUid)}
              >
                {fetching.has(s.studyInstanceUid) ? t('fetchingFromPacs') : t('fetchFromPacs')}
              </button>
            ),
          }))}
        />
      ) : null}
      {found.more ? <p className="muted">{t('pacsMore')}</p> : null}
    </>
  );
}

interface StudyRow {
  uid: string;
  date: string | null | undefined;
  patientName: string | null | undefined;
  patientId: string | null | undefined;
  description: string | null | undefined;
  modalities: readonly string[];
  instances: number | null | undefined;
  accession: string | null | undefined;
  actions: ReactNode;
}

/** One list of studies, whether the node or the PACS answered; the node's rows show a thumbnail. */
function StudyTable({ rows, testId, thumbnails = false }: { rows: StudyRow[]; testId: string; thumbnails?: boolean }) {
  const t = useT();
  const { lang } = useLanguage();
  return (
    <table className="list" data-testid={testId}>
      <thead>
        <tr>
          {thumbnails ? <th aria-label="thumbnail" /> : null}
          <th>{t('date')}</th>
          <th>{t('patient')}</th>
          <th>{t('patientId')}</th>
          <th>{t('description')}</th>
          <th>{t('modality')}</th>
          <th className="number">{t('images')}</th>
          <th>{t('accession')}</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.uid}>
            {thumbnails ? (
              <td>
                <img
                  className="thumb"
                  src={`/dicomweb/studies/${r.uid}/thumbnail?viewport=64,64`}
                  alt=""
                  width={64}
                  height={64}
                  loading="lazy"
                  onError={(e) => {
                    e.currentTarget.style.visibility = 'hidden';
                  }}
                />
              </td>
            ) : null}
            <td>{dicomDate(r.date, lang)}</td>
            <td>{personName(r.patientName)}</td>
            <td>{r.patientId ?? ''}</td>
            <td>{r.description ?? ''}</td>
            <td>{r.modalities.join(', ')}</td>
            <td className="number">{r.instances ?? ''}</td>
            <td>{r.accession ?? ''}</td>
            <td className="actions">{r.actions}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A study the node holds: open it in the viewer, send it to a hospital, or share it with a patient or doctor. */
function OpenAndSend({ uid }: { uid: string }) {
  const t = useT();
  return (
    <>
      <button type="button" onClick={() => go('viewer', uid)}>
        {t('view')}
      </button>{' '}
      <button type="button" onClick={() => go('send', uid)}>
        {t('send')}
      </button>{' '}
      <button type="button" onClick={() => go('share', uid)}>
        {t('share')}
      </button>
    </>
  );
}
