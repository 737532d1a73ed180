// Where the web app's viewer reads a share (see share-view-routes.ts). Kept apart so the browser's code can import it
// without the server's.

/** A share's recipient's viewer: the share of their session. */
export const RECIPIENT_VIEW_ROOT = '/share/v1/dicomweb';

/** A partner's viewer: one share of its download folder. */
export const PARTNER_VIEW_ROOT = '/partner/v1/shares/:shareId/dicomweb';

export const partnerViewRoot = (shareId: string): string => PARTNER_VIEW_ROOT.replace(':shareId', shareId);
