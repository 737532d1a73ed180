/** Patient identity: Dutch BSN validation and generation. */
export { BSN_ISSUER_OID, isValidBsn, randomBsn } from './bsn.ts';
