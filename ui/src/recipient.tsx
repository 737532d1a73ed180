import { type FormEvent, useEffect, useState } from 'react';
import { AccessHistory } from './access-history.tsx';
import { UploadFiles } from './upload-files.tsx';
import { api, ApiError } from './api.ts';
import { dicomDate, megabytes, personName } from './format.ts';
import { type TextKey, useLanguage, useT } from './i18n.tsx';
import { ErrorNote, Field, Loading } from './ui-parts.tsx';
import { SharedViewer } from './viewer/shared-viewer.tsx';
import type { LinkStatus, RecipientView } from '../../src/share/index.ts';
import { RECIPIENT_VIEW_ROOT } from '../../src/share/view-roots.ts';

const CLOSED_TEXT: Readonly<Record<Exclude<LinkStatus['state'], 'active'>, TextKey>> = {
  expired: 'linkExpired',
  revoked: 'linkRevoked',
  locked: 'linkLocked',
  'used-up': 'linkUsedUp',
  unknown: 'linkUnknown',
};

type Step =
  | { kind: 'loading' }
  | { kind: 'closed'; status: LinkStatus }
  | { kind: 'ask-code'; status: LinkStatus; sent?: number }
  | { kind: 'open'; view: RecipientView }
  | { kind: 'left' };

/**
 * The page a share's recipient opens from the e-mail (/share#<token>). Nothing is sent by SMS until the recipient asks
 * (a mail scanner that opens the link sends nothing); link and code together open the studies, the hospital's
 * disclaimer comes before the download.
 */
export function RecipientApp() {
  const t = useT();
  const { lang, setLang } = useLanguage();
  const token = location.hash.replace(/^#/, '');
  const [step, setStep] = useState<Step>({ kind: 'loading' });
  const [code, setCode] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [note, setNote] = useState<string>();

  useEffect(() => {
    // A session still open from before (a reload) shows the studies at once; otherwise the link says where it stands.
    api<RecipientView>('GET', '/share/v1/studies').then(
      (view) => setStep({ kind: 'open', view }),
      () =>
        api<LinkStatus>('POST', '/share/v1/link', { token }).then(
          (status) => setStep(status.state === 'active' ? { kind: 'ask-code', status } : { kind: 'closed', status }),
          setError,
        ),
    );
  }, [token]);

  const problem = (err: unknown, status: LinkStatus): void => {
    if (err instanceof ApiError && err.code === 'SHARE_LINK_CLOSED') {
      const state = err.members['state'];
      const known = typeof state === 'string' && state in CLOSED_TEXT ? (state as LinkStatus['state']) : 'expired';
      setStep({ kind: 'closed', status: { ...status, state: known } });
      return;
    }
    setError(err);
  };

  const sendCode = async (status: LinkStatus): Promise<void> => {
    setBusy(true);
    setError(undefined);
    setNote(undefined);
    try {
      const r = await api<{ validMinutes: number }>('POST', '/share/v1/code', { token });
      setStep({ kind: 'ask-code', status, sent: r.validMinutes });
    } catch (err) {
      problem(err, status);
    } finally {
      setBusy(false);
    }
  };

  const open = async (e: FormEvent, status: LinkStatus): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    setNote(undefined);
    try {
      await api('POST', '/share/v1/session', { token, code });
      setStep({ kind: 'open', view: await api<RecipientView>('GET', '/share/v1/studies') });
    } catch (err) {
      if (err instanceof ApiError && err.code === 'SHARE_CODE_WRONG') {
        setNote(t('codeWrong', { tries: numberOf(err.members['triesLeft']) ?? '?' }));
      } else if (err instanceof ApiError && err.code === 'SHARE_RATE_LIMITED') {
        setNote(t('tooManyTries', { seconds: numberOf(err.members['retryAfterSeconds']) ?? 60 }));
      } else problem(err, status);
    } finally {
      setBusy(false);
      setCode('');
    }
  };

  const leave = async (): Promise<void> => {
    await api('DELETE', '/share/v1/session').catch(() => undefined);
    setStep({ kind: 'left' });
  };

  const hospital =
    step.kind === 'open'
      ? step.view.hospital
      : step.kind === 'ask-code' || step.kind === 'closed'
        ? step.status.hospital
        : '';
  return (
    <>
      <header className="top">
        <div className="brand">
          <img src="/favicon.svg" alt="" width={28} height={28} />
          <span>Beeldbrug</span>
          <span className="org">{hospital}</span>
        </div>
        <div className="who">
          <button type="button" className="link" onClick={() => setLang(lang === 'nl' ? 'en' : 'nl')}>
            {t('language')}
          </button>
        </div>
      </header>
      <main className="recipient">
        {step.kind === 'loading' ? error === undefined ? <Loading /> : <ErrorNote error={error} /> : null}
        {step.kind === 'closed' ? (
          <section aria-labelledby="closed-title">
            <h1 id="closed-title">{t('linkTitle', { hospital })}</h1>
            <p className="empty" role="alert" data-testid="link-closed">
              {t(CLOSED_TEXT[step.status.state as Exclude<LinkStatus['state'], 'active'>])}
            </p>
          </section>
        ) : null}
        {step.kind === 'ask-code' ? (
          <section aria-labelledby="code-title">
            <h1 id="code-title">{t('linkTitle', { hospital })}</h1>
            <p>{t('linkIntro', { digits: step.status.phoneEndsWith ?? '??' })}</p>
            {step.sent === undefined ? (
              <button type="button" className="primary" disabled={busy} onClick={() => void sendCode(step.status)}>
                {busy ? t('sendingCode') : t('sendCode')}
              </button>
            ) : (
              <form className="form" onSubmit={(e) => void open(e, step.status)}>
                <p className="muted" role="status">
                  {t('codeSent', { minutes: step.sent })}
                </p>
                <Field label={t('smsCode')}>
                  <input
                    name="code"
                    inputMode="numeric"
                    autoComplete="one-time-code"
                    pattern="[0-9]{6}"
                    maxLength={6}
                    required
                    autoFocus
                    value={code}
                    onChange={(e) => setCode(e.target.value.replace(/\D/g, ''))}
                  />
                </Field>
                {note !== undefined ? (
                  <p className="error" role="alert">
                    {note}
                  </p>
                ) : null}
                <div className="buttons">
                  <button type="submit" className="primary" disabled={busy || code.length !== 6}>
                    {t('open')}
                  </button>
                  <button type="button" disabled={busy} onClick={() => void sendCode(step.status)}>
                    {t('sendNewCode')}
                  </button>
                </div>
              </form>
            )}
            <ErrorNote error={error} />
          </section>
        ) : null}
        {step.kind === 'open' ? (
          <section aria-labelledby="shared-title">
            <h1 id="shared-title">{t(step.view.studies.length > 0 ? 'linkTitle' : 'uploadTitle', { hospital })}</h1>
            <p className="muted">{t('sharedWithYou', { name: step.view.recipient })}</p>
            {step.view.studies.length > 0 ? <SharedStudies view={step.view} /> : null}
            {step.view.upload ? <UploadFiles hospital={hospital} heading={step.view.studies.length > 0} /> : null}
            <div className="buttons">
              <button type="button" onClick={() => void leave()}>
                {t('closeShare')}
              </button>
            </div>
            {step.view.accessHistory ? <AccessHistory /> : null}
          </section>
        ) : null}
        {step.kind === 'left' ? <p className="empty">{t('shareClosed')}</p> : null}
      </main>
    </>
  );
}

const numberOf = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

/**
 * The shared studies, the hospital's disclaimer, and once it is read, each study in the viewer (in the browser, nothing
 * downloaded) or all of them as a zip.
 */
function SharedStudies({ view }: { view: RecipientView }) {
  const t = useT();
  const { lang } = useLanguage();
  const [read, setRead] = useState(false);
  const [viewing, setViewing] = useState<string>();
  if (viewing !== undefined)
    return <SharedViewer root={RECIPIENT_VIEW_ROOT} studyInstanceUid={viewing} onClose={() => setViewing(undefined)} />;
  return (
    <>
      {view.deidentified ? <p data-testid="deidentified">{t('deidentifiedForYou')}</p> : null}
      <table className="list" data-testid="shared-studies">
        <thead>
          <tr>
            {view.deidentified ? null : <th>{t('patient')}</th>}
            {view.deidentified ? null : <th>{t('birthDate')}</th>}
            <th>{t('date')}</th>
            <th>{t('study')}</th>
            <th>{t('images')}</th>
            <th>{t('size')}</th>
            <th aria-label={t('view')} />
          </tr>
        </thead>
        <tbody>
          {view.studies.map((s) => (
            <tr key={s.studyInstanceUid}>
              {view.deidentified ? null : <td>{personName(s.patientName)}</td>}
              {view.deidentified ? null : <td>{dicomDate(s.birthDate, lang)}</td>}
              <td>{dicomDate(s.studyDate, lang)}</td>
              <td>
                {s.description ?? ''} <span className="muted">{s.modalities.join(', ')}</span>
              </td>
              <td>{s.instances}</td>
              <td>{megabytes(s.bytes)}</td>
              <td>
                <button
                  type="button"
                  disabled={!read}
                  title={read ? undefined : t('readDisclaimerFirst')}
                  onClick={() => setViewing(s.studyInstanceUid)}
                >
                  {t('view')}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <aside className="disclaimer" aria-label="disclaimer">
        <p>{view.disclaimer}</p>
        <label className="choice">
          <input type="checkbox" checked={read} onChange={(e) => setRead(e.target.checked)} />
          {t('disclaimerRead')}
        </label>
      </aside>
      <p className="muted">{t('downloadHint')}</p>
      <div className="buttons">
        {read ? (
          <a className="button primary" href="/share/v1/download" download>
            {t('download')}
          </a>
        ) : (
          <button type="button" className="primary" disabled>
            {t('download')}
          </button>
        )}
      </div>
    </>
  );
}
