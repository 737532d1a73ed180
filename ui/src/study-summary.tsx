import { useEffect, useState } from 'react';
import { api } from './api.ts';
import { type DicomJson, num, str, strs, TAG } from './dicom-json.ts';
import { dicomDate, personName } from './format.ts';
import { useLanguage, useT } from './i18n.tsx';
import type { ShareStudyRef } from '../../src/share/index.ts';

/**
 * The study a screen acts on (send, share), as the node's study list has it: undefined while asked, null when the node
 * does not hold it. Failures go to `onError`.
 */
export function useStudy(
  studyInstanceUid: string,
  onError: (err: unknown) => void,
  wanted = true,
): DicomJson | null | undefined {
  const [study, setStudy] = useState<DicomJson | null>();
  useEffect(() => {
    if (!wanted) return;
    const q = new URLSearchParams({
      StudyInstanceUID: studyInstanceUid,
      includefield: 'StudyDescription,ModalitiesInStudy,NumberOfStudyRelatedInstances',
    });
    api<DicomJson[] | undefined>('GET', `/dicomweb/studies?${q.toString()}`).then(
      (r) => setStudy(r?.[0] ?? null),
      onError,
    );
  }, [studyInstanceUid, onError, wanted]);
  return study;
}

/** Whose study, and what it is: the lines above a send or share form. */
export function StudySummary({ study }: { study: DicomJson | null | undefined }) {
  const t = useT();
  const { lang } = useLanguage();
  if (study === undefined || study === null) return null;
  return (
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
  );
}

/** A share's studies as they were when shared, a line each: date, description, modalities. */
export function ShareStudyLines({
  studies,
  onView,
}: {
  studies: readonly ShareStudyRef[];
  /** Offers each study in the viewer. */
  onView?: (studyInstanceUid: string) => void;
}) {
  const t = useT();
  const { lang } = useLanguage();
  return (
    <>
      {studies.map((x) => (
        <div key={x.studyInstanceUid}>
          {dicomDate(x.studyDate ?? '', lang)} · {x.description ?? ''} · {x.modalities.join(', ')}
          {onView !== undefined ? (
            <>
              {' '}
              <button type="button" className="link" onClick={() => onView(x.studyInstanceUid)}>
                {t('view')}
              </button>
            </>
          ) : null}
        </div>
      ))}
    </>
  );
}
