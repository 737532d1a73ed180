import { useCallback, useEffect, useState } from 'react';
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

/** Arrived and sent studies side by side; a held study is accepted into the PACS from here. */
export function TransfersScreen() {
  const t = useT();
  const { lang } = useLanguage();
  const [inbox, setInbox] = useState<InboxView[]>();
  const [outbox, setOutbox] = useState<OutboxView[]>();
  const [destinations, setDestinations] = useState<Destinations>();
  const [error, setError] = useState<unknown>();
  const [accepting, setAccepting] = useState<ReadonlySet<string>>(new Set());

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
              <tr key={i.transferId} data-transfer={i.transferId}>
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
                  <StateBadge state={accepting.has(i.transferId) && i.state === 'delivered' ? 'importing' : i.state} />
                </td>
                <td className="actions">
                  {i.state === 'delivered' && !accepting.has(i.transferId) ? (
                    <AcceptButton pacs={destinations?.pacs ?? []} onAccept={(d) => void accept(i.transferId, d)} />
                  ) : null}
                </td>
              </tr>
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
                  <StateBadge state={o.state} />
                </td>
                <td className="error">{o.lastError ?? ''}</td>
                <td className="actions">
                  <a href={`#/transfer/${o.transferId}`}>{t('open')}</a>
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
      {pacs.length > 1 ? (
        <select aria-label="PACS" value={destination} onChange={(e) => setDestination(e.target.value)}>
          {pacs.map((p) => (
            <option key={p.aeTitle} value={p.aeTitle}>
              {p.description ?? p.aeTitle}
            </option>
          ))}
        </select>
      ) : null}
      <button type="button" className="primary" onClick={() => onAccept(destination)}>
        {t('accept')}
      </button>
    </span>
  );
}
