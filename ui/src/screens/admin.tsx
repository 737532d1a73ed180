import { type FormEvent, useCallback, useEffect, useState } from 'react';
import QRCode from 'qrcode';
import { api } from '../api.ts';
import { localTime } from '../format.ts';
import { type TextKey, useLanguage, useT } from '../i18n.tsx';
import { ErrorNote, Field, ListTable, Loading } from '../ui-parts.tsx';
import type { AccountView, NewSecondFactor } from '../../../src/node/account-admin-routes.ts';
import type { DoctorView, NodeConfigurationView } from '../../../src/node/node-admin-routes.ts';
import type { Role } from '../../../src/auth/roles.ts';

const ROLE_TEXT: Readonly<Record<Role, TextKey>> = {
  radiologist: 'roleRadiologist',
  staff: 'roleStaff',
  admin: 'roleAdmin',
  auditor: 'roleAuditor',
  partner: 'rolePartner',
};

/**
 * What an admin manages: staff accounts, and what the node is configured with (no patient data anywhere here). `self`
 * is the admin's own user name: their own account cannot be disabled from here.
 */
export function AdminScreen({ self }: { self: string }) {
  const t = useT();
  return (
    <section aria-labelledby="admin-title">
      <h1 id="admin-title">{t('adminTitle')}</h1>
      <Accounts self={self} />
      <Configuration />
    </section>
  );
}

function Accounts({ self }: { self: string }) {
  const t = useT();
  const { lang } = useLanguage();
  const [accounts, setAccounts] = useState<AccountView[]>();
  const [error, setError] = useState<unknown>();
  const [secret, setSecret] = useState<NewSecondFactor>();
  const [busy, setBusy] = useState<string>();
  const [adding, setAdding] = useState(false);

  const load = useCallback(() => {
    api<{ accounts: AccountView[] }>('GET', '/api/v1/accounts').then((r) => setAccounts(r.accounts), setError);
  }, []);
  useEffect(load, [load]);

  const change = async (a: AccountView, what: 'disable' | 'enable' | 'unlock' | 'reset-second-factor') => {
    if (what === 'reset-second-factor' && !window.confirm(t('resetConfirm', { name: a.name }))) return;
    setBusy(a.id);
    setError(undefined);
    try {
      const r = await api<{ account: AccountView } | NewSecondFactor>('POST', `/api/v1/accounts/${a.id}/${what}`, {});
      if ('totpSecret' in r) setSecret(r);
      load();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(undefined);
    }
  };

  return (
    <>
      <h2>{t('accounts')}</h2>
      <ErrorNote error={error} />
      {secret !== undefined ? <SecretHandover secret={secret} onDone={() => setSecret(undefined)} /> : null}
      <ListTable
        rows={accounts}
        loading={error === undefined}
        empty={t('noAccounts')}
        testId="accounts"
        headers={[t('username'), t('name'), t('role'), t('signsInWith'), t('state'), undefined]}
      >
        {(a) => (
          <tr key={a.id} className={a.disabled ? 'muted' : undefined}>
            <td>{a.username}</td>
            <td>
              {a.name}
              {a.uziRoleCode !== undefined ? <small className="muted"> · UZI {a.uziRoleCode}</small> : null}
            </td>
            <td>{t(ROLE_TEXT[a.role])}</td>
            <td>{a.source === 'local' ? t('sourceLocal') : t('sourceOidc')}</td>
            <td>
              {a.disabled ? (
                <span className="badge state-failed">{t('accountDisabled')}</span>
              ) : a.lockedUntil !== null ? (
                <span className="badge state-queued">
                  {t('accountLocked', { until: localTime(a.lockedUntil, lang) })}
                </span>
              ) : (
                <span className="badge state-delivered">{t('accountActive')}</span>
              )}
            </td>
            <td className="actions">
              {a.lockedUntil !== null && !a.disabled ? (
                <button type="button" disabled={busy === a.id} onClick={() => void change(a, 'unlock')}>
                  {t('unlock')}
                </button>
              ) : null}
              {a.source === 'local' && !a.disabled ? (
                <button type="button" disabled={busy === a.id} onClick={() => void change(a, 'reset-second-factor')}>
                  {t('resetSecondFactor')}
                </button>
              ) : null}
              {a.username === self ? null : a.disabled ? (
                <button type="button" disabled={busy === a.id} onClick={() => void change(a, 'enable')}>
                  {t('enable')}
                </button>
              ) : (
                <button type="button" disabled={busy === a.id} onClick={() => void change(a, 'disable')}>
                  {t('disable')}
                </button>
              )}
            </td>
          </tr>
        )}
      </ListTable>
      {adding ? (
        <AddAccount
          onCancel={() => setAdding(false)}
          onAdded={(r) => {
            setAdding(false);
            setSecret(r);
            load();
          }}
        />
      ) : (
        <p>
          <button type="button" className="primary" onClick={() => setAdding(true)}>
            {t('addAccount')}
          </button>
        </p>
      )}
    </>
  );
}

function AddAccount({ onAdded, onCancel }: { onAdded: (r: NewSecondFactor) => void; onCancel: () => void }) {
  const t = useT();
  const [username, setUsername] = useState('');
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('radiologist');
  const [uzi, setUzi] = useState('');
  const [organization, setOrganization] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      onAdded(
        await api<NewSecondFactor>('POST', '/api/v1/accounts', {
          username,
          name,
          role,
          password,
          ...(uzi.trim() !== '' ? { uziRoleCode: uzi.trim() } : {}),
          ...(role === 'partner' ? { organization } : {}),
        }),
      );
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <form className="form add-account" onSubmit={(e) => void submit(e)} aria-labelledby="add-account-title">
      <h3 id="add-account-title">{t('addAccount')}</h3>
      <ErrorNote error={error} />
      <div className="fields">
        <Field label={t('username')} hint={t('usernameHint')}>
          <input value={username} required autoComplete="off" onChange={(e) => setUsername(e.target.value)} />
        </Field>
        <Field label={t('name')} hint={t('nameHint')}>
          <input value={name} required autoComplete="off" onChange={(e) => setName(e.target.value)} />
        </Field>
        <Field label={t('role')}>
          <select value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {(Object.keys(ROLE_TEXT) as Role[]).map((r) => (
              <option key={r} value={r}>
                {t(ROLE_TEXT[r])}
              </option>
            ))}
          </select>
        </Field>
        {role === 'partner' ? (
          <Field label={t('partnerOrganization')} hint={t('partnerOrganizationHint')}>
            <input value={organization} required autoComplete="off" onChange={(e) => setOrganization(e.target.value)} />
          </Field>
        ) : (
          <Field label={t('uziRoleCode')} hint={t('uziRoleHint')}>
            <input value={uzi} autoComplete="off" placeholder="01.015" onChange={(e) => setUzi(e.target.value)} />
          </Field>
        )}
        <Field label={t('initialPassword')} hint={t('initialPasswordHint')}>
          <input
            type="password"
            value={password}
            required
            autoComplete="new-password"
            onChange={(e) => setPassword(e.target.value)}
          />
        </Field>
      </div>
      <div className="buttons">
        <button type="submit" className="primary" disabled={busy}>
          {t('addAccount')}
        </button>
        <button type="button" onClick={onCancel}>
          {t('cancel')}
        </button>
      </div>
    </form>
  );
}

/** The one time a TOTP secret is shown: as a QR code to scan on the spot, and as text to type. */
function SecretHandover({ secret, onDone }: { secret: NewSecondFactor; onDone: () => void }) {
  const t = useT();
  const [qr, setQr] = useState<string>();
  useEffect(() => {
    QRCode.toDataURL(secret.totpUri, { errorCorrectionLevel: 'M', margin: 2, width: 200 }).then(setQr, () =>
      setQr(undefined),
    );
  }, [secret.totpUri]);
  return (
    <div className="form secret" role="region" aria-labelledby="secret-title" data-testid="new-secret">
      <h3 id="secret-title">{t('secretTitle', { name: secret.account.name })}</h3>
      <p>{t('secretHint')}</p>
      <div className="secret-body">
        {qr !== undefined ? <img src={qr} width={200} height={200} alt={t('secretQrAlt')} /> : null}
        <div>
          <p>
            {t('secretText')}
            <br />
            <code data-testid="totp-secret">{secret.totpSecret.replace(/(.{4})/g, '$1 ').trim()}</code>
          </p>
          <button type="button" className="primary" onClick={onDone}>
            {t('secretDone')}
          </button>
        </div>
      </div>
    </div>
  );
}

const PURPOSE_TEXT: Readonly<Record<string, TextKey>> = {
  transfer: 'purposeTransfer',
  consultation: 'purposeConsultation',
  internal: 'purposeInternal',
  retrieval: 'purposeRetrieval',
};

/** The node as configured: read here, changed in its configuration file (which the start-up check validates). */
function Configuration() {
  const t = useT();
  const [c, setC] = useState<NodeConfigurationView>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    api<NodeConfigurationView>('GET', '/api/v1/configuration').then(setC, setError);
  }, []);
  const partnerName = (ura: string | undefined): string =>
    ura === undefined ? t('anyone') : (c?.exchange?.partners.find((p) => p.ura === ura)?.name ?? `URA ${ura}`);
  return (
    <>
      <h2>{t('configuration')}</h2>
      <p className="muted">{t('configurationHint')}</p>
      <ErrorNote error={error} />
      {c === undefined && error === undefined ? <Loading /> : null}
      {c !== undefined ? (
        <div className="config" data-testid="configuration">
          <dl className="summary">
            <dt>{t('organization')}</dt>
            <dd>
              {c.node.organization.name} · URA {c.node.organization.ura}
            </dd>
            <dt>{t('ourAeTitle')}</dt>
            <dd>
              {c.dimse.aeTitle} ·{' '}
              {c.dimse.listeners.map((l) => `${l.host}:${l.port}${l.tls ? ' (TLS)' : ''}`).join(', ')}
            </dd>
            <dt>{t('retention')}</dt>
            <dd>
              {c.retentionDays > 0 ? t('retentionDays', { days: String(c.retentionDays) }) : t('retentionOff')} ·{' '}
              {t('auditRetention', { years: String(c.auditRetentionYears) })}
            </dd>
            <dt>{t('signInPolicy')}</dt>
            <dd>
              {t('signInPolicyText', {
                idle: String(c.signIn.sessionIdleMinutes),
                max: String(c.signIn.sessionMaxHours),
                attempts: String(c.signIn.lockoutAttempts),
              })}
              {c.signIn.oidc ? ` · ${t('sourceOidc')}` : ''}
            </dd>
          </dl>
          <h3>{t('dicomPeers')}</h3>
          <table className="list" data-testid="dicom-peers">
            <thead>
              <tr>
                <th>AE title</th>
                <th>{t('address')}</th>
                <th>{t('description')}</th>
              </tr>
            </thead>
            <tbody>
              {c.dimse.peers.map((p) => (
                <tr key={`${p.aeTitle}@${p.host}`}>
                  <td>{p.aeTitle}</td>
                  <td>
                    {p.host}
                    {p.port !== undefined ? `:${p.port}` : ''}
                    {p.tls ? ' (TLS)' : ''}
                  </td>
                  <td>{p.description ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {c.exchange !== undefined ? (
            <>
              <h3>{t('partners')}</h3>
              <table className="list" data-testid="partners">
                <thead>
                  <tr>
                    <th>{t('name')}</th>
                    <th>URA</th>
                    <th>{t('address')}</th>
                  </tr>
                </thead>
                <tbody>
                  {c.exchange.partners.map((p) => (
                    <tr key={p.ura}>
                      <td>{p.name}</td>
                      <td>{p.ura}</td>
                      <td>{p.baseUrl ?? t('receivesOnly')}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <h3>{t('routing')}</h3>
              <ol data-testid="routing">
                {c.exchange.routing.map((r, i) => (
                  <li key={i}>
                    {t('routingRule', {
                      from: partnerName(r.from),
                      purpose: r.purpose !== undefined ? t(PURPOSE_TEXT[r.purpose] ?? 'any') : t('any'),
                    })}{' '}
                    →{' '}
                    <strong>
                      {r.action === 'forward' ? t('routingForward', { pacs: r.destination ?? '' }) : t('routingHold')}
                    </strong>
                  </li>
                ))}
                <li>
                  {t('routingOtherwise')} → <strong>{t('routingHold')}</strong>
                </li>
              </ol>
            </>
          ) : null}
          <Doctor />
        </div>
      ) : null}
    </>
  );
}

const LEVEL_CLASS = { critical: 'state-failed', warning: 'state-queued', ok: 'state-delivered' } as const;

/** `beeldbrug doctor` from the workspace: this node's configuration, its own ports and each PACS, probed now. */
function Doctor() {
  const t = useT();
  const [findings, setFindings] = useState<DoctorView['findings']>();
  const [running, setRunning] = useState(false);
  const [error, setError] = useState<unknown>();
  const run = () => {
    setRunning(true);
    setError(undefined);
    api<DoctorView>('GET', '/api/v1/doctor')
      .then((r) => setFindings(r.findings), setError)
      .finally(() => setRunning(false));
  };
  return (
    <>
      <h3>{t('doctor')}</h3>
      <p className="muted">{t('doctorHint')}</p>
      <button type="button" onClick={run} disabled={running}>
        {running ? t('doctorRunning') : t('doctorRun')}
      </button>
      <ErrorNote error={error} />
      {findings !== undefined ? (
        <table className="list" data-testid="doctor">
          <tbody>
            {findings.map((f, i) => (
              <tr key={i}>
                <td>
                  <span className={`badge ${LEVEL_CLASS[f.level]}`}>{t(`level_${f.level}`)}</span>
                </td>
                <td>{f.subject}</td>
                <td>
                  {f.finding}
                  {f.fix !== undefined ? (
                    <>
                      <br />
                      <small className="muted">{f.fix}</small>
                    </>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </>
  );
}
