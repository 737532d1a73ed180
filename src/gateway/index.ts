export { virtualPacs, type VirtualPacs, type VirtualPacsOptions } from './virtual-pacs.ts';
