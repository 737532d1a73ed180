/**
 * What a signed-in person may do. A partner is an account of another organization: it sees only its own folders (the
 * shares made to it, its uploads into quarantine), on the web and over SFTP, and nothing of the workspace. The UZI role code (e.g. 01.015 radiologist) is kept beside it for the audit trail:
 * the role decides access here, the UZI code says to an auditor what profession acted.
 */
export const ROLES = ['radiologist', 'staff', 'admin', 'auditor', 'partner'] as const;
export type Role = (typeof ROLES)[number];

export interface Account {
  id: string;
  username: string;
  name: string;
  role: Role;
  uziRoleCode?: string;
  source: 'local' | 'oidc';
  /** A partner account's organization (a clinic, a teleradiology service): what its folders and the audit trail name. */
  organization?: string;
  /**
   * Who made the account (an admin, or the operator of `beeldbrug user add`): for a partner, the person of the hospital
   * the audit trail names as responsible for what the partner does outside a share.
   */
  createdBy?: { id: string; name: string };
}

export interface Session {
  account: Account;
  /** Signed in with two factors (password + TOTP, or an identity provider that says it checked two). */
  twoFactor: boolean;
  createdAt: string;
  expiresAt: string;
  /** When the password must be changed, for accounts whose passwords expire (partners). */
  passwordExpiresAt?: string;
}
