import { useEffect, useRef, useState } from 'react';
import type { OutboxView } from '../../../src/exchange/outbox-routes.ts';
import { api, ApiError } from '../api.ts';
import { duration, localTime, megabytes } from '../format.ts';
import { useLanguage, useT } from '../i18n.tsx';
import { ErrorNote, Loading } from '../ui-parts.tsx';
import { AtReceiver, StateBadge } from './transfers.tsx';

/**
 * One outgoing transfer as it goes: the node answers when it changed (long poll), so following a send costs one
 * request per change. Rate and time left are measured here from what the node reports.
 */
export function TransferScreen({ transferId }: { transferId: string }) {
  const t = useT();
  const { lang } = useLanguage();
  const [transfer, setTransfer] = useState<OutboxView>();
  const [error, setError] = useState<unknown>();
  const first = useRef<{ at: number; bytes: number; sent: number } | undefined>(undefined);
  const [now, setNow] = useState(() => Date.now());

  useEffect(() => {
    const abort = new AbortController();
    let after: string | undefined;
    const follow = async (): Promise<void> => {
      for (;;) {
        const q = after !== undefined ? `?after=${encodeURIComponent(after)}&waitSeconds=20` : '';
        const v = await api<OutboxView>('GET', `/api/v1/outbox/${transferId}${q}`, undefined, abort.signal);
        if (first.current === undefined || v.state === 'queued')
          first.current = { at: Date.now(), bytes: v.bytesSent, sent: v.sent };
        setNow(Date.now());
        setTransfer(v);
        if (v.state === 'delivered' || v.state === 'failed') return;
        after = v.updatedAt;
      }
    };
    follow().catch((err: unknown) => {
      if (!(err instanceof DOMException && err.name === 'AbortError')) setError(err);
    });
    return () => abort.abort();
  }, [transferId]);

  if (error instanceof ApiError && transfer === undefined) return <ErrorNote error={error} />;
  if (transfer === undefined) return <Loading />;
  const f = first.current;
  const seconds = f !== undefined ? (now - f.at) / 1000 : 0;
  const rate = f !== undefined && seconds > 0.5 ? (transfer.bytesSent - f.bytes) / seconds : undefined;
  const perInstance = f !== undefined && seconds > 0.5 ? (transfer.sent - f.sent) / seconds : undefined;
  const left = (transfer.needed ?? transfer.instances ?? 0) - transfer.sent;
  const eta =
    transfer.state === 'sending' && perInstance !== undefined && perInstance > 0 ? left / perInstance : undefined;
  const total = transfer.needed ?? transfer.instances;
  return (
    <section aria-labelledby="transfer-title">
      <h1 id="transfer-title">
        {t('transferTitle')} → {transfer.toName ?? transfer.to}
      </h1>
      <p>
        <StateBadge state={transfer.state} /> {transfer.urgency === 'urgent' ? <strong>{t('urgent')}</strong> : null}{' '}
        <AtReceiver at={transfer.atReceiver} />
      </p>
      <progress
        max={total ?? 1}
        value={transfer.state === 'delivered' ? (total ?? 1) : transfer.sent}
        aria-label={t('transferred')}
      />
      <dl className="summary" data-testid="transfer">
        <dt>{t('instances')}</dt>
        <dd data-testid="instances">
          {transfer.sent} / {total ?? '?'}
          {transfer.instances !== null && transfer.needed !== null && transfer.needed < transfer.instances
            ? ` (${transfer.instances - transfer.needed} ${lang === 'nl' ? 'waren er al' : 'already there'})`
            : ''}
        </dd>
        <dt>{t('transferred')}</dt>
        <dd>{megabytes(transfer.bytesSent)}</dd>
        <dt>{t('rate')}</dt>
        <dd>{rate !== undefined ? `${megabytes(rate)}/s` : '–'}</dd>
        <dt>{t('eta')}</dt>
        <dd>{eta !== undefined ? duration(eta) : '–'}</dd>
        <dt>{t('attempts')}</dt>
        <dd>{transfer.attempts}</dd>
        {transfer.lastError !== null ? (
          <>
            <dt>{t('lastError')}</dt>
            <dd className="error">{transfer.lastError}</dd>
          </>
        ) : null}
        <dt>{t('time')}</dt>
        <dd>{localTime(transfer.createdAt, lang)}</dd>
      </dl>
      {transfer.receipt !== null ? (
        <details className="receipt">
          <summary>{t('receiptSigned')}</summary>
          <pre>{transfer.receipt}</pre>
        </details>
      ) : null}
      <ErrorNote error={error} />
    </section>
  );
}
