import { useEffect, useState } from 'react';
import { api, type Destinations } from '../api.ts';
import { useT } from '../i18n.tsx';
import { ErrorNote, Loading } from '../ui-parts.tsx';

/** What an admin sees of the node's trust list and PACS: no patient data. */
export function AdminScreen() {
  const t = useT();
  const [d, setD] = useState<Destinations>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    api<Destinations>('GET', '/api/v1/destinations').then(setD, setError);
  }, []);
  return (
    <section aria-labelledby="admin-title">
      <h1 id="admin-title">{t('adminTitle')}</h1>
      <ErrorNote error={error} />
      {d === undefined && error === undefined ? <Loading /> : null}
      {d !== undefined ? (
        <>
          <h2>{t('partners')}</h2>
          <ul data-testid="partners">
            {d.partners.map((p) => (
              <li key={p.ura}>
                {p.name} · URA {p.ura}
              </li>
            ))}
          </ul>
          <h2>{t('pacs')}</h2>
          <ul>
            {d.pacs.map((p) => (
              <li key={p.aeTitle}>
                {p.aeTitle}
                {p.description !== undefined ? ` · ${p.description}` : ''}
              </li>
            ))}
          </ul>
        </>
      ) : null}
    </section>
  );
}
