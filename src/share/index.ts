export { httpsSmsGateway, type Mailer, type MailMessage, type SmsGateway, smtpMailer } from './messages.ts';
export { mobileNumber, type RecipientView, registerShareRoutes, type ShareRouteDeps } from './share-routes.ts';
export { type Recipient, type Share, type ShareStore, type ShareStudyRef, SqliteShareStore } from './share-store.ts';
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
export { SqliteUploadStore, type Upload } from './upload/upload-store.ts';
export type { RefusalKind } from './upload/intake.ts';
export { hostKeyFingerprint, SftpServer } from './sftp/sftp-server.ts';
export { sftpHostKey } from './sftp/host-key.ts';
export { offlineViewerPage } from './offline-viewer.ts';
