import { type KeyboardEvent, useEffect, useRef, useState } from 'react';
import { api } from '../api.ts';
import { type DicomJson, num, str, strs, TAG } from '../dicom-json.ts';
import { dicomDate, personName } from '../format.ts';
import { useLanguage, useT } from '../i18n.tsx';
import { ErrorNote, Loading } from '../ui-parts.tsx';
import {
  attachTools,
  cornerstoneReady,
  enableStack,
  Enums,
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

/** Starts Cornerstone (its decoders in workers) ahead of the first study opened. */
export function prepareViewer(): Promise<void> {
  return cornerstoneReady();
}
const NOT_AN_IMAGE = new Set(['SR', 'DOC', 'KO', 'PR']);

/**
 * A stack viewer fed by WADO-RS: series thumbnails, the images of one series to scroll through, window/level with
 * presets, zoom and pan, and the tags of the image shown.
 */
export function ViewerScreen({ studyInstanceUid }: { studyInstanceUid: string }) {
  const t = useT();
  const { lang } = useLanguage();
  const element = useRef<HTMLDivElement>(null);
  const [series, setSeries] = useState<DicomJson[]>();
  const [study, setStudy] = useState<DicomJson>();
  const [current, setCurrent] = useState<string>();
  const [stack, setStack] = useState<SeriesStack>();
  const [index, setIndex] = useState(0);
  const [voi, setVoi] = useState<{ center: number; width: number }>();
  const [showTags, setShowTags] = useState(false);
  const [error, setError] = useState<unknown>();

  useEffect(() => {
    const q = new URLSearchParams({ StudyInstanceUID: studyInstanceUid });
    api<DicomJson[] | undefined>('GET', `/dicomweb/studies?${q.toString()}`).then((r) => setStudy(r?.[0]), setError);
    api<DicomJson[] | undefined>('GET', `/dicomweb/studies/${studyInstanceUid}/series`).then((r) => {
      const images = (r ?? [])
        .filter((s) => !NOT_AN_IMAGE.has(str(s, TAG.Modality)))
        .sort((a, b) => (num(a, TAG.SeriesNumber) ?? 0) - (num(b, TAG.SeriesNumber) ?? 0));
      setSeries(images);
      const largest = [...images].sort(
        (a, b) => (num(b, TAG.NumberOfSeriesRelatedInstances) ?? 0) - (num(a, TAG.NumberOfSeriesRelatedInstances) ?? 0),
      )[0];
      if (largest !== undefined) setCurrent(str(largest, TAG.SeriesInstanceUID));
    }, setError);
  }, [studyInstanceUid]);

  useEffect(() => {
    if (current === undefined || element.current === null) return;
    let cancelled = false;
    let stopPrefetch: (() => void) | undefined;
    const el = element.current;
    const onImage = (): void => {
      const v = stackViewport(VIEWPORT);
      if (v !== undefined) setIndex(v.getCurrentImageIdIndex());
    };
    const onVoi = (): void => {
      const range = stackViewport(VIEWPORT)?.getProperties().voiRange;
      if (range !== undefined) setVoi(windowOf(range));
    };
    el.addEventListener(Enums.Events.STACK_NEW_IMAGE, onImage);
    el.addEventListener(Enums.Events.VOI_MODIFIED, onVoi);
    (async () => {
      await cornerstoneReady();
      const series = loadSeries(studyInstanceUid, current);
      series.catch(() => undefined); // awaited below
      const viewport = enableStack(VIEWPORT, el);
      attachTools(VIEWPORT);
      // The middle image first, on its own, while the series' metadata comes; unless the series came first.
      const preview = middleImage(studyInstanceUid, current).catch(() => undefined); // then no preview, only the series
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
    })().catch((err: unknown) => setError(err));
    return () => {
      cancelled = true;
      stopPrefetch?.();
      el.removeEventListener(Enums.Events.STACK_NEW_IMAGE, onImage);
      el.removeEventListener(Enums.Events.VOI_MODIFIED, onVoi);
      delete el.dataset['ready'];
    };
  }, [studyInstanceUid, current]);

  const viewport = (): ReturnType<typeof stackViewport> => stackViewport(VIEWPORT);
  const preset = (center: number, width: number): void => {
    const v = viewport();
    if (v !== undefined) setWindow(v, center, width);
  };
  const onKey = (e: KeyboardEvent): void => {
    const v = viewport();
    if (v === undefined) return;
    const step = { ArrowDown: 1, ArrowUp: -1, PageDown: 10, PageUp: -10 }[e.key];
    if (step !== undefined) {
      e.preventDefault();
      scrollBy(v, step).then(
        () => setIndex(v.getCurrentImageIdIndex()),
        (err: unknown) => setError(err),
      );
      return;
    }
    const p = PRESETS.find((x) => x.key === e.key);
    if (p !== undefined) preset(p.center, p.width);
    if (e.key === 'r') {
      v.resetCamera();
      v.resetProperties();
      v.render();
    }
  };

  const shown = stack?.metadata[index];
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
        </div>
      </header>
      <ErrorNote error={error} />
      <div className="viewer-body">
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
                    src={`/dicomweb/studies/${studyInstanceUid}/series/${uid}/thumbnail?viewport=96,96`}
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
        <div className="stage">
          <div
            ref={element}
            className="viewport"
            data-testid="viewport"
            tabIndex={0}
            onKeyDown={onKey}
            onContextMenu={(e) => e.preventDefault()}
            aria-label={t('viewerHelp')}
          />
          <div className="overlay" data-testid="overlay">
            <span data-testid="slice">{stack !== undefined ? `${index + 1} / ${stack.imageIds.length}` : ''}</span>
            <span data-testid="window">{voi !== undefined ? `W ${voi.width} L ${voi.center}` : ''}</span>
          </div>
          <p className="muted">{t('viewerHelp')}</p>
        </div>
        {showTags && shown !== undefined ? (
          <table className="tags" data-testid="tags">
            <tbody>
              {Object.entries(shown)
                .filter(([, v]) => v.vr !== 'SQ' && v.Value !== undefined)
                .map(([tag, v]) => (
                  <tr key={tag}>
                    <td>
                      ({tag.slice(0, 4)},{tag.slice(4)})
                    </td>
                    <td>{v.vr}</td>
                    <td>{strs(shown, tag).join('\\') || str(shown, tag)}</td>
                  </tr>
                ))}
            </tbody>
          </table>
        ) : null}
      </div>
    </section>
  );
}
