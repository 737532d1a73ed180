import { type KeyboardEvent, useCallback, useEffect, useRef, useState } from 'react';
import { api } from '../api.ts';
import { keywordOf } from '../../../src/dicom/dictionary.ts';
import { type DicomJson, num, str, strs, TAG } from '../dicom-json.ts';
import { dicomDate, personName } from '../format.ts';
import { useLanguage, useT } from '../i18n.tsx';
import { ErrorNote, Loading } from '../ui-parts.tsx';
import {
  attachTools,
  cornerstoneReady,
  DICOMWEB_ROOT,
  disableStack,
  enableStack,
  Enums,
  followSize,
  loadSeries,
  middleImage,
  prefetchStack,
  scrollBy,
  type SeriesStack,
  setWindow,
  stackViewport,
  windowOf,
} from '../viewer/cornerstone.ts';

/** Window presets as radiologists know them (center, width in HU for CT). */
const PRESETS = [
  { key: '1', name: 'Brain', nl: 'Hersenen', center: 40, width: 80 },
  { key: '2', name: 'Soft tissue', nl: 'Weke delen', center: 40, width: 400 },
  { key: '3', name: 'Lung', nl: 'Long', center: -600, width: 1500 },
  { key: '4', name: 'Bone', nl: 'Bot', center: 400, width: 1800 },
] as const;

const VIEWPORT = 'main';
const PRIOR = 'prior';

/** Starts Cornerstone (its decoders in workers) ahead of the first study opened. */
export function prepareViewer(): Promise<void> {
  return cornerstoneReady();
}
const NOT_AN_IMAGE = new Set(['SR', 'DOC', 'KO', 'PR']);

/** The image series of a study, in series-number order. */
async function seriesOf(root: string, studyInstanceUid: string): Promise<DicomJson[]> {
  const r = await api<DicomJson[] | undefined>('GET', `${root}/studies/${studyInstanceUid}/series`);
  return (r ?? [])
    .filter((s) => !NOT_AN_IMAGE.has(str(s, TAG.Modality)))
    .sort((a, b) => (num(a, TAG.SeriesNumber) ?? 0) - (num(b, TAG.SeriesNumber) ?? 0));
}

const largestOf = (series: readonly DicomJson[]): string | undefined => {
  const largest = [...series].sort(
    (a, b) => (num(b, TAG.NumberOfSeriesRelatedInstances) ?? 0) - (num(a, TAG.NumberOfSeriesRelatedInstances) ?? 0),
  )[0];
  return largest !== undefined ? str(largest, TAG.SeriesInstanceUID) : undefined;
};

/**
 * A stack viewer fed by WADO-RS: series thumbnails, the images of one series to scroll through, window/level with
 * presets, zoom and pan, and the tags of the image shown; beside it, on request, an earlier study of the same patient
 * (from this node: its own, or one the timeline brought from another hospital), each pane scrolled on its own and
 * windowed together. `root` is where it reads: the node's DICOMweb, or one share's for its recipient (no comparison
 * there: a share holds only what was shared).
 */
export function ViewerScreen({
  studyInstanceUid,
  root = DICOMWEB_ROOT,
  compare = true,
}: {
  studyInstanceUid: string;
  root?: string;
  compare?: boolean;
}) {
  const t = useT();
  const { lang } = useLanguage();
  const [series, setSeries] = useState<DicomJson[]>();
  const [study, setStudy] = useState<DicomJson>();
  const [current, setCurrent] = useState<string>();
  const [shown, setShown] = useState<Record<string, DicomJson | undefined>>({});
  const [active, setActive] = useState<string>(VIEWPORT);
  const [showTags, setShowTags] = useState(false);
  const [priors, setPriors] = useState<DicomJson[]>();
  const [picking, setPicking] = useState(false);
  const [prior, setPrior] = useState<{ study: DicomJson; seriesInstanceUid: string }>();
  const [error, setError] = useState<unknown>();

  useEffect(() => {
    const q = new URLSearchParams({ StudyInstanceUID: studyInstanceUid });
    api<DicomJson[] | undefined>('GET', `${root}/studies?${q.toString()}`).then((r) => setStudy(r?.[0]), setError);
    seriesOf(root, studyInstanceUid).then((images) => {
      setSeries(images);
      setCurrent(largestOf(images));
    }, setError);
    setPrior(undefined);
    setPriors(undefined);
  }, [root, studyInstanceUid]);

  /** The patient's other studies this node holds, newest first: what can be put beside this one. */
  const pickPrior = (): void => {
    setPicking(!picking);
    if (priors !== undefined || study === undefined) return;
    const q = new URLSearchParams({
      PatientID: str(study, TAG.PatientID),
      includefield: 'StudyDescription,ModalitiesInStudy',
    });
    api<DicomJson[] | undefined>('GET', `${root}/studies?${q.toString()}`).then(
      (r) =>
        setPriors(
          (r ?? [])
            .filter((s) => str(s, TAG.StudyInstanceUID) !== studyInstanceUid)
            .sort((a, b) => str(b, TAG.StudyDate).localeCompare(str(a, TAG.StudyDate))),
        ),
      setError,
    );
  };
  const compareWith = (s: DicomJson): void => {
    setPicking(false);
    seriesOf(root, str(s, TAG.StudyInstanceUID)).then((images) => {
      const uid = largestOf(images);
      if (uid !== undefined) setPrior({ study: s, seriesInstanceUid: uid });
    }, setError);
  };

  const panes = prior !== undefined ? [VIEWPORT, PRIOR] : [VIEWPORT];
  const preset = (center: number, width: number): void => {
    for (const id of panes) {
      const v = stackViewport(id);
      if (v !== undefined) setWindow(v, center, width);
    }
  };
  const onShown = useCallback((id: string, metadata: DicomJson | undefined) => {
    setShown((m) => ({ ...m, [id]: metadata }));
  }, []);
  const tagsOf = shown[active];

  return (
    <section className="viewer" aria-labelledby="viewer-title">
      <header className="viewer-head">
        <h1 id="viewer-title">
          {study !== undefined
            ? `${personName(str(study, TAG.PatientName))} · ${dicomDate(str(study, TAG.StudyDate), lang)} · ${str(study, TAG.StudyDescription)}`
            : t('viewer')}
        </h1>
        <div className="toolbar" role="toolbar" aria-label={t('windowPresets')}>
          {PRESETS.map((p) => (
            <button key={p.key} type="button" onClick={() => preset(p.center, p.width)} title={`${p.key}`}>
              {lang === 'nl' ? p.nl : p.name}
            </button>
          ))}
          <button type="button" onClick={() => setShowTags(!showTags)} aria-pressed={showTags}>
            {t('tags')}
          </button>
          {!compare ? null : prior === undefined ? (
            <button type="button" onClick={pickPrior} aria-expanded={picking} disabled={study === undefined}>
              {t('compare')}
            </button>
          ) : (
            <button type="button" onClick={() => setPrior(undefined)}>
              {t('compareClose')}
            </button>
          )}
        </div>
      </header>
      <ErrorNote error={error} />
      {picking ? (
        <div className="prior-picker" data-testid="priors">
          {priors === undefined ? <Loading /> : null}
          {priors?.length === 0 ? <p className="empty">{t('noPriors')}</p> : null}
          {priors?.map((s) => (
            <button key={str(s, TAG.StudyInstanceUID)} type="button" onClick={() => compareWith(s)}>
              {dicomDate(str(s, TAG.StudyDate), lang)} · {strs(s, TAG.ModalitiesInStudy).join(', ')} ·{' '}
              {str(s, TAG.StudyDescription)}
            </button>
          ))}
        </div>
      ) : null}
      <div className={`viewer-body${prior !== undefined ? ' comparing' : ''}`}>
        <ul className="series-list" aria-label={t('series')}>
          {series === undefined ? <Loading /> : null}
          {series?.map((s) => {
            const uid = str(s, TAG.SeriesInstanceUID);
            return (
              <li key={uid}>
                <button
                  type="button"
                  aria-current={uid === current}
                  onClick={() => setCurrent(uid)}
                  className="series-button"
                >
                  <img
                    src={`${root}/studies/${studyInstanceUid}/series/${uid}/thumbnail?viewport=96,96`}
                    alt=""
                    width={96}
                    height={96}
                    loading="lazy"
                  />
                  <span>
                    {str(s, TAG.Modality)} {num(s, TAG.SeriesNumber) ?? ''} · {str(s, TAG.SeriesDescription)}
                    <br />
                    <small>
                      {num(s, TAG.NumberOfSeriesRelatedInstances) ?? '?'} {t('images').toLowerCase()}
                    </small>
                  </span>
                </button>
              </li>
            );
          })}
        </ul>
        <div className="panes">
          {current !== undefined ? (
            <StackPane
              id={VIEWPORT}
              root={root}
              studyInstanceUid={studyInstanceUid}
              seriesInstanceUid={current}
              testId="viewport"
              active={active === VIEWPORT}
              onActivate={setActive}
              onShown={onShown}
              onError={setError}
              onPreset={preset}
            />
          ) : null}
          {prior !== undefined ? (
            <StackPane
              id={PRIOR}
              root={root}
              studyInstanceUid={str(prior.study, TAG.StudyInstanceUID)}
              seriesInstanceUid={prior.seriesInstanceUid}
              testId="prior-viewport"
              label={`${dicomDate(str(prior.study, TAG.StudyDate), lang)} · ${str(prior.study, TAG.StudyDescription)}`}
              active={active === PRIOR}
              onActivate={setActive}
              onShown={onShown}
              onError={setError}
              onPreset={preset}
            />
          ) : null}
          <p className="muted">{t('viewerHelp')}</p>
        </div>
        {showTags && tagsOf !== undefined ? (
          <table className="tags" data-testid="tags">
            <tbody>
              {Object.entries(tagsOf)
                .filter(([, v]) => v.vr !== 'SQ' && v.Value !== undefined)
                .map(([tag, v]) => (
                  <tr key={tag}>
                    <td>
                      ({tag.slice(0, 4)},{tag.slice(4)})
                    </td>
                    <td>{keywordOf(Number.parseInt(tag, 16)) ?? ''}</td>
                    <td>{v.vr}</td>
                    <td>{strs(tagsOf, tag).join('\\') || str(tagsOf, tag)}</td>
                  </tr>
                ))}
            </tbody>
          </table>
        ) : null}
      </div>
    </section>
  );
}

/**
 * One viewport with its series as a stack: the middle image first, then the whole series, scrolled with the wheel or
 * the arrow keys, windowed with the mouse or a preset key (which windows every pane alike).
 */
function StackPane(p: {
  id: string;
  root: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  testId: string;
  label?: string;
  active: boolean;
  onActivate: (id: string) => void;
  onShown: (id: string, metadata: DicomJson | undefined) => void;
  onError: (err: unknown) => void;
  onPreset: (center: number, width: number) => void;
}) {
  const t = useT();
  const element = useRef<HTMLDivElement>(null);
  const [stack, setStack] = useState<SeriesStack>();
  const [index, setIndex] = useState(0);
  const [voi, setVoi] = useState<{ center: number; width: number }>();
  const { id, root, studyInstanceUid, seriesInstanceUid, onShown, onError } = p;

  useEffect(() => {
    if (element.current === null) return;
    let cancelled = false;
    let stopPrefetch: (() => void) | undefined;
    const el = element.current;
    const onImage = (): void => {
      const v = stackViewport(id);
      if (v !== undefined) setIndex(v.getCurrentImageIdIndex());
    };
    const onVoi = (): void => {
      const range = stackViewport(id)?.getProperties().voiRange;
      if (range !== undefined) setVoi(windowOf(range));
    };
    el.addEventListener(Enums.Events.STACK_NEW_IMAGE, onImage);
    el.addEventListener(Enums.Events.VOI_MODIFIED, onVoi);
    (async () => {
      await cornerstoneReady();
      const series = loadSeries(root, studyInstanceUid, seriesInstanceUid);
      series.catch(() => undefined); // awaited below
      const viewport = enableStack(id, el);
      attachTools(id);
      // The middle image first, on its own, while the series' metadata comes; unless the series came first.
      const preview = middleImage(root, studyInstanceUid, seriesInstanceUid).catch(() => undefined); // then only the series
      const first = await Promise.race([preview, series.then(() => undefined)]);
      if (cancelled) return;
      if (first !== undefined) {
        await viewport.setStack([first], 0);
        viewport.render();
        onVoi();
      }
      const s = await series;
      if (cancelled) return;
      setStack(s);
      const middle = Math.floor((s.imageIds.length - 1) / 2);
      await viewport.setStack(s.imageIds, middle);
      viewport.render();
      setIndex(middle);
      onVoi();
      stopPrefetch = prefetchStack(el);
      el.dataset['ready'] = 'true';
    })().catch(onError);
    return () => {
      cancelled = true;
      stopPrefetch?.();
      el.removeEventListener(Enums.Events.STACK_NEW_IMAGE, onImage);
      el.removeEventListener(Enums.Events.VOI_MODIFIED, onVoi);
      delete el.dataset['ready'];
    };
  }, [id, root, studyInstanceUid, seriesInstanceUid, onError]);

  useEffect(() => onShown(id, stack?.metadata[index]), [id, stack, index, onShown]);
  // A pane that closes takes its viewport with it.
  useEffect(() => () => disableStack(id), [id]);
  useEffect(() => (element.current !== null ? followSize(element.current) : undefined), []);

  const onKey = (e: KeyboardEvent): void => {
    const v = stackViewport(id);
    if (v === undefined) return;
    const step = { ArrowDown: 1, ArrowUp: -1, PageDown: 10, PageUp: -10 }[e.key];
    if (step !== undefined) {
      e.preventDefault();
      scrollBy(v, step).then(() => setIndex(v.getCurrentImageIdIndex()), onError);
      return;
    }
    const preset = PRESETS.find((x) => x.key === e.key);
    if (preset !== undefined) p.onPreset(preset.center, preset.width);
    if (e.key === 'r') {
      v.resetCamera();
      v.resetProperties();
      v.render();
    }
  };

  return (
    <div
      className={`stage${p.active ? ' active' : ''}`}
      onFocus={() => p.onActivate(id)}
      onPointerDown={() => p.onActivate(id)}
    >
      <div
        ref={element}
        className="viewport"
        data-testid={p.testId}
        tabIndex={0}
        onKeyDown={onKey}
        onContextMenu={(e) => e.preventDefault()}
        aria-label={p.label ?? t('viewerHelp')}
      />
      <div className="overlay" data-testid={`${p.testId}-overlay`}>
        <span data-testid={p.testId === 'viewport' ? 'slice' : `${p.testId}-slice`}>
          {stack !== undefined ? `${index + 1} / ${stack.imageIds.length}` : ''}
        </span>
        {p.label !== undefined ? <span className="pane-label">{p.label}</span> : null}
        <span data-testid={p.testId === 'viewport' ? 'window' : `${p.testId}-window`}>
          {voi !== undefined ? `W ${voi.width} L ${voi.center}` : ''}
        </span>
      </div>
    </div>
  );
}
