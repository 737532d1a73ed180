export { startNode, type RunningNode } from './hospital-node.ts';
export { admit, resolvePeers, type AllowedPeer } from './peer-allow-list.ts';
export { readTlsFiles } from './tls-files.ts';
export { PacsSource, pacsSourceFor } from './pacs-source.ts';
export { openAuditTrail } from './audit-trail.ts';
export { openAccounts } from './accounts.ts';
