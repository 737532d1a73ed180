export { createTestCa, issueNodeCertificate, organizationOf, type IssuedCertificate, type Organization } from './test-pki.ts';
export { signJws, verifyJws, type JwsVerification } from './jws.ts';
