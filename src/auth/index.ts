export {
  createIntermediateCa,
  createTestCa,
  issueNodeCertificate,
  type CertificateProfile,
  type IssuedCertificate,
} from './test-pki.ts';
export { certificatesOf, chainProblem, organizationOf, type Organization } from './certificate-identity.ts';
export { signJws, verifyJws, type JwsVerification } from './jws.ts';
export { ROLES, type Account, type Role, type Session } from './roles.ts';
export {
  AccountError,
  AccountStore,
  migratePostgresAccounts,
  type AccountPolicy,
  type AccountStoreOptions,
  type AccountSummary,
  type PasswordCheck,
  type SignInResult,
  type SshKey,
} from './account-store.ts';
export { acceptTotp, newTotpSecret, totpCode, totpSealingKey, totpStep, totpUri } from './totp.ts';
export { MIN_PASSWORD_LENGTH } from './password.ts';
export {
  identityOf,
  isTwoFactor,
  OidcSignIn,
  type ExternalIdentity,
  type OidcOutcome,
  type OidcSettings,
  type DeviceSignIn,
} from './oidc.ts';
export {
  onBehalfOfVerifier,
  type AssertionIssuer,
  type CheckedAssertion,
  type OnBehalfOfOptions,
} from './on-behalf-of.ts';
export {
  rateKeyOf,
  SignInRateLimit,
  type SignInAdmission,
  type SignInRateLimitSettings,
} from './sign-in-rate-limit.ts';
