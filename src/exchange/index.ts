export { registerHelloRoute } from './hello-route.ts';
export { Inbox, type IncomingTransfer } from './inbox.ts';
export { parseManifest, type Manifest, Purpose } from './manifest.ts';
export { decidePurpose } from './purpose-decision.ts';
export { registerTransferRoutes } from './transfer-routes.ts';
export { registerUploadRoute } from './upload-route.ts';
export { signReceipt, verifyReceipt, type ReceiptClaims } from './receipt.ts';
export { sendStudy, type SendProgress, type SendRequest, type SendResult } from './send-study.ts';
export { routeFor, type Route, type RoutingRule } from './routing-rule.ts';
