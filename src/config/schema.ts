import { z } from 'zod';
import { databaseSchema, host, port } from './database-schema.ts';

/** PS3.5 6.2: an AE title is 1-16 characters of the default repertoire, no backslash or control characters, not all spaces. */
const aeTitle = z
  .string()
  .min(1, 'an AE title has 1 to 16 characters')
  .max(16, 'an AE title has 1 to 16 characters')
  .regex(/^[\x20-\x5b\x5d-\x7e]+$/, 'only printable ASCII without backslash')
  .refine((s) => s.trim().length > 0, 'must not be only spaces')
  .describe('AE title');

/** Files, not inline secrets: key material stays out of the configuration and out of logs. */
const tlsFiles = z.strictObject({
  certFile: z.string().min(1),
  keyFile: z.string().min(1),
  caFile: z.string().min(1).describe('the CA (or bundle) whose certificates we trust for peers'),
});

const dimseListener = z
  .strictObject({
    host,
    port,
    tls: tlsFiles.optional().describe('when set, this port speaks DICOM TLS (PS3.15 BCP 195) only'),
    plainDicom: z
      .strictObject({
        reason: z.string().min(10, 'say why this port may not use TLS (which modality or PACS, on which network)'),
      })
      .optional()
      .describe(
        'a port on another interface than loopback without TLS is refused unless this states why (a modality or PACS that cannot speak DICOM TLS); doctor lists it',
      ),
  })
  .refine((l) => l.tls === undefined || l.plainDicom === undefined, 'a listener has tls or plainDicom, not both');

/**
 * OpenID Connect sign-in (authorization code flow with PKCE). The identity provider is the source of who someone is,
 * which groups they are in and how they proved it; the node maps groups to its roles and `amr` to "two factors".
 */
const oidc = z.strictObject({
  issuer: z
    .url({ protocol: /^https$/ })
    .describe("the identity provider's issuer URL, https only (its discovery document is read from there)"),
  clientId: z.string().min(1),
  clientSecretFile: z
    .string()
    .min(1)
    .describe('a file holding the client secret the identity provider issued to this node'),
  redirectUri: z
    .url({ protocol: /^https$/ })
    .refine((u) => new URL(u).pathname === '/api/v1/session/oidc/callback', 'the path is /api/v1/session/oidc/callback')
    .describe(
      'the callback URL as registered at the identity provider: how browsers reach this node, ending in /api/v1/session/oidc/callback',
    ),
  caFile: z
    .string()
    .min(1)
    .optional()
    .describe("the CA that issued the identity provider's certificate, when it is not a public one"),
  scopes: z
    .array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/))
    .default(['openid', 'profile'])
    .refine((s) => s.includes('openid'), 'the scopes include openid'),
  claims: z
    .strictObject({
      username: z.string().min(1).default('preferred_username'),
      name: z.string().min(1).default('name'),
      groups: z.string().min(1).default('groups'),
      uziRoleCode: z
        .string()
        .min(1)
        .optional()
        .describe('the claim that carries the UZI role code (e.g. 01.015), when the identity provider has one'),
    })
    .default({ username: 'preferred_username', name: 'name', groups: 'groups' }),
  roles: z
    // The roles of auth/roles.ts (config depends on nothing but errors); node/accounts.ts hands these to auth, so a
    // role named here that auth lacks does not compile.
    .array(z.strictObject({ group: z.string().min(1), role: z.enum(['radiologist', 'staff', 'admin', 'auditor']) }))
    .min(1, 'map at least one group to a role: a person in no mapped group cannot sign in')
    .describe('group -> role, first match wins; a person in none of these groups is refused'),
  twoFactorAmr: z
    .array(z.string().min(1))
    .default(['mfa'])
    .describe(
      'amr values that count as two factors on their own; besides these, two methods of different kinds (e.g. pwd + otp) count',
    ),
});

/** What a DICOM peer's TLS client certificate must show; every field given must match. */
const peerCertificate = z
  .strictObject({
    ura: z
      .string()
      .regex(/^\d{8}$/, 'a URA number is 8 digits')
      .optional()
      .describe('the URA the certificate names (UZI server certificate otherName)'),
    subject: z
      .string()
      .min(1)
      .optional()
      .describe('the subject as the association log prints it, e.g. "C=NL,O=Ziekenhuis Noord,CN=pacs.noord.nl"'),
    sha256: z
      .string()
      .regex(/^(?:[0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$/, 'a SHA-256 fingerprint: 64 hex digits, colons allowed')
      .optional()
      .describe('the SHA-256 fingerprint of the certificate (openssl x509 -noout -fingerprint -sha256)'),
  })
  .refine(
    (c) => c.ura !== undefined || c.subject !== undefined || c.sha256 !== undefined,
    'name at least one of ura, subject, sha256',
  );

/**
 * A system of the hospital (RIS, EPD, by its certificate with our URA) that acts for a person passes a signed
 * assertion of that person (X-Beeldbrug-On-Behalf-Of): a JWT signed by a key trusted here (the identity provider's).
 */
const assertions = z.strictObject({
  audience: z.string().min(1).describe('the audience an assertion must name: this node (e.g. its HTTPS address)'),
  maxAgeSeconds: z
    .number()
    .int()
    .min(10)
    .max(3600)
    .default(300)
    .describe('an assertion issued longer ago than this is refused, even if it has not expired'),
  trustedKeys: z
    .array(
      z
        .strictObject({
          issuer: z.string().min(1),
          publicKeyFile: z.string().min(1).optional().describe('the PEM public key (SPKI) the issuer signs with'),
          jwksUri: z
            .url({ protocol: /^https$/ })
            .optional()
            .describe("where the issuer publishes its signing keys (an OpenID provider's jwks_uri)"),
          caFile: z
            .string()
            .min(1)
            .optional()
            .describe("the CA of the jwksUri server's certificate, when it is not a public one"),
        })
        .refine(
          (k) => (k.publicKeyFile !== undefined) !== (k.jwksUri !== undefined),
          'give either publicKeyFile or jwksUri',
        ),
    )
    .default([]),
  roleCodeClaim: z
    .string()
    .min(1)
    .default('uzi_role')
    .describe('the claim that carries the UZI role code (e.g. 01.015)'),
});

const dimsePeer = z.strictObject({
  aeTitle,
  host,
  certificate: peerCertificate
    .optional()
    .describe(
      'bind this peer to its TLS client certificate: it is then accepted only on a DICOM TLS port with that certificate. Without a binding, a peer on a TLS port must present a certificate of our own organization (URA)',
    ),
  port: port.optional().describe('needed when the peer is a C-MOVE destination or a PACS we query'),
  tls: z.boolean().default(false).describe('connect to this peer with DICOM TLS'),
  description: z.string().optional(),
  web: z
    .url({ protocol: /^https?$/ })
    .optional()
    .describe("the peer's web interface (a PACS viewer or admin console), which `beeldbrug doctor` probes"),
});

const partner = z.strictObject({
  ura: z.string().regex(/^\d{8}$/, 'a URA number is 8 digits'),
  name: z.string().min(1),
  baseUrl: z
    .url({ protocol: /^https$/ })
    .describe('where the partner node answers, https only')
    .optional(),
  aeTitle: aeTitle
    .optional()
    .describe(
      'a DICOM destination AE title that stands for this partner: a C-MOVE to it (the PACS\'s "send to" menu) queues a transfer',
    ),
  wireCompression: z
    .enum(['jpeg-ls', 'zstd'])
    .optional()
    .describe(
      'how uncompressed images travel to this partner, both lossless and restored byte for byte: jpeg-ls (the default; CT about 1.3x smaller than with zstd; a core packs about 100 MB/s, so best on links up to a few hundred Mbit/s) or zstd (about a third of the CPU: for a fast LAN)',
    ),
});

/** Node-to-node HTTPS: our certificate, the CA(s) partners' certificates must chain to, and the partners we trust. */
const exchange = z.strictObject({
  listen: z.strictObject({ host, port }),
  tls: tlsFiles,
  partners: z
    .array(partner)
    .default([])
    .describe('the trust list: only these organizations (by URA) may call node-to-node routes'),
  maxUploadBytes: z
    .number()
    .int()
    .min(1024 * 1024)
    .default(2 * 1024 * 1024 * 1024)
    .describe('largest upload request a partner may send'),
  studyStableSeconds: z
    .number()
    .min(0.1)
    .max(600)
    .default(3)
    .describe(
      "a study a PACS C-STOREs to a partner's AE title is queued once no association has stored to it for this long: a PACS may spread one send over several associations, and the study then still travels once",
    ),
  routing: z
    .array(
      z
        .strictObject({
          from: z
            .string()
            .regex(/^\d{8}$/, 'a URA number is 8 digits')
            .optional(),
          purpose: z.enum(['transfer', 'consultation', 'internal', 'retrieval']).optional(),
          action: z.enum(['forward', 'hold']),
          destination: aeTitle.optional().describe('the local PACS, a dimse peer with a port, for forward'),
        })
        .refine((r) => r.action === 'hold' || r.destination !== undefined, 'forward needs a destination AE title'),
    )
    .default([])
    .describe('where arriving studies go; the first matching rule decides; none means hold'),
  notify: z
    .strictObject({
      url: z
        .url({ protocol: /^https?$/ })
        .refine(
          (u) => u.startsWith('https:') || /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/]/.test(u),
          'https, or http on loopback only: the notice names the patient',
        )
        .describe(
          "the hospital's own endpoint (RIS, integration engine) that gets a JSON notice when a study has wholly arrived",
        ),
    })
    .optional()
    .describe('tell the hospital when a study has arrived and verified (urgent flagged); the inbox API shows it too'),
  patientIdentity: z
    .enum(['keep', 'bsn'])
    .default('keep')
    .describe(
      "how forwarded studies name the patient in the local PACS: keep (as sent) or bsn (Patient ID = BSN, national issuer; the sender's id kept in Other Patient IDs; no BSN, no forward)",
    ),
  fetchFrom: z
    .strictObject({
      aeTitle: aeTitle.describe('the PACS, a dimse peer with a port'),
      method: z
        .enum(['c-move', 'c-get'])
        .default('c-move')
        .describe("c-move (to this node's AE title; every PACS has it) or c-get"),
    })
    .optional()
    .describe(
      'where a study to send is fetched from when the node does not hold all of it; without it the node sends what it holds',
    ),
  outbox: z
    .strictObject({
      firstRetrySeconds: z.number().int().min(1).default(5),
      maxRetrySeconds: z.number().int().min(1).default(600),
      giveUpAfterHours: z.number().min(0.01).default(24),
    })
    .default({ firstRetrySeconds: 5, maxRetrySeconds: 600, giveUpAfterHours: 24 })
    .describe(
      'sending: a partner that cannot be reached is tried again with back-off (doubling) until the give-up time',
    ),
});

const ura = z.string().regex(/^\d{8}$/, 'a URA number is 8 digits');

const rateWindow = (attempts: number, windowSeconds: number) =>
  z
    .strictObject({
      attempts: z.number().int().min(1).max(100_000).default(attempts),
      windowSeconds: z.number().int().min(1).max(86_400).default(windowSeconds),
    })
    .default({ attempts, windowSeconds });

/** Sign-in attempts that failed or are still running, per client address and for all together, in sliding windows. */
const signInRateLimit = z
  .strictObject({
    perAddress: rateWindow(20, 600).describe(
      'one address (an IPv6 client per /64): beyond this it is answered 429 with Retry-After',
    ),
    global: rateWindow(200, 600).describe(
      'all addresses together: guessing from many addresses; beyond this every sign-in waits',
    ),
  })
  .default({ perAddress: { attempts: 20, windowSeconds: 600 }, global: { attempts: 200, windowSeconds: 600 } });

/** Sharing with patients and doctors elsewhere: a link by e-mail, a one-time code by SMS (docs/sharing.md). */
const share = z.strictObject({
  publicUrl: z
    .url({ protocol: /^https$/ })
    .describe("the address recipients open the link at: this node's HTTPS listener as the internet reaches it"),
  validDays: z.number().int().min(1).max(30).default(7).describe('how long a link holds'),
  maxOpens: z
    .number()
    .int()
    .min(1)
    .max(100)
    .default(10)
    .describe('how often a link may be opened with a code before it is used up'),
  maxUploadBytes: z
    .number()
    .int()
    .min(1024 * 1024)
    .default(5 * 1024 ** 3)
    .describe('the largest file a recipient may upload (a DVD holds 4.7 GB): larger ones are refused at the start'),
  disclaimer: z
    .string()
    .min(1)
    .max(4000)
    .default(
      'Deze beelden zijn persoonlijke medische gegevens. Bewaar ze zorgvuldig en deel ze alleen met wie u vertrouwt. Aan de beelden kunt u zonder uitleg van een arts geen conclusies verbinden.',
    )
    .describe('shown to the recipient before any download'),
  smtp: z
    .strictObject({
      host,
      port: port.default(587),
      from: z.string().min(3).describe('the sender the e-mail names: "Radiologie Ziekenhuis <beelden@ziekenhuis.nl>"'),
      username: z.string().min(1).optional(),
      passwordFile: z.string().min(1).optional().describe('the SMTP password, in a file of its own'),
      caFile: z.string().min(1).optional().describe("the CA of the mail server's certificate, when not a public one"),
    })
    .refine(
      (c) => (c.username !== undefined) === (c.passwordFile !== undefined),
      'give username and passwordFile together',
    )
    .describe('the mail server the links go out through; STARTTLS is required'),
  sms: z
    .strictObject({
      url: z.url({ protocol: /^https$/ }).describe('where the SMS gateway takes a message (POST, JSON)'),
      tokenFile: z.string().min(1).optional().describe("the gateway's bearer token, in a file of its own"),
      caFile: z.string().min(1).optional(),
      sender: z
        .string()
        .min(1)
        .max(11)
        .default('Beeldbrug')
        .describe('the sender name the phone shows (11 characters at most)'),
    })
    .describe('the SMS gateway the one-time codes go out through'),
  sftp: z
    .strictObject({
      host: host.default('0.0.0.0'),
      port: port.default(2222),
    })
    .optional()
    .describe(
      'the SFTP server for partner accounts (their upload and download folders); its host key is made at first start in <dataDir>/sftp-host-key; off when absent',
    ),
});

/** The localization and consent registry this node registers its patients with and asks before any timeline answer. */
const registry = z.strictObject({
  baseUrl: z
    .url({ protocol: /^https$/ })
    .describe('where the registry answers, https only (mutual TLS with the exchange certificate)'),
  networkKeyFile: z
    .string()
    .min(1)
    .describe("base64 of the network's pseudonym key; every node of the network has the same, the registry never"),
  timeoutSeconds: z.number().positive().max(60).default(5),
});

const timeline = z.strictObject({
  sourceTimeoutMs: z
    .number()
    .int()
    .min(100)
    .max(60_000)
    .default(3000)
    .describe('a source that has not answered by then is shown as timed out'),
  regionalSources: z
    .array(ura)
    .default([])
    .describe(
      'without a registry: the partners (URA, each with a baseUrl) a timeline asks instead; the answer says it did',
    ),
  externalAe: z
    .strictObject({
      aeTitle: aeTitle.describe("the AE title the PACS knows as the other hospitals' archive, e.g. BB_PRIORS"),
      callers: z
        .array(aeTitle)
        .min(1)
        .describe('the dimse peers (AE titles) that may query it: the PACS, not every modality'),
      retrieveIdleSeconds: z
        .number()
        .int()
        .min(10)
        .max(3600)
        .default(300)
        .describe(
          'a C-MOVE or C-GET through it whose source hospital sends nothing for this long gives up what has not arrived',
        ),
    })
    .optional()
    .describe(
      "the virtual PACS: a C-FIND for one patient under this AE title answers with the patient's studies at the other hospitals (the timeline), so the PACS's own query screen shows them",
    ),
});

/** A prefetch rule: which orders it applies to, and which priors are relevant for them. */
const prefetchRule = z.strictObject({
  name: z.string().min(1).max(80),
  modalities: z
    .array(z.string().regex(/^[A-Z0-9]{2,8}$/, 'a DICOM modality such as CT'))
    .optional()
    .describe("the ordered examination's modality (OBR-24, IPC-5) is one of these"),
  procedure: z
    .string()
    .min(1)
    .refine((p) => {
      try {
        new RegExp(p, 'i');
        return true;
      } catch {
        return false;
      }
    }, 'not a valid regular expression')
    .optional()
    .describe('a regular expression (case-insensitive) the procedure code or text (OBR-4, AIS-3) matches'),
  priorModalities: z
    .array(z.string().regex(/^[A-Z0-9]{2,8}$/))
    .optional()
    .describe('priors of these modalities'),
  priorBodyParts: z.array(z.string().min(1)).optional().describe('priors of these body parts (Body Part Examined)'),
  maxPriors: z.number().int().min(1).max(20).default(3),
  maxAgeYears: z.number().min(0.1).max(100).default(5),
});

/** The HL7 v2 listener for orders and appointments from the RIS, and what it prefetches. */
const hl7 = z
  .strictObject({
    listen: z.strictObject({ host, port }),
    tls: tlsFiles.optional().describe("MLLP over TLS: the RIS presents a client certificate of the CA's"),
    plainHl7: z
      .strictObject({ reason: z.string().min(10, 'say why the RIS cannot use TLS, and on which network') })
      .optional()
      .describe('without TLS on another interface than loopback the node refuses to start unless this states why'),
    senders: z
      .array(z.strictObject({ host, description: z.string().optional() }))
      .min(1)
      .describe('the allow-list: only these addresses may send (anything else is disconnected unread)'),
    prefetch: z.strictObject({
      destination: aeTitle.describe('the PACS the priors go into: a dimse peer with a port'),
      rules: z.array(prefetchRule).min(1).describe('the first rule that applies to an order decides'),
      retrieveIdleSeconds: z.number().int().min(10).max(3600).default(300),
    }),
  })
  .refine((h) => h.tls === undefined || h.plainHl7 === undefined, 'a listener has tls or plainHl7, not both');

const oidUrn = z.string().regex(/^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$/, 'urn:oid: followed by an OID');

/** The responding side of IHE XCA / XCA-I: other communities' gateways query and retrieve this node's imaging data. */
const xca = z
  .strictObject({
    homeCommunityId: oidUrn.describe(
      "this community's id in the XCA network, e.g. urn:oid:2.16.528.1.1007.3.3.12345678.1",
    ),
    repositoryUniqueId: z
      .string()
      .regex(/^[0-2](\.(0|[1-9][0-9]*))+$/, 'an OID')
      .describe('the OID of this node as repository and imaging document source (the manifests name it)'),
    identityProviders: z
      .array(
        z.strictObject({
          issuer: z.string().min(1).describe("the SAML Issuer of the hospital's identity provider"),
          certificateFile: z.string().min(1).describe('the PEM certificate it signs assertions with (RSA)'),
        }),
      )
      .optional()
      .describe(
        'the responding gateway: whose XUA assertions are accepted (an assertion signed by anyone else opens nothing); without it other communities cannot ask this node',
      ),
    audiences: z
      .array(z.string().min(1))
      .optional()
      .describe('the Audience values an assertion may name (default: the home community id)'),
    clockSkewSeconds: z.number().int().min(0).max(600).default(60),
    communities: z
      .array(
        z.strictObject({
          name: z.string().min(1).max(200),
          homeCommunityId: oidUrn,
          queryUrl: z
            .url({ protocol: /^https$/, error: 'an https:// URL (the gateway is reached with mutual TLS)' })
            .describe('its ITI-38 endpoint'),
          retrieveUrl: z
            .url({ protocol: /^https$/, error: 'an https:// URL (the gateway is reached with mutual TLS)' })
            .describe('its ITI-39 endpoint'),
          imagingRetrieveUrl: z
            .url({ protocol: /^https$/, error: 'an https:// URL (the gateway is reached with mutual TLS)' })
            .describe('its RAD-75 endpoint'),
        }),
      )
      .default([])
      .describe(
        "the initiating gateway: XCA communities the timeline asks beside the Beeldbrug nodes, with the exchange's certificate",
      ),
    assertionSigner: z
      .strictObject({
        issuer: z.string().min(1).describe('the Issuer the communities know this node by'),
        keyFile: z.string().min(1).describe('the RSA private key the node signs XUA assertions with'),
        certificateFile: z.string().min(1).describe('its certificate, which the communities trust'),
      })
      .optional()
      .describe('the node as identity provider of its signed-in people toward the communities'),
  })
  .refine((x) => x.communities.length === 0 || x.assertionSigner !== undefined, {
    message: 'asking XCA communities needs assertionSigner: every request carries a signed XUA assertion',
    path: ['assertionSigner'],
  });

export const configSchema = z
  .strictObject({
    node: z.strictObject({
      name: z.string().min(1),
      organization: z.strictObject({
        name: z.string().min(1),
        ura: z.string().regex(/^\d{8}$/, 'a URA number is 8 digits'),
        agb: z
          .string()
          .regex(/^\d{8}$/, 'an AGB code is 8 digits')
          .optional()
          .describe('the Vektis AGB code, where the organization has one'),
      }),
    }),
    dataDir: z.string().min(1),
    store: z.strictObject({
      encryptionKeyFile: z.string().min(1).describe('base64 of a 32-byte AES-256 key; `beeldbrug init` writes one'),
      retentionDays: z
        .number()
        .min(0)
        .default(7)
        .describe(
          'the node holds transient copies, not an archive: instances received longer ago are purged (0 keeps them)',
        ),
      writeThreads: z
        .number()
        .int()
        .min(0)
        .max(256)
        .optional()
        .describe(
          'threads that encrypt, hash and write received instances while the node receives several at once; default 0, all on the thread that receives them',
        ),
      objects: z
        .strictObject({
          endpoint: z
            .url({ protocol: /^https?$/, error: 'the address of the service, e.g. https://rgw.example.local' })
            .describe('the S3-compatible service, e.g. https://rgw.example.local (Ceph RADOS gateway, MinIO, AWS)'),
          region: z.string().min(1).default('us-east-1'),
          bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name: 3-63 of a-z 0-9 . -'),
          accessKeyFile: z.string().min(1).describe('the access key id alone in a file (0600)'),
          secretKeyFile: z.string().min(1).describe('the secret access key alone in a file (0600)'),
          cacheGb: z
            .number()
            .positive()
            .default(100)
            .describe(
              'GB of instance files the data folder keeps once they are in the bucket, the least recently used leaving first (they stay in the bucket; files waiting for their upload always stay)',
            ),
        })
        .optional()
        .describe(
          'instance files in object storage, shared by the nodes of a hospital: still encrypted by the node, written through dataDir (an acknowledgement waits only for the local disk), then uploaded; left out: in dataDir only',
        ),
    }),
    database: databaseSchema.describe(
      'where the node keeps its records: SQLite files in dataDir (embedded, the default), or a PostgreSQL server that several nodes of one hospital share: the audit trail, the study indexes, the outbox and the inbox, the accounts, the shares and the uploads',
    ),
    audit: z.strictObject({
      keyFile: z
        .string()
        .min(1)
        .describe('base64 of a 32-byte key that chains the audit records (HMAC-SHA-256); `beeldbrug init` writes one'),
      retentionYears: z
        .number()
        .int()
        .min(5, 'NEN 7513 wants audit records kept at least 5 years')
        .max(115)
        .default(5)
        .describe('audit records older than this are pruned; purging images never purges their audit records'),
      witnessFile: z
        .string()
        .min(1)
        .optional()
        .describe(
          "a keyed note of the trail's newest record, kept apart from the audit file so records cut off its end are caught; default <dataDir>/audit-witness.json",
        ),
      atna: z
        .strictObject({
          host,
          port: port.default(6514),
          tls: tlsFiles.describe(
            "our client certificate and the CA of the audit repository's certificate (mutual TLS, RFC 5425)",
          ),
          pollMs: z
            .number()
            .int()
            .min(50)
            .max(60_000)
            .default(500)
            .describe('how often the exporter looks for new records'),
        })
        .optional()
        .describe(
          'also send every record as a DICOM audit message (PS3.15 A.5, IHE ATNA) over syslog on TLS to the audit repository',
        ),
    }),
    auth: z
      .strictObject({
        sessionIdleMinutes: z.number().int().min(1).max(480).default(30).describe('a session unused this long ends'),
        sessionMaxHours: z
          .number()
          .int()
          .min(1)
          .max(24)
          .default(12)
          .describe('a session ends this long after sign-in, in use or not'),
        partnerPasswordDays: z
          .number()
          .int()
          .min(30)
          .max(365)
          .default(90)
          .describe("how long a partner account's password holds before it must be changed (warned 14 days before)"),
        lockout: z
          .strictObject({
            attempts: z
              .number()
              .int()
              .min(3)
              .max(20)
              .default(5)
              .describe('consecutive failed sign-ins that lock an account'),
            minutes: z
              .number()
              .int()
              .min(1)
              .max(1440)
              .default(15)
              .describe('how long the lock holds, even for the right credentials'),
          })
          .default({ attempts: 5, minutes: 15 }),
        signInRateLimit: signInRateLimit.describe(
          'password sign-ins that failed (or are running), beside the per-account lockout; a successful sign-in does not count',
        ),
        oidc: oidc
          .optional()
          .describe("sign-in through the hospital's identity provider (OpenID Connect), beside local accounts"),
        assertions: assertions
          .optional()
          .describe("signed assertions with which the hospital's own systems act for a person"),
      })
      .default({
        sessionIdleMinutes: 30,
        sessionMaxHours: 12,
        partnerPasswordDays: 90,
        lockout: { attempts: 5, minutes: 15 },
        signInRateLimit: {
          perAddress: { attempts: 20, windowSeconds: 600 },
          global: { attempts: 200, windowSeconds: 600 },
        },
      }),
    log: z
      .strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
      .default({ level: 'info' }),
    dimse: z.strictObject({
      aeTitle,
      listeners: z.array(dimseListener).min(1),
      peers: z.array(dimsePeer).default([]).describe('the allow-list: only these AE title + host pairs may associate'),
      tlsClient: tlsFiles.optional().describe('our certificate when we connect to peers with tls: true'),
      maxPduLength: z
        .number()
        .int()
        .min(4096)
        .max(16 * 1024 * 1024)
        .default(256 * 1024),
      maxAssociations: z.number().int().min(1).max(1000).default(64),
      timeouts: z
        .strictObject({
          artimSeconds: z.number().positive().default(10),
          idleSeconds: z.number().positive().default(300),
        })
        .default({ artimSeconds: 10, idleSeconds: 300 }),
    }),
    exchange: exchange.optional().describe('node-to-node HTTPS with mutual TLS; off when absent'),
    registry: registry
      .optional()
      .describe(
        'the localization and consent registry; without it the timeline asks timeline.regionalSources and this node answers no timeline question',
      ),
    timeline: timeline.default({ sourceTimeoutMs: 3000, regionalSources: [] }),
    share: share.optional().describe('sharing studies with patients and doctors elsewhere; off when absent'),
    xca: xca
      .optional()
      .describe(
        "an XCA / XCA-I responding gateway on the exchange listener (mutual TLS with a partner's certificate, XUA assertions); off when absent",
      ),
    hl7: hl7
      .optional()
      .describe(
        'orders and appointments from the RIS (HL7 v2 over MLLP): the priors they need are fetched into the PACS',
      ),
  })
  .superRefine((c, ctx) => {
    if (c.xca !== undefined && c.exchange === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['xca'],
        message: 'the XCA gateway is served on the exchange HTTPS listener, to its partners: configure exchange too',
      });
    }
    if (c.auth.oidc !== undefined && c.exchange === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['auth', 'oidc'],
        message: 'sign-in is served on the exchange HTTPS listener: configure exchange too',
      });
    }
    // A partner's AE title names a destination of its own: it must not also be us or a DICOM peer.
    for (const [i, p] of (c.exchange?.partners ?? []).entries()) {
      if (
        p.aeTitle !== undefined &&
        (p.aeTitle === c.dimse.aeTitle || c.dimse.peers.some((peer) => peer.aeTitle === p.aeTitle))
      ) {
        ctx.addIssue({
          code: 'custom',
          path: ['exchange', 'partners', i, 'aeTitle'],
          message: `${p.aeTitle} is already this node's or a dimse peer's AE title`,
        });
      }
    }
    const fetchFrom = c.exchange?.fetchFrom;
    if (
      fetchFrom !== undefined &&
      !c.dimse.peers.some((p) => p.aeTitle === fetchFrom.aeTitle && p.port !== undefined)
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['exchange', 'fetchFrom', 'aeTitle'],
        message: `${fetchFrom.aeTitle} is not a dimse peer with a port`,
      });
    }
    if (c.share !== undefined && c.exchange === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['share'],
        message: 'shares are opened on the exchange HTTPS listener: configure exchange too',
      });
    }
    if (c.exchange === undefined && (c.registry !== undefined || c.timeline.regionalSources.length > 0)) {
      ctx.addIssue({
        code: 'custom',
        path: [c.registry !== undefined ? 'registry' : 'timeline'],
        message: 'the registry and the timeline need the exchange section (its certificate and partners)',
      });
    }
    const external = c.timeline.externalAe;
    if (external !== undefined) {
      if (c.exchange === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['timeline', 'externalAe'],
          message: 'the virtual PACS asks other hospitals: configure exchange too',
        });
      const taken = [
        c.dimse.aeTitle,
        ...c.dimse.peers.map((p) => p.aeTitle),
        ...(c.exchange?.partners ?? []).flatMap((p) => (p.aeTitle !== undefined ? [p.aeTitle] : [])),
      ];
      if (taken.includes(external.aeTitle))
        ctx.addIssue({
          code: 'custom',
          path: ['timeline', 'externalAe', 'aeTitle'],
          message: `${external.aeTitle} is already this node's, a dimse peer's or a partner's AE title`,
        });
      for (const [i, caller] of external.callers.entries()) {
        if (!c.dimse.peers.some((p) => p.aeTitle === caller))
          ctx.addIssue({
            code: 'custom',
            path: ['timeline', 'externalAe', 'callers', i],
            message: `${caller} is not a dimse peer`,
          });
      }
    }
    if (c.hl7 !== undefined) {
      if (c.exchange === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['hl7'],
          message: 'prefetch asks other hospitals: configure exchange (and registry) too',
        });
      const destination = c.hl7.prefetch.destination;
      if (!c.dimse.peers.some((p) => p.aeTitle === destination && p.port !== undefined))
        ctx.addIssue({
          code: 'custom',
          path: ['hl7', 'prefetch', 'destination'],
          message: `${destination} is not a dimse peer with a port`,
        });
    }
    for (const [i, u] of c.timeline.regionalSources.entries()) {
      if (!(c.exchange?.partners ?? []).some((p) => p.ura === u && p.baseUrl !== undefined)) {
        ctx.addIssue({
          code: 'custom',
          path: ['timeline', 'regionalSources', i],
          message: `${u} is not a partner with a baseUrl in exchange.partners`,
        });
      }
    }
    // A forward destination must be a DICOM peer we can connect to.
    for (const [i, r] of (c.exchange?.routing ?? []).entries()) {
      if (
        r.destination !== undefined &&
        !c.dimse.peers.some((p) => p.aeTitle === r.destination && p.port !== undefined)
      ) {
        ctx.addIssue({
          code: 'custom',
          path: ['exchange', 'routing', i, 'destination'],
          message: `${r.destination} is not a dimse peer with a port`,
        });
      }
    }
  });

export type Config = z.output<typeof configSchema>;
export type DimseConfig = Config['dimse'];
export type DimsePeerConfig = DimseConfig['peers'][number];
export type TlsFilesConfig = z.output<typeof tlsFiles>;
export type OidcConfig = z.output<typeof oidc>;
export type AtnaConfig = NonNullable<Config['audit']['atna']>;
export type DatabaseConfig = Config['database'];
export type ExchangeConfig = z.output<typeof exchange>;
export type PartnerConfig = z.output<typeof partner>;
export type NodeRegistryConfig = z.output<typeof registry>;
export type ShareConfig = z.output<typeof share>;
