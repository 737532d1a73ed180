import { Fragment, useCallback, useEffect, useState } from 'react';
import { api, type Destinations } from '../api.ts';
import { dicomDate, localTime, personName } from '../format.ts';
import { type TextKey, useLanguage, useT } from '../i18n.tsx';
import { Empty, ErrorNote, Loading } from '../ui-parts.tsx';
import type { InboxView } from '../../../src/exchange/inbox-routes.ts';
import type { OutboxView } from '../../../src/exchange/outbox-routes.ts';

const STATE_TEXT: Readonly<Record<string, TextKey>> = {
  queued: 'stateQueued',
  sending: 'stateSending',
  delivered: 'stateDelivered',
  failed: 'stateFailed',
  open: 'stateOpen',
  imported: 'stateImported',
  importing: 'accepting',
  held: 'stateHeld',
  rejected: 'stateRejected',
  cancelled: 'stateCancelled',
};

const PURPOSE_TEXT: Readonly<Record<string, TextKey>> = {
  transfer: 'purposeTransfer',
  consultation: 'purposeConsultation',
  internal: 'purposeInternal',
  retrieval: 'purposeRetrieval',
};

export function StateBadge({ state }: { state: string }) {
  const t = useT();
  const key = STATE_TEXT[state];
  return <span className={`badge state-${state}`}>{key !== undefined ? t(key) : state}</span>;
}

const RECEIVER_TEXT = {
  delivered: 'receiverDelivered',
  imported: 'receiverImported',
  rejected: 'receiverRejected',
  failed: 'receiverFailed',
} as const;

/** What became of a delivered study at the receiver, and why it was rejected there. */
export function AtReceiver({ at }: { at: OutboxView['atReceiver'] }) {
  const t = useT();
  if (at === null) return null;
  return (
    <span className={`at-receiver receiver-${at.state}`} data-testid="at-receiver">
      {t('atReceiver')}: {t(RECEIVER_TEXT[at.state])}
      {at.reason !== null ? ` (${at.reason})` : ''}
    </span>
  );
}

/**
 * Arrived and sent studies side by side: a held study is accepted into the PACS or rejected with a reason from here; a
 * failed or cancelled send is tried again, one not yet delivered is stopped.
 */
export function TransfersScreen() {
  const t = useT();
  const { lang } = useLanguage();
  const [inbox, setInbox] = useState<InboxView[]>();
  const [outbox, setOutbox] = useState<OutboxView[]>();
  const [destinations, setDestinations] = useState<Destinations>();
  const [error, setError] = useState<unknown>();
  const [accepting, setAccepting] = useState<ReadonlySet<string>>(new Set());
  const [busy, setBusy] = useState<ReadonlySet<string>>(new Set());
  /** The held study whose rejection is being written (its reason asked for in a row below it). */
  const [rejecting, setRejecting] = useState<string>();

  const load = useCallback(() => {
    setError(undefined);
    api<{ transfers: InboxView[] }>('GET', '/api/v1/inbox').then((r) => setInbox(r.transfers), setError);
    api<{ transfers: OutboxView[] }>('GET', '/api/v1/outbox').then((r) => setOutbox(r.transfers), setError);
  }, []);
  useEffect(() => {
    load();
    api<Destinations>('GET', '/api/v1/destinations').then(setDestinations, setError);
  }, [load]);

  const partnerName = (ura: string): string => destinations?.partners.find((p) => p.ura === ura)?.name ?? ura;

  const accept = async (transferId: string, destination: string): Promise<void> => {
    setAccepting((a) => new Set([...a, transferId]));
    try {
      await api('POST', `/api/v1/inbox/${transferId}/accept`, destination !== '' ? { destination } : {});
      load();
    } catch (err) {
      setError(err);
      setAccepting((a) => new Set([...a].filter((id) => id !== transferId)));
    }
  };

  /** A decision about one transfer (reject, retry, cancel): the list is reloaded after it, or the error shown. */
  const decide = async (transferId: string, path: string, body: unknown = {}): Promise<void> => {
    setBusy((b) => new Set([...b, transferId]));
    setError(undefined);
    try {
      await api('POST', path, body);
      load();
    } catch (err) {
      setError(err);
    } finally {
      setBusy((b) => new Set([...b].filter((id) => id !== transferId)));
    }
  };

  return (
    <section aria-labelledby="transfers-title">
      <h1 id="transfers-title">{t('navTransfers')}</h1>
      <button type="button" onClick={load}>
        {t('refresh')}
      </button>
      <ErrorNote error={error} />
      <h2>{t('inbox')}</h2>
      {inbox === undefined || destinations === undefined ? <Loading /> : null}
      {inbox?.length === 0 ? <Empty>{t('noTransfers')}</Empty> : null}
      {inbox !== undefined && destinations !== undefined && inbox.length > 0 ? (
        <table className="list" data-testid="inbox">
          <thead>
            <tr>
              <th>{t('from')}</th>
              <th>{t('asSent')}</th>
              <th>{t('filedAs')}</th>
              <th>{t('study')}</th>
              <th>{t('purpose')}</th>
              <th>{t('reason')}</th>
              <th>{t('state')}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {inbox.map((i) => (
              <Fragment key={i.transferId}>
                <tr data-transfer={i.transferId}>
                  <td>
                    {partnerName(i.from)}
                    <br />
                    <small className="muted">{i.sender.name}</small>
                  </td>
                  <td>
                    {personName(i.patient.name)}
                    <br />
                    <small>
                      {i.patient.patientId}
                      {i.patient.bsn !== undefined ? ` · BSN ${i.patient.bsn}` : ''}
                      {i.patient.birthDate !== undefined ? ` · ${dicomDate(i.patient.birthDate, lang)}` : ''}
                    </small>
                  </td>
                  <td>
                    {i.patient.filedAs.refused !== undefined ? (
                      <span className="error">
                        {t('refusedFiling')}: {i.patient.filedAs.refused}
                      </span>
                    ) : (
                      i.patient.filedAs.patientId
                    )}
                  </td>
                  <td>
                    {dicomDate(i.study.studyDate, lang)} {i.study.description ?? ''}
                    <br />
                    <small>
                      {i.instances} {t('images').toLowerCase()}
                    </small>
                  </td>
                  <td>
                    {PURPOSE_TEXT[i.purpose] !== undefined ? t(PURPOSE_TEXT[i.purpose]!) : i.purpose}
                    {i.urgency === 'urgent' ? <strong> · {t('urgent')}</strong> : null}
                  </td>
                  <td className="reason">{i.reason}</td>
                  <td>
                    <StateBadge
                      state={i.state !== 'delivered' ? i.state : accepting.has(i.transferId) ? 'importing' : 'held'}
                    />
                    {i.rejection !== undefined ? (
                      <small className="rejection">
                        <br />
                        {i.rejection.by.name}: {i.rejection.reason}
                      </small>
                    ) : null}
                  </td>
                  <td className="actions">
                    {i.state === 'delivered' && !accepting.has(i.transferId) && rejecting !== i.transferId ? (
                      <>
                        <AcceptButton pacs={destinations?.pacs ?? []} onAccept={(d) => void accept(i.transferId, d)} />
                        <button type="button" onClick={() => setRejecting(i.transferId)}>
                          {t('reject')}
                        </button>
                      </>
                    ) : null}
                  </td>
                </tr>
                {rejecting === i.transferId && i.state === 'delivered' ? (
                  <tr className="reject-row">
                    <td colSpan={8}>
                      <RejectForm
                        busy={busy.has(i.transferId)}
                        onCancel={() => setRejecting(undefined)}
                        onReject={(reason) =>
                          void decide(i.transferId, `/api/v1/inbox/${i.transferId}/reject`, { reason }).then(() =>
                            setRejecting(undefined),
                          )
                        }
                      />
                    </td>
                  </tr>
                ) : null}
              </Fragment>
            ))}
          </tbody>
        </table>
      ) : null}
      <h2>{t('outbox')}</h2>
      {outbox === undefined ? <Loading /> : null}
      {outbox?.length === 0 ? <Empty>{t('noTransfers')}</Empty> : null}
      {outbox !== undefined && outbox.length > 0 ? (
        <table className="list" data-testid="outbox">
          <thead>
            <tr>
              <th>{t('time')}</th>
              <th>{t('to')}</th>
              <th>{t('purpose')}</th>
              <th>{t('instances')}</th>
              <th>{t('state')}</th>
              <th>{t('lastError')}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {outbox.map((o) => (
              <tr key={o.transferId}>
                <td>{localTime(o.createdAt, lang)}</td>
                <td>{o.toName ?? o.to}</td>
                <td>
                  {PURPOSE_TEXT[o.purpose] !== undefined ? t(PURPOSE_TEXT[o.purpose]!) : o.purpose}
                  {o.urgency === 'urgent' ? <strong> · {t('urgent')}</strong> : null}
                </td>
                <td>
                  {o.sent} / {o.needed ?? o.instances ?? '?'}
                </td>
                <td>
                  <StateBadge state={o.state} /> <AtReceiver at={o.atReceiver} />
                </td>
                <td className="error">{o.lastError ?? ''}</td>
                <td className="actions">
                  <a href={`#/transfer/${o.transferId}`}>{t('open')}</a>
                  {o.state === 'failed' || o.state === 'cancelled' ? (
                    <button
                      type="button"
                      disabled={busy.has(o.transferId)}
                      onClick={() => void decide(o.transferId, `/api/v1/outbox/${o.transferId}/retry`)}
                    >
                      {t('retrySend')}
                    </button>
                  ) : null}
                  {o.state === 'queued' || o.state === 'sending' || o.state === 'failed' ? (
                    <button
                      type="button"
                      disabled={busy.has(o.transferId)}
                      onClick={() => void decide(o.transferId, `/api/v1/outbox/${o.transferId}/cancel`)}
                    >
                      {t('cancelSend')}
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

function AcceptButton({
  pacs,
  onAccept,
}: {
  pacs: readonly { aeTitle: string; description?: string }[];
  onAccept: (destination: string) => void;
}) {
  const t = useT();
  const [destination, setDestination] = useState(pacs[0]?.aeTitle ?? '');
  return (
    <span className="accept">
      <PacsSelect pacs={pacs} value={destination} onChange={setDestination} />
      <button type="button" className="primary" onClick={() => onAccept(destination)}>
        {t('accept')}
      </button>
    </span>
  );
}

/** Which PACS a study goes into, when the node has more than one; with one there is nothing to choose. */
export function PacsSelect(p: {
  pacs: readonly { aeTitle: string; description?: string }[];
  value: string;
  onChange: (aeTitle: string) => void;
}) {
  if (p.pacs.length < 2) return null;
  return (
    <select aria-label="PACS" value={p.value} onChange={(e) => p.onChange(e.target.value)}>
      {p.pacs.map((x) => (
        <option key={x.aeTitle} value={x.aeTitle}>
          {x.description ?? x.aeTitle}
        </option>
      ))}
    </select>
  );
}

/** Rejecting a held study asks why first: the reason is kept with the transfer and shown to colleagues. */
export function RejectForm({
  busy,
  onReject,
  onCancel,
}: {
  busy: boolean;
  onReject: (reason: string) => void;
  onCancel: () => void;
}) {
  const t = useT();
  const [reason, setReason] = useState('');
  return (
    <form
      className="reject"
      onSubmit={(e) => {
        e.preventDefault();
        if (reason.trim() !== '') onReject(reason.trim());
      }}
    >
      <label>
        {t('rejectReason')}
        <input
          autoFocus
          value={reason}
          maxLength={1000}
          required
          onChange={(e) => setReason(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Escape') onCancel();
          }}
        />
      </label>
      <button type="submit" className="danger" disabled={busy || reason.trim() === ''}>
        {t('rejectConfirm')}
      </button>
      <button type="button" onClick={onCancel}>
        {t('cancel')}
      </button>
      <small className="muted">{t('rejectHint')}</small>
    </form>
  );
}
