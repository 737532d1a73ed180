export { httpsSmsGateway, type Mailer, type MailMessage, type SmsGateway, smtpMailer } from './messages.ts';
export { mobileNumber, type RecipientView, registerShareRoutes, type ShareRouteDeps } from './share-routes.ts';
export {
  openPostgresShareStore,
  openSqliteShareStore,
  type Recipient,
  type Share,
  type ShareStore,
  type ShareStudyRef,
} from './share-store.ts';
export {
  type AccessHistoryEntry,
  CODE_MINUTES,
  type LinkStatus,
  type PartnerActor,
  type PartnerShare,
  RECIPIENT_SESSION_MINUTES,
  Shares,
  type ShareState,
  type ShareView,
  WRONG_CODES_LOCK,
} from './shares.ts';
export { type PacsImport, Quarantine, type QuarantineView } from './upload/quarantine.ts';
export { registerUploadRoutes } from './upload/upload-routes.ts';
export {
  openPostgresUploadStore,
  openSqliteUploadStore,
  type Upload,
  type UploadStore,
} from './upload/upload-store.ts';
export type { RefusalKind } from './upload/intake.ts';
/**
 * The SFTP server for partner accounts, with ssh2 and its native crypto: loaded only by a node that serves SFTP, as
 * every other node would spend some 40 ms of each start and command on it.
 */
export const loadSftp = (): Promise<typeof import('./sftp/sftp-side.ts')> => import('./sftp/sftp-side.ts');
export { offlineViewerPage } from './offline-viewer.ts';
