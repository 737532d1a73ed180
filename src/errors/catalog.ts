/**
 * Every error the node reports on purpose, with a stable code, the HTTP status it maps to and, where a DICOM peer
 * is told, the DIMSE status (PS3.4 Annex B/C, PS3.7 Annex C). One table, so an operator who sees a code in a log or
 * an API answer finds one meaning for it.
 */
export const ErrorCatalog = {
  CONFIG_INVALID: { http: 500, summary: 'the configuration file is not valid' },
  CONFIG_NOT_FOUND: { http: 500, summary: 'the configuration file cannot be read' },
  KEY_FILE_PROBLEM: { http: 500, summary: 'a key or certificate file cannot be used' },
  AUDIT_TRAIL_BROKEN: {
    http: 500,
    summary:
      'the audit trail does not reach the witness of its newest record (records removed, or the file emptied or replaced); `beeldbrug audit verify` says where',
  },
  CONFIG_INSECURE: {
    http: 500,
    summary:
      'the configuration would leave patient data open (a port without TLS, no admin, an empty trust list, a key file others may read, the store key as audit key, an expired own certificate, a public CA as trust list, a peer at a wildcard address); the message says what to fix',
  },
  DATABASE_UNREACHABLE: {
    http: 503,
    summary:
      'the database server cannot be reached or does not let the node in (address, database, user, password, TLS); the message says which',
  },
  DATA_NOT_MIGRATED: {
    http: 500,
    summary:
      'records the node kept in its data folder are not in the database server it is now configured for; `beeldbrug migrate` moves them',
  },
  LISTEN_FAILED: { http: 500, summary: 'a configured port cannot be opened (in use, or not allowed)' },
  DIMSE_PEER_UNKNOWN: { http: 403, summary: 'the AE title and host pair is not on the allow-list' },
  MOVE_DESTINATION_UNKNOWN: {
    http: 400,
    dimse: 0xa801,
    summary: 'the C-MOVE destination AE title is not a known peer with a port',
  },
  DATASET_INVALID: { http: 400, dimse: 0xc000, summary: 'the data set cannot be parsed' },
  DATASET_MISMATCH: {
    http: 400,
    dimse: 0xa900,
    summary: 'the data set does not match the command or request (SOP class, instance UID, or the study named)',
  },
  IDENTIFIER_INVALID: {
    http: 400,
    dimse: 0xa900,
    summary: 'the query identifier is not valid for this information model',
  },
  DIGEST_MISMATCH: { http: 422, summary: 'the instance does not have the size and SHA-256 the manifest announced' },
  INSTANCE_NOT_EXPECTED: { http: 422, summary: 'the instance is not in the transfer manifest' },
  PATIENT_BSN_CONFLICT: {
    http: 409,
    dimse: 0xa900,
    summary: 'the patient id is already stored with another BSN: two people, never merged',
  },
  STUDY_PATIENT_CONFLICT: { http: 409, dimse: 0xa900, summary: 'the study is already stored under another patient' },
  OUT_OF_RESOURCES: { http: 507, dimse: 0xa700, summary: 'the node cannot store more data (disk full)' },
  STORE_FAILED: { http: 500, dimse: 0x0110, summary: 'storing failed' },
  PARTNER_UNREACHABLE: { http: 502, summary: 'the partner node cannot be reached' },
  PARTNER_TIMEOUT: { http: 504, summary: 'the partner node did not answer in time' },
  PARTNER_REFUSED: { http: 502, summary: 'the partner node refused the request' },
  PARTNER_IDENTITY_MISMATCH: {
    http: 502,
    summary:
      "the server at the partner's address presents a certificate of another organization (URA) than the partner's; nothing was sent",
  },
  PARTNER_UNKNOWN: {
    http: 404,
    dimse: 0xa801,
    summary: 'the organization is not a partner this node can send to (exchange.partners, with a baseUrl)',
  },
  PATIENT_IDENTITY_UNRESOLVED: {
    http: 409,
    summary:
      'the arriving study cannot be filed under a local patient by the configured rule (exchange.patientIdentity); it stays in the inbox',
  },
  PACS_UNREACHABLE: {
    http: 502,
    summary: "the hospital's PACS cannot be reached to fetch a study (exchange.fetchFrom)",
  },
  PACS_RETRIEVE_FAILED: { http: 502, summary: 'the PACS did not deliver the whole study' },
  SEND_NOT_ALLOWED: {
    http: 422,
    summary:
      'this purpose does not allow the send (internal across organizations, or a consultation without consent reference)',
  },
  BSN_INVALID: { http: 400, summary: 'not a valid BSN: nine digits that pass the elfproef' },
  REGISTRY_UNREACHABLE: {
    http: 502,
    summary: 'the localization and consent registry cannot be reached or did not answer',
  },
  REGISTRY_NOT_ALLOWED: {
    http: 403,
    summary:
      "this registry client may not do this (a care provider records only the patient's choices about itself; a patient portal registers and asks nothing); the detail says what",
  },
  CONSENT_REVOKED: { http: 409, summary: 'the consent is revoked and stays as it was; record a new one' },
  RELEASE_REFUSED: {
    http: 403,
    summary: "the registry does not permit releasing this patient's data to the requester (no consent, or a denial)",
  },
  RELEASE_WITHOUT_REGISTRY: {
    http: 403,
    summary: 'this node releases patient data to another organization only with a permit from a registry, and has none',
  },
  REQUEST_INVALID: { http: 400, summary: 'the request does not have the expected shape' },
  ASSERTION_INVALID: {
    http: 401,
    summary:
      'the XUA (SAML) assertion is missing, not signed by a trusted identity provider, expired, not meant for this gateway, or lacks who asks, their organization, the purpose or the patient',
  },
  SIGN_IN_RATE_LIMITED: {
    http: 429,
    summary: 'too many failed sign-ins from this address, or from all together; Retry-After says when to try again',
  },
  SHARE_LINK_CLOSED: {
    http: 410,
    summary:
      'the share link no longer opens: it expired, was revoked, is locked after wrong codes, or is used up (the answer says which, and nothing about the patient)',
  },
  SHARE_CODE_WRONG: {
    http: 401,
    summary: 'the code is wrong, already used or older than 10 minutes; after 5 wrong codes the link locks',
  },
  SHARE_RATE_LIMITED: {
    http: 429,
    summary: 'too many codes asked for or tried from this address; Retry-After says when to try again',
  },
  SHARE_NOT_SENT: {
    http: 502,
    summary:
      'the e-mail or SMS could not be handed to the mail server or SMS gateway (refused, or no answer); nothing was shared',
  },
  UPLOAD_REFUSED: {
    http: 422,
    summary:
      'the uploaded file is not taken in: not DICOM and not a zip, or a zip that is unsafe (entries outside its folder, a zip bomb) or broken',
  },
  UPLOAD_OFFSET_CONFLICT: {
    http: 409,
    summary: 'the upload goes on from another offset than sent (tus Upload-Offset); ask it with HEAD and resume there',
  },
  UPLOAD_TOO_LARGE: { http: 413, summary: 'the upload is larger than this node takes (share.maxUploadBytes)' },
  ACCOUNT_EXISTS: { http: 409, summary: 'an account with this user name exists on this node' },
  ACCOUNT_INVALID: {
    http: 400,
    summary:
      'the account cannot be made or changed so (user name, name, UZI role code, password, or the last enabled admin); the message says which rule',
  },
  ACCOUNT_NOT_FOUND: { http: 404, summary: 'no account with this id on this node' },
  COMMAND_LINE_INVALID: {
    http: 400,
    summary:
      'the command line is not valid: an unknown command or option, a missing or invalid value (the CLI exits 2; --help shows the usage)',
  },
  NOT_FOUND: { http: 404, summary: 'no such object' },
  TRANSFER_NOT_FOUND: { http: 404, summary: 'no such transfer (of your organization) at this node' },
  TRANSFER_NOT_OPEN: {
    http: 409,
    summary: 'the transfer takes no more instances: it is delivered, imported, rejected or failed (`state` says which)',
  },
  TRANSFER_INCOMPLETE: {
    http: 409,
    summary: 'the transfer cannot be committed: `missing` names the instances still needed',
  },
  TRANSFER_NOT_DELIVERED: {
    http: 409,
    summary: 'only a delivered (complete, verified) study that waits in the inbox can be accepted or rejected',
  },
  TRANSFER_STATE_CONFLICT: {
    http: 409,
    summary:
      'the send cannot be changed in its state: only a failed or cancelled send is retried, only one not yet delivered is cancelled (`state` says which it is)',
  },
  TRANSFER_ID_CONFLICT: { http: 409, summary: 'this transfer id was opened with another manifest' },
  MANIFEST_INVALID: { http: 400, summary: 'the manifest is not valid; `problems` names each field' },
  CONSENT_REFERENCE_MISSING: {
    http: 422,
    summary: 'a consultation or retrieval needs the reference of the explicit consent it rests on',
  },
  INTERNAL_ACROSS_ORGANIZATIONS: { http: 403, summary: 'internal transfers stay within one organization (one URA)' },
  MULTIPART_INVALID: { http: 400, summary: 'the multipart body is broken; `stored` names what was stored before it' },
  CONTENT_ENCODING_INVALID: { http: 400, summary: 'the compressed body cannot be decompressed' },
  PACKED_INSTANCE_INVALID: {
    http: 400,
    summary:
      'a packed instance (uncompressed pixels sent as JPEG-LS frames) cannot be restored; nothing of it is stored',
  },
  PACS_NOT_CONFIGURED: {
    http: 422,
    summary:
      'no PACS for this: name a destination (a DICOM peer with a port), or configure exchange.fetchFrom to search and fetch from the PACS',
  },
  REQUEST_REPLAYED: { http: 409, summary: 'this signed request was already used; sign a new one' },
  SIGN_IN_REQUIRED: {
    http: 401,
    summary: 'no signed-in session, or it has ended: sign in (beeldbrug login) and try again',
  },
  ACCESS_DENIED: { http: 403, summary: 'the signed-in role, or the calling system, may not do this' },
  PATIENT_UNMAPPED: {
    http: 404,
    dimse: 0xc000,
    summary:
      'the Patient ID is not a BSN and the node knows no BSN for it (it holds no study of that patient with one): ask by BSN',
  },
  REQUESTER_UNNAMED: {
    http: 403,
    summary:
      'the person who asks cannot be named to other hospitals (no UZI role code on the account, or no person at all)',
  },
  NODE_UNREACHABLE: {
    http: 502,
    summary: 'the node cannot be reached at the address given at sign-in (is it running? the right --node and --ca?)',
  },
  SEND_NOT_DELIVERED: {
    http: 504,
    summary:
      'the study was not delivered within the time the sender would wait; the node keeps trying until it gives up',
  },
  PASSWORD_EXPIRED: {
    http: 403,
    summary:
      'the password has expired (partner accounts): sign in again with the same password and code, and a new password (told only after both factors were right)',
  },
  SIGN_IN_FAILED: {
    http: 401,
    summary:
      'sign-in failed: the user name, password or code is not right, or the account is locked (one answer for all, on purpose)',
  },
  IDENTITY_PROVIDER_UNREACHABLE: {
    http: 502,
    summary: "the hospital's identity provider (auth.oidc) cannot be reached",
  },
  BODY_TOO_LARGE: { http: 413, summary: 'the request body is larger than this route accepts' },
  RENDERING_UNSUPPORTED: {
    http: 406,
    summary:
      'the node cannot render this image (a compressed transfer syntax it has no decoder for, such as RLE, or a photometric interpretation it does not draw); retrieve the instance or its frames instead',
  },
  UNSUPPORTED_MEDIA_TYPE: { http: 415, summary: 'the route does not accept this content-type' },
  TRANSFER_SYNTAX_UNSUPPORTED: {
    http: 406,
    summary:
      'the data cannot be given in the transfer syntax asked for (only as stored, or decoded into an uncompressed one); ask for transfer-syntax=* to get it as stored',
  },
  ROUTE_NOT_FOUND: {
    http: 404,
    summary: 'no route with this method and path (a wrong method answers this too, so that routes are not probed)',
  },
  INTERNAL: { http: 500, dimse: 0x0110, summary: 'an unexpected error; details are in the node log' },
} as const satisfies Record<string, { http: number; dimse?: number; summary: string }>;

export type ErrorCode = keyof typeof ErrorCatalog;
