import { useCallback, useEffect, useState } from 'react';
import * as tus from 'tus-js-client';
import { api } from './api.ts';
import { localTime, megabytes } from './format.ts';
import { type TextKey, useLanguage, useT } from './i18n.tsx';
import { ErrorNote } from './ui-parts.tsx';
import type { RefusalKind, Upload } from '../../src/share/index.ts';

const REFUSAL_TEXT: Readonly<Record<RefusalKind, TextKey>> = {
  'not-dicom': 'refusedNotDicom',
  'not-stored': 'refusedNotStored',
  'too-many-files': 'refusedTooManyFiles',
  'zip-bomb': 'refusedZipBomb',
  'zip-unsafe': 'refusedZipUnsafe',
};

/** Pieces of this size go per request: small enough to resume soon after a cut, large enough to keep the line busy. */
const CHUNK_BYTES = 8 * 1024 * 1024;

/** Sends one file by tus; a file sent before and cut off carries on from where the node says it stands. */
function sendFile(endpoint: string, file: File, onProgress: (sent: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(file, {
      endpoint: `${location.origin}${endpoint}`,
      metadata: { filename: file.webkitRelativePath !== '' ? file.webkitRelativePath : file.name },
      chunkSize: CHUNK_BYTES,
      retryDelays: [0, 1000, 3000, 10000],
      removeFingerprintOnSuccess: true,
      onProgress: (sent) => onProgress(sent),
      onSuccess: () => resolve(),
      onError: reject,
    });
    upload.findPreviousUploads().then((previous) => {
      if (previous[0] !== undefined) upload.resumeFromPreviousUpload(previous[0]);
      upload.start();
    }, reject);
  });
}

/**
 * Uploading images to the hospital, for a share that takes them: DICOM files, a folder (a CD's content) or a zip, one
 * file after the other with its progress; below, what came of each file sent.
 */
export function UploadFiles({
  hospital,
  heading,
  endpoint = '/share/v1/uploads',
}: {
  hospital: string;
  heading: boolean;
  /** A share's recipient's uploads, or a partner's (/partner/v1/uploads). */
  endpoint?: string;
}) {
  const t = useT();
  const { lang } = useLanguage();
  const [uploads, setUploads] = useState<Upload[]>();
  const [current, setCurrent] = useState<{ name: string; sent: number; size: number; left: number }>();
  const [error, setError] = useState<unknown>();

  const load = useCallback(() => {
    api<{ uploads: Upload[] }>('GET', endpoint).then((r) => setUploads(r.uploads), setError);
  }, [endpoint]);
  useEffect(load, [load]);
  // A file sent over SFTP is taken in after its put ends: the list follows until nothing is being checked.
  const checking = uploads?.some((u) => u.state === 'checking') === true;
  useEffect(() => {
    if (!checking) return;
    const timer = setTimeout(load, 2000);
    return () => clearTimeout(timer);
  }, [checking, uploads, load]);

  const send = async (files: readonly File[]): Promise<void> => {
    setError(undefined);
    try {
      for (const [i, file] of files.entries()) {
        const progress = { name: file.name, size: file.size, left: files.length - i - 1 };
        setCurrent({ ...progress, sent: 0 });
        await sendFile(endpoint, file, (sent) => setCurrent({ ...progress, sent }));
        load();
      }
    } catch (err) {
      setError(err);
      load();
    } finally {
      setCurrent(undefined);
    }
  };

  const picked = (list: FileList | null): void => {
    if (list !== null && list.length > 0) void send([...list]);
  };

  return (
    <section aria-label={t('uploadTitle', { hospital })} className="upload">
      {heading ? <h2 id="upload-title">{t('uploadTitle', { hospital })}</h2> : null}
      <p className="muted">{t('uploadHint')}</p>
      <div className="buttons">
        <label className="button primary">
          {t('chooseFiles')}
          <input
            type="file"
            multiple
            hidden
            disabled={current !== undefined}
            data-testid="upload-files"
            onChange={(e) => picked(e.target.files)}
          />
        </label>
        <label className="button">
          {t('chooseFolder')}
          <input
            type="file"
            hidden
            disabled={current !== undefined}
            {...{ webkitdirectory: '' }}
            onChange={(e) => picked(e.target.files)}
          />
        </label>
      </div>
      {current !== undefined ? (
        <div className="upload-progress" role="status">
          {t('uploadingFile', { name: current.name })} ({megabytes(current.sent)} / {megabytes(current.size)})
          {current.left > 0 ? ` +${current.left}` : ''}
          <progress max={current.size} value={current.sent} />
        </div>
      ) : null}
      <ErrorNote error={error} />
      {uploads !== undefined && uploads.length > 0 ? (
        <>
          <h3>{t('yourUploads')}</h3>
          <table className="list" data-testid="uploads">
            <tbody>
              {uploads.map((u) => (
                <tr key={u.uploadId}>
                  <td>{localTime(u.createdAt, lang)}</td>
                  <td>
                    {u.fileName} <span className="muted">{megabytes(u.size)}</span>
                  </td>
                  <td>
                    {u.state === 'done' && u.result !== null ? (
                      <>
                        {t('uploadStored', { n: String(u.result.stored + u.result.duplicates) })}
                        {u.result.skippedCount > 0 ? (
                          <div
                            className="muted"
                            title={u.result.skipped.map((x) => `${x.name}: ${x.reason}`).join('\n')}
                          >
                            {t('uploadSkipped', { n: String(u.result.skippedCount) })}
                          </div>
                        ) : null}
                      </>
                    ) : null}
                    {u.state === 'refused' && u.problem !== null ? (
                      <span className="error" title={u.problem.detail}>
                        {t('uploadRefused')}: {t(REFUSAL_TEXT[u.problem.kind])}
                      </span>
                    ) : null}
                    {u.state === 'checking' ? <span className="muted">{t('uploadChecking')}</span> : null}
                    {u.state === 'receiving' && current === undefined ? (
                      <span className="muted">{t('uploadReceiving')}</span>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
    </section>
  );
}
