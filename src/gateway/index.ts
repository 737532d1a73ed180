export {
  outgoingInstance,
  virtualPacs,
  type IncomingStudy,
  type VirtualPacs,
  type VirtualPacsOptions,
} from './virtual-pacs.ts';
export { Prefetcher, type PrefetchOptions, type PrefetchOutcome, type PrefetchRule } from './prefetch.ts';
export { hl7Listener, type Hl7ListenerOptions } from './hl7/listener.ts';
export { Hl7Error, Hl7Message } from './hl7/message.ts';
export { orderOf, type Order } from './hl7/order.ts';
export type { MllpServer } from './hl7/mllp-server.ts';
export { imagingManifest, type ManifestSource, type ManifestStudy } from './xca/imaging-manifest.ts';
export {
  registerRespondingGateway,
  XCA_ROOT,
  XCA_TRANSACTIONS,
  type RespondingGatewayDeps,
} from './xca/responding-gateway.ts';
export { XcaCommunity, type CommunityConfig, type XcaCommunityOptions } from './xca/initiating-gateway.ts';
