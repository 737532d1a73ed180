export { registerHelloRoute } from './hello-route.ts';
export { openPostgresInbox, openSqliteInbox, type Inbox, type IncomingTransfer } from './inbox.ts';
export { registerInboxRoutes, type FiledAs, type InboxView } from './inbox-routes.ts';
export { parseManifest, type Manifest, Purpose } from './manifest.ts';
export { decidePurpose } from './purpose-decision.ts';
export { registerTransferRoutes } from './transfer-routes.ts';
export { PACKED_INSTANCE_TYPE, registerUploadRoute } from './upload-route.ts';
export { signReceipt, verifyReceipt, type ReceiptClaims } from './receipt.ts';
export { sendStudy, type SendProgress, type SendRequest, type SendResult } from './send-study.ts';
export { routeFor, type Route, type RoutingRule } from './routing-rule.ts';
export {
  openPostgresOutbox,
  openSqliteOutbox,
  Outbox,
  type OutgoingRequest,
  type OutgoingState,
  type OutgoingTransfer,
} from './outbox.ts';
export { OutboxWorker, defaultRetryPolicy, type RetryPolicy } from './outbox-worker.ts';
export { registerOutboxRoutes, type OutboxView } from './outbox-routes.ts';
export { findPartner, queueSend, type StudyLocation, type StudySource } from './queue-send.ts';
export { importAbout, importGrounds, sendGrounds, type AccessPoint } from './audit-events.ts';
export { coercePatient, decideIdentity, type IdentityDecision, type PatientIdentityRule } from './patient-identity.ts';
export { type ArrivalNotice, ArrivalNotifier, arrivalNotice } from './arrival-notifier.ts';
export { TransferWatch, type WatchedTransfer } from './transfer-watch.ts';
