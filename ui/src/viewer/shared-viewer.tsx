import { useT } from '../i18n.tsx';
import { Viewer } from './lazy-viewer.tsx';

/**
 * A shared study in the web app's viewer, for its recipient or partner: read from the share's own DICOMweb root
 * (`root`), in the browser, with nothing downloaded; no comparison, as a share holds only what was shared.
 */
export function SharedViewer(p: { root: string; studyInstanceUid: string; onClose: () => void }) {
  const t = useT();
  return (
    <div className="shared-viewer">
      <div className="buttons">
        <button type="button" onClick={p.onClose}>
          {t('backToShare')}
        </button>
      </div>
      <Viewer root={p.root} studyInstanceUid={p.studyInstanceUid} compare={false} />
    </div>
  );
}
