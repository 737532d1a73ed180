import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Its name in a share's zip, beside DICOMDIR: what LEESMIJ.TXT tells the recipient to open. */
export const OFFLINE_VIEWER_NAME = 'BEKIJK-BEELDEN.html';

/**
 * The offline viewer as one file, for a share's zip: the built page (ui/offline-viewer.html) with its script put
 * inline, because a page opened from disk (file://) may not load a module script from a file beside it. Undefined when
 * the web app is not built: the zip then goes without it.
 */
export function offlineViewerPage(root: string): string | undefined {
  let html: string;
  try {
    html = readFileSync(join(root, 'offline-viewer.html'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return html
    .replace(/<link rel="modulepreload"[^>]*>\s*/g, '')
    .replace(/<script type="module" crossorigin src="\/(assets\/[\w.-]+\.js)"><\/script>/g, (_all, file: string) => {
      // A script that says "</script" inside itself would end the element early.
      const script = readFileSync(join(root, file), 'utf8')
        .replace(/<\/script/gi, '<\\/script')
        // Its source map stays behind: the zip does not carry it.
        .replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
      return `<script type="module">${script}</script>`;
    });
}
