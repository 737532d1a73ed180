/**
 * What a signed-in person may do. The UZI role code (e.g. 01.015 radiologist) is kept beside it for the audit trail:
 * the role decides access here, the UZI code says to an auditor what profession acted.
 */
export const ROLES = ['radiologist', 'staff', 'admin', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

export interface Account {
  id: string;
  username: string;
  name: string;
  role: Role;
  uziRoleCode?: string;
  source: 'local' | 'oidc';
}

export interface Session {
  account: Account;
  /** Signed in with two factors (password + TOTP, or an identity provider that says it checked two). */
  twoFactor: boolean;
  createdAt: string;
  expiresAt: string;
}
