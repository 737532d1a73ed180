/** Values that differ between nodes; everything else in the template is a documented default. */
export interface TemplateValues {
  nodeName: string;
  organizationName: string;
  ura: string;
  aeTitle: string;
  dimsePort: number;
  /** Peers allowed to associate: a real PACS or modality goes here. */
  peers: readonly { aeTitle: string; host: string; port?: number; description: string }[];
}

/** A working, commented configuration; relative paths are relative to this file. */
export function configTemplate(v: TemplateValues): string {
  const peers =
    v.peers.length === 0
      ? '  peers: []\n'
      : '  peers:\n' +
        v.peers
          .map(
            (p) =>
              `    - aeTitle: ${JSON.stringify(p.aeTitle)}\n      host: ${JSON.stringify(p.host)}\n` +
              (p.port !== undefined ? `      port: ${p.port}\n` : '') +
              `      description: ${JSON.stringify(p.description)}\n`,
          )
          .join('');
  return `# Beeldbrug node configuration. Validated at start; an unknown or mistyped key is an error that names it and the
# key it most likely meant.

node:
  # Shown in logs and to partner hospitals.
  name: ${JSON.stringify(v.nodeName)}
  organization:
    name: ${JSON.stringify(v.organizationName)}
    # The organization's URA number (UZI register), 8 digits.
    ura: ${JSON.stringify(v.ura)}
    # agb: "12345678"   # the AGB code, where the organization has one

# Index (SQLite) and encrypted instance files live here. Keep it on a local disk with fsync that means it.
dataDir: ./data

store:
  # base64 of 32 random bytes; instance files are encrypted with AES-256-GCM under this key.
  # Without it the stored images cannot be read: back it up apart from the data.
  encryptionKeyFile: ./keys/store.key
  # Beeldbrug is a bridge, not an archive: received copies are purged this many days after they arrived (0 keeps them).
  retentionDays: 7
  # Instances arriving at once (several associations) are encrypted and written on this many threads beside the one
  # that receives them; default 0 keeps it all on that one (see README, Sizing a node).
  # writeThreads: 3
  # Nodes of one hospital can keep the instance files in S3-compatible object storage (Ceph's RADOS gateway, MinIO)
  # they share. Still encrypted here first; each file is written to dataDir (the acknowledgement waits only for that)
  # and then uploaded; dataDir then keeps up to cacheGb of them, the least recently used leaving first. The keys sit
  # alone in files (0600).
  # objects:
  #   endpoint: https://rgw.example.local
  #   bucket: beeldbrug
  #   accessKeyFile: ./keys/s3-access-key
  #   secretKeyFile: ./keys/s3-secret-key
  #   cacheGb: 100

# Where the node keeps its records. Left out: SQLite files in dataDir. Nodes of one hospital can share a PostgreSQL
# server instead: the audit trail, the study index, the exchange's outbox and inbox, the accounts, the shares and the
# uploads go there, and such nodes share audit.keyFile and store.encryptionKeyFile too. \`beeldbrug migrate\` moves an
# embedded node's records there. The password sits alone in a file (0600); tls verifies a server on another
# machine.
# database:
#   kind: postgresql
#   host: db.example.local
#   name: beeldbrug
#   user: beeldbrug
#   passwordFile: ./keys/db-password
#   tls: { caFile: ./keys/db-ca.crt }

audit:
  # base64 of 32 random bytes that key the audit trail's chain (NEN 7513): without it nobody can rewrite the trail
  # unseen, and \`beeldbrug audit verify\` needs it. Back it up apart from the data.
  keyFile: ./keys/audit.key
  # Audit records are kept this many years (at least 5); purging images never purges their audit records.
  retentionYears: 5
  # A keyed note of the newest audit record, rewritten at every record: \`beeldbrug audit verify\` and the start check
  # that the trail still reaches it (records cut off its end, an emptied or swapped file). Keep it outside dataDir, on
  # storage an intruder in the data folder cannot also roll back; when you move it, move the file with it.
  witnessFile: ./audit-witness/head.json
  # Also send every record to the hospital's audit repository (IHE ATNA): a DICOM audit message (PS3.15 A.5) in
  # syslog over TLS (RFC 5424/5425), mutual TLS with this node's certificate. A repository that is down delays
  # messages, it loses none: they go out from the trail when it is back.
  # atna:
  #   host: arr.example.nl
  #   port: 6514
  #   tls: { certFile: ./keys/node.crt, keyFile: ./keys/node.key, caFile: ./keys/arr-ca.crt }

# Staff sign in with a local account (password + TOTP code, both always) on the HTTPS listener; \`beeldbrug user add\`
# creates accounts, the first one an admin.
auth:
  sessionIdleMinutes: 30
  sessionMaxHours: 12
  # Consecutive failures that lock an account, and for how long.
  lockout: { attempts: 5, minutes: 15 }
  # Failed (or still running) sign-ins per client address and for all addresses together, in sliding windows; beyond
  # them the answer is 429 with Retry-After. A successful sign-in does not count.
  signInRateLimit:
    perAddress: { attempts: 20, windowSeconds: 600 }
    global: { attempts: 200, windowSeconds: 600 }
  # Sign-in through the hospital's identity provider (OpenID Connect, code flow with PKCE), beside local accounts.
  # Register this node there as a confidential client with the redirect URI below; groups map to roles (first match
  # wins, a person in none is refused) and the provider's amr says whether two factors were used (pwd + otp, mfa).
  # oidc:
  #   issuer: https://idp.example.nl/realms/ziekenhuis
  #   clientId: beeldbrug
  #   clientSecretFile: ./keys/oidc-client-secret
  #   redirectUri: https://beeldbrug.example.nl:8443/api/v1/session/oidc/callback
  #   claims: { username: preferred_username, name: name, groups: groups }
  #   roles:
  #     - { group: radiologie, role: radiologist }
  #     - { group: privacy-audit, role: auditor }
  # A system of this hospital (RIS, EPD: a client certificate with our URA) acts in its own name; to act for a person
  # it sends the identity provider's signed assertion of that person (a JWT: sub, name, uzi_role) in the header
  # X-Beeldbrug-On-Behalf-Of, checked against these keys.
  # assertions:
  #   audience: https://beeldbrug.example.nl:8443
  #   maxAgeSeconds: 300
  #   trustedKeys:
  #     - { issuer: https://idp.example.nl/realms/ziekenhuis, publicKeyFile: ./keys/idp-assertions.pub.pem }
  #     # or the keys the identity provider publishes (its jwks_uri), with caFile for a CA of the hospital's own:
  #     # - { issuer: https://idp.example.nl/realms/ziekenhuis, jwksUri: https://idp.example.nl/realms/ziekenhuis/protocol/openid-connect/certs }

log:
  # fatal | error | warn | info | debug | trace. The log never contains patient data.
  level: info

dimse:
  # Our AE title: PACS and modalities send to this name.
  aeTitle: ${JSON.stringify(v.aeTitle)}
  listeners:
    # Plain DICOM on loopback only. For other interfaces add a TLS listener (PS3.15 BCP 195), for example:
    #   - host: 0.0.0.0
    #     port: 2762
    #     tls: { certFile: ./keys/node.crt, keyFile: ./keys/node.key, caFile: ./keys/ca.crt }
    # The node refuses to start with plain DICOM on another interface unless the listener says why, e.g. for a
    # modality that cannot speak TLS, bound to the address on that modality network only:
    #   - host: 10.20.30.4
    #     port: 104
    #     plainDicom: { reason: "CT scanners on the modality VLAN cannot do DICOM TLS" }
    - host: 127.0.0.1
      port: ${v.dimsePort}
  # The allow-list: only these AE title + host pairs may open an association. Anything else is rejected
  # (A-ASSOCIATE-RJ) and logged. A port makes the peer usable as a C-MOVE destination.
  # On a TLS port a peer must also show a certificate of our own organization (URA), unless it is bound to its
  # certificate, e.g. a partner's PACS or a device certificate without organization:
  #   - { aeTitle: MIDDEN_PACS, host: 10.1.2.3, certificate: { ura: "10000002" } }
  #   - { aeTitle: CT1, host: 10.20.30.5, certificate: { sha256: "AB:CD:...", subject: "C=NL,O=...,CN=ct1" } }
${peers}  # Largest PDU we receive, in bytes.
  maxPduLength: 262144
  maxAssociations: 64
  timeouts:
    # The A-ASSOCIATE-RQ must arrive within this many seconds of connecting (PS3.8 ARTIM).
    artimSeconds: 10
    # An association with no traffic for this long is aborted.
    idleSeconds: 300

# Node-to-node exchange over HTTPS with mutual TLS; off while this section is absent. Certificates come from the
# hospital's PKI (\`beeldbrug pki\` makes test ones). Only organizations on the partner list (by URA) get in.
# exchange:
#   listen: { host: 0.0.0.0, port: 8443 }
#   tls: { certFile: ./keys/node.crt, keyFile: ./keys/node.key, caFile: ./keys/ca.crt }
#   partners:
#     # aeTitle: the PACS's "send to" menu gets a destination MIDDEN (this node's host and port); what it sends there
#     # goes to Midden. A C-MOVE naming MIDDEN as destination does the same.
#     # wireCompression: uncompressed images go JPEG-LS lossless coded (the default, smallest) or zstd (less CPU, for a
#     # fast LAN); either way the partner stores them byte for byte as they are here.
#     - { ura: "10000002", name: "Ziekenhuis Midden", baseUrl: "https://midden.example.nl:8443", aeTitle: MIDDEN }
#   # Where a study to send comes from when this node does not hold all of it: the PACS (a dimse peer with a port),
#   # by C-MOVE to this node's AE title (the PACS must know it as a destination) or by C-GET.
#   # fetchFrom: { aeTitle: PACS, method: c-move }
#   # A PACS may spread one "send to" over several associations; a study is queued once none has stored to it for this
#   # many seconds, so it still travels once.
#   # studyStableSeconds: 3
#   # What to do with arriving studies: the first matching rule wins; without one they are held in the inbox.
#   # routing:
#   #   - { from: "10000002", purpose: transfer, action: forward, destination: PACS }
#   #   - { action: hold }

# The timeline: earlier studies of a patient at the other hospitals the registry names (docs/registry.md). With
# externalAe the PACS sees them in its own query screen: add the AE title to the PACS as a DICOM archive at this node's
# host and port; a C-FIND for a patient lists the studies there, a C-MOVE brings one into the PACS.
# timeline:
#   sourceTimeoutMs: 3000
#   externalAe: { aeTitle: BB_PRIORS, callers: [PACS] }   # callers: dimse peers, the PACS and not every modality

# Prefetch: the RIS sends its orders (HL7 v2 ORM^O01, OMI^O23, SIU^S12 over MLLP); the priors the first fitting rule
# names are fetched from the other hospitals into the PACS before the examination is read. Needs exchange and registry.
# hl7:
#   listen: { host: 10.20.30.4, port: 2575 }
#   tls: { certFile: ./keys/node.crt, keyFile: ./keys/node.key, caFile: ./keys/ca.crt }   # the RIS: a certificate of our URA
#   senders: [{ host: 10.20.30.9, description: RIS }]
#   prefetch:
#     destination: PACS   # a dimse peer with a port
#     rules:
#       - { name: thorax, procedure: thorax, priorModalities: [CR, DX, CT], priorBodyParts: [CHEST], maxPriors: 3, maxAgeYears: 5 }
#       - { name: any, maxPriors: 2, maxAgeYears: 3 }

# An IHE XCA-I responding gateway (docs/xca-gateway.md): other communities' gateways query and retrieve this hospital's
# imaging data with a XUA assertion from an identity provider listed here, on the exchange listener (mutual TLS).
# xca:
#   homeCommunityId: urn:oid:2.16.528.1.1007.3.3.12345678.1
#   repositoryUniqueId: 2.16.528.1.1007.3.3.12345678.2
#   identityProviders: [{ issuer: https://idp.example.nl/saml, certificateFile: ./keys/idp.crt }]
#   # and the timeline asks these communities, with assertions the node signs for the person who asks:
#   communities:
#     - { name: Regio Oost, homeCommunityId: urn:oid:2.16.528.1.1007.3.3.87654321.1, queryUrl: https://xca.oost.example.nl/iti-38, retrieveUrl: https://xca.oost.example.nl/iti-39, imagingRetrieveUrl: https://xca.oost.example.nl/rad-75 }
#   assertionSigner: { issuer: urn:beeldbrug:example, keyFile: ./keys/xua.key, certificateFile: ./keys/xua.crt }

# Sharing studies with a patient or a doctor elsewhere (docs/sharing.md): a link by e-mail, a one-time code by SMS;
# neither opens anything alone. Needs the exchange section (recipients open the link on its HTTPS listener).
# share:
#   publicUrl: https://beelden.example.nl   # the HTTPS listener as recipients reach it
#   validDays: 7
#   maxUploadBytes: 5368709120   # the largest file a recipient may upload into quarantine (5 GiB)
#   smtp: { host: smtp.example.nl, port: 587, from: "Radiologie <beelden@example.nl>" }   # STARTTLS required
#   sms: { url: https://sms-gateway.example.nl/v1/messages, tokenFile: ./keys/sms.token, sender: Radiologie }
`;
}
