import { useCallback, useEffect, useState } from 'react';
import { api, ApiError, onSessionEnded, request, type Role, type SessionInfo, type WorkspaceInfo } from './api.ts';
import { type TextKey, useLanguage, useT } from './i18n.tsx';
import { go, type Route, SCREENS_OF, type Screen, useRoute } from './route.ts';
import { AdminScreen } from './screens/admin.tsx';
import { AuditScreen } from './screens/audit.tsx';
import { SendScreen } from './screens/send.tsx';
import { ShareScreen, SharesScreen } from './screens/share.tsx';
import { UploadsScreen } from './screens/uploads.tsx';
import { PartnerScreen } from './screens/partner.tsx';
import { SignInScreen } from './screens/sign-in.tsx';
import { StudiesScreen } from './screens/studies.tsx';
import { TimelineScreen } from './screens/timeline.tsx';
import { TransferScreen } from './screens/transfer.tsx';
import { TransfersScreen } from './screens/transfers.tsx';
import { ErrorNote, Loading } from './ui-parts.tsx';
import { preloadViewer, Viewer } from './viewer/lazy-viewer.tsx';

const NAV: readonly { screen: Screen; text: TextKey }[] = [
  { screen: 'studies', text: 'navStudies' },
  { screen: 'transfers', text: 'navTransfers' },
  { screen: 'shares', text: 'navShares' },
  { screen: 'uploads', text: 'navUploads' },
  { screen: 'timeline', text: 'navTimeline' },
  { screen: 'audit', text: 'navAudit' },
  { screen: 'admin', text: 'navAdmin' },
  { screen: 'partner', text: 'navPartner' },
];

const ROLE_TEXT: Readonly<Record<Role, TextKey>> = {
  admin: 'roleAdmin',
  radiologist: 'roleRadiologist',
  staff: 'roleStaff',
  auditor: 'roleAuditor',
  partner: 'rolePartner',
};

type Signed =
  { state: 'checking' } | { state: 'out'; why?: 'ended' | 'signed-out' } | { state: 'in'; session: SessionInfo };

export function App() {
  const t = useT();
  const { lang, setLang } = useLanguage();
  const route = useRoute();
  const [workspace, setWorkspace] = useState<WorkspaceInfo>();
  const [startError, setStartError] = useState<unknown>();
  const [signed, setSigned] = useState<Signed>({ state: 'checking' });

  useEffect(() => {
    api<WorkspaceInfo>('GET', '/api/v1/workspace').then(setWorkspace, setStartError);
    request('GET', '/api/v1/session', { quietOn401: true })
      .then(async (res) => setSigned({ state: 'in', session: (await res.json()) as SessionInfo }))
      .catch((err: unknown) => {
        if (err instanceof ApiError && err.status === 401) setSigned({ state: 'out' });
        else setStartError(err);
      });
  }, []);

  useEffect(() => {
    if (signed.state === 'in' && SCREENS_OF[signed.session.user.role].includes('viewer')) preloadViewer();
  }, [signed]);

  useEffect(() => onSessionEnded(() => setSigned((s) => (s.state === 'in' ? { state: 'out', why: 'ended' } : s))), []);

  useEffect(() => {
    if (workspace !== undefined) document.title = `Beeldbrug · ${workspace.organization.name}`;
  }, [workspace]);

  const signOut = useCallback(async () => {
    await request('DELETE', '/api/v1/session', { quietOn401: true }).catch(() => undefined);
    setSigned({ state: 'out', why: 'signed-out' });
    location.hash = '';
  }, []);

  if (startError !== undefined)
    return (
      <main className="centered">
        <ErrorNote error={startError} />
      </main>
    );
  if (signed.state === 'checking' || workspace === undefined)
    return (
      <main className="centered">
        <Loading />
      </main>
    );
  if (signed.state === 'out')
    return (
      <SignInScreen
        workspace={workspace}
        {...(signed.why !== undefined ? { why: signed.why } : {})}
        signedIn={(session) => setSigned({ state: 'in', session })}
      />
    );

  const role = signed.session.user.role;
  const allowed = SCREENS_OF[role];
  return (
    <div className="shell">
      <header className="top">
        <div className="brand">
          <img src="/favicon.svg" alt="" width={28} height={28} />
          <span>Beeldbrug</span>
          <span className="org">{workspace.organization.name}</span>
        </div>
        <nav aria-label="main">
          {NAV.filter((n) => allowed.includes(n.screen)).map((n) => (
            <a key={n.screen} href={`#/${n.screen}`} aria-current={route.screen === n.screen ? 'page' : undefined}>
              {t(n.text)}
            </a>
          ))}
        </nav>
        <div className="who">
          <span data-testid="signed-in-as">
            {signed.session.user.name} · {t(ROLE_TEXT[role])}
          </span>
          <button type="button" className="link" onClick={() => setLang(lang === 'nl' ? 'en' : 'nl')}>
            {t('language')}
          </button>
          <button type="button" onClick={() => void signOut()}>
            {t('signOut')}
          </button>
        </div>
      </header>
      <main className="content">
        <ScreenOf route={route} allowed={allowed} session={signed.session} workspace={workspace} />
      </main>
    </div>
  );
}

function ScreenOf({
  route,
  allowed,
  session,
  workspace,
}: {
  route: Route;
  allowed: readonly Screen[];
  session: SessionInfo;
  workspace: WorkspaceInfo;
}) {
  const username = session.user.username;
  const t = useT();
  const home = allowed[0]!;
  useEffect(() => {
    if (route.screen === 'home') go(home);
  }, [route.screen, home]);
  if (route.screen === 'home') return null;
  if (route.screen === 'unknown') return <p className="empty">{t('notFound')}</p>;
  if (!allowed.includes(route.screen))
    return (
      <p className="error" role="alert">
        {t('forbidden')}
      </p>
    );
  switch (route.screen) {
    case 'studies':
      return <StudiesScreen />;
    case 'partner':
      return <PartnerScreen session={session} workspace={workspace} />;
    case 'viewer':
      return <Viewer studyInstanceUid={route.id ?? ''} />;
    case 'send':
      return <SendScreen studyInstanceUid={route.id ?? ''} />;
    case 'share':
      return <ShareScreen studyInstanceUid={route.id ?? ''} />;
    case 'shares':
      return <SharesScreen />;
    case 'uploads':
      return <UploadsScreen />;
    case 'transfer':
      return <TransferScreen transferId={route.id ?? ''} />;
    case 'transfers':
      return <TransfersScreen />;
    case 'timeline':
      return <TimelineScreen />;
    case 'audit':
      return <AuditScreen />;
    case 'admin':
      return <AdminScreen self={username} />;
  }
}
