export { createTestCa, issueNodeCertificate, organizationOf, type IssuedCertificate, type Organization } from './test-pki.ts';
