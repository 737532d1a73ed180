import { createHash, createHmac, randomBytes, randomInt, randomUUID, timingSafeEqual } from 'node:crypto';
import { SignInRateLimit, type SignInRateLimitSettings } from '../auth/index.ts';
import { type DeidOptions, Deidentifier } from '../deid/index.ts';
import { BeeldbrugError } from '../errors/index.ts';
import type { AuditAction, AuditOutcome, AuditRecord } from '../audit/index.ts';
import type { Logger } from '../log/index.ts';
import type { AccessGrounds, PatientData, PatientDataAccess, ReleasedInstance, SharedStudy } from '../studies/index.ts';
import type { Mailer, SmsGateway } from './messages.ts';
import type { UploadActor } from './upload/quarantine.ts';
import type { Recipient, Share, ShareStore, ShareStudyRef } from './share-store.ts';

/** A code by SMS holds this long, and only for the link it was sent for. */
export const CODE_MINUTES = 10;
/** Wrong codes in a row that lock a link (the right one resets the count). */
export const WRONG_CODES_LOCK = 5;
/** How long a recipient's session, opened with link and code, lasts: long enough to download a study over a slow line. */
export const RECIPIENT_SESSION_MINUTES = 60;

/** Code requests and code checks per address (and for all together): what the per-link lock misses, many links tried. */
export const SHARE_RATE_LIMIT: SignInRateLimitSettings = {
  perAddress: { attempts: 10, windowSeconds: 900 },
  global: { attempts: 300, windowSeconds: 900 },
};

/** Only `active` opens; the others say why not, and nothing else. */
export type ShareState = 'active' | 'expired' | 'revoked' | 'locked' | 'used-up';

export function stateOf(s: Share, now: number): ShareState {
  if (s.revokedAt !== null) return 'revoked';
  if (s.lockedAt !== null) return 'locked';
  if (Date.parse(s.expiresAt) <= now) return 'expired';
  if (s.opens >= s.maxOpens) return 'used-up';
  return 'active';
}

/** What staff see of a share: all of it, with its state now. */
export type ShareView = Share & { state: ShareState };

/** What a link tells anyone who has it, before the code: the hospital, and whether it still opens. No patient data. */
export interface LinkStatus {
  state: ShareState | 'unknown';
  hospital: string;
  /** While active: until when, and the last two digits of the phone the code goes to. */
  expiresAt?: string;
  phoneEndsWith?: string;
}

export interface SharesOptions {
  store: ShareStore;
  patientData: PatientData;
  mailer: Mailer;
  sms: SmsGateway;
  logger: Logger;
  /** This node's name (the access point of every record). */
  node: string;
  hospital: string;
  /** The hospital's URA: the people of the access history who work here are named with the hospital. */
  organizationUra: string;
  /** The links' base: the node's HTTPS address as recipients reach it. */
  publicUrl: string;
  validDays: number;
  maxOpens: number;
  /**
   * The key codes are hashed with, so a copy of the database alone does not give them away; de-identification keys
   * are derived from it too.
   */
  codeKey: Buffer;
  now?: () => number;
}

/** One access to the patient's data, as the patient reads it: when, who, what, and whether it was allowed. */
export interface AccessHistoryEntry {
  time: string;
  action: AuditAction;
  outcome: AuditOutcome;
  /** The person, system or hospital, by name. */
  who: string;
  kind: 'person' | 'system' | 'hospital' | 'recipient';
  /** Where a person works: this hospital by name, another by URA; null for systems and recipients. */
  organization: string | null;
  purpose: string | null;
}

/** A share opened for download or viewing: its instances, and the de-identifier they pass through when it is de-identified. */
export interface SharedDownload {
  share: Share;
  instances: ReleasedInstance[];
  deidentifier: Deidentifier | undefined;
}

/** A partner's zip name: the day shared, the modalities, and the share's first characters. */
export function partnerFileName(s: Share): string {
  const modalities = [...new Set(s.studies.flatMap((x) => x.modalities))].join('-') || 'studies';
  return `${s.createdAt.slice(0, 10)}_${modalities.replace(/[^A-Za-z0-9-]/g, '')}_${s.shareId.slice(0, 8)}.zip`;
}

/** A person who acts on shares (signed in): who the records and the share name. */
export interface ShareActor {
  access: PatientDataAccess;
  user: { id: string; name: string };
}

/** Where a recipient's request came from. */
export interface FromAddress {
  ip: string;
}

/** A partner organization's account, signed in (on the web with password and TOTP; over SFTP with password or key). */
export interface PartnerActor {
  account: { id: string; name: string; organization: string };
  /** Who at the hospital made the partner's account: responsible for what the partner does outside a share. */
  sponsor?: { id: string; name: string } | undefined;
  ip: string;
  /** How they signed in, as the audit trail names it. */
  authorization: string;
}

/** A share as its partner finds it in the download folder. */
export interface PartnerShare {
  shareId: string;
  /** The zip's name in the folder: the day it was shared, the modalities and the share (no patient data). */
  fileName: string;
  createdAt: string;
  expiresAt: string;
  studies: ShareStudyRef[];
  patientName: string | null;
  deidentified: boolean;
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/**
 * Shares: a person picks studies and a recipient; the node e-mails a link whose token (256 random bits) it keeps only
 * as a hash; opening the link sends a one-time code by SMS (6 digits, 10 minutes, kept as a keyed hash); link and code
 * together open a recipient session of an hour. Every step that touches the patient is recorded through the access
 * layer, in the name of the person or of the recipient; the steps before the code name the share, not the patient.
 */
export class Shares {
  readonly #o: SharesOptions;
  readonly #now: () => number;
  readonly #limit: SignInRateLimit;

  constructor(o: SharesOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.#limit = new SignInRateLimit(SHARE_RATE_LIMIT, this.#now);
  }

  /** Shares held studies with a recipient and e-mails the link; nothing is kept when the mail server does not take it. */
  async create(
    by: ShareActor,
    o: {
      studyInstanceUids: readonly string[];
      recipient: Recipient;
      validDays?: number | undefined;
      deidentify?: DeidOptions | undefined;
      /** The recipient may also upload (into quarantine); a share may then hold no studies: an upload request. */
      upload?: boolean | undefined;
    },
  ): Promise<ShareView> {
    const recipient = o.recipient;
    const shareId = randomUUID();
    const upload = o.upload === true;
    if (o.studyInstanceUids.length === 0 && !upload)
      throw new BeeldbrugError('REQUEST_INVALID', 'a share holds at least one study, or lets its recipient upload');
    const to =
      recipient.partner !== undefined
        ? `partner ${recipient.partner.organization}`
        : `${recipient.name} (${recipient.email}, ${recipient.mobile})`;
    const studies = await by.access.shareStudies(
      o.studyInstanceUids,
      `shared${o.deidentify !== undefined ? ' de-identified' : ''} with ${to}${upload ? ', who may upload' : ''}`,
      shareId,
    );
    const patients = new Set(studies.map((s) => s.patient.bsn ?? s.patient.patientId));
    if (patients.size > 1)
      throw new BeeldbrugError('REQUEST_INVALID', 'a share holds the studies of one patient; these are of several');
    const first = studies[0] as SharedStudy | undefined;
    // An upload request names no study, and no patient until something arrives: its making is recorded on its own.
    if (first === undefined)
      await by.access.record({
        action: 'share',
        outcome: 'success',
        description: `upload request sent to ${to}`,
        objects: { shareId },
      });
    const token = randomBytes(32).toString('base64url');
    const now = this.#now();
    const share: Share = {
      shareId,
      studies: studies.map((s) => ({
        studyInstanceUid: s.studyInstanceUid,
        studyDate: s.studyDate,
        description: s.description,
        modalities: s.modalities,
      })),
      recipient,
      patient:
        first === undefined
          ? {}
          : {
              ...(first.patient.bsn !== null ? { bsn: first.patient.bsn } : {}),
              patientId: first.patient.patientId,
            },
      patientName: first?.patient.name ?? null,
      createdBy: by.user,
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + (o.validDays ?? this.#o.validDays) * 86_400_000).toISOString(),
      maxOpens: this.#o.maxOpens,
      opens: 0,
      downloads: 0,
      wrongCodes: 0,
      lockedAt: null,
      revokedAt: null,
      revokedBy: null,
      deidentify: o.deidentify ?? null,
      upload,
    };
    await this.#o.store.insert(share, sha256(token));
    // A partner finds the share in its folder: there is no link to send (its token is never told to anyone).
    if (recipient.partner !== undefined) return this.#view(share);
    try {
      await this.#o.mailer.send(this.#linkMail(share, token));
    } catch (err) {
      await this.#o.store.remove(share.shareId);
      this.#o.logger.error({ err, shareId: share.shareId }, 'share: the e-mail with the link could not be sent');
      await by.access.record({
        action: 'share',
        outcome: 'failure',
        description: `share with ${recipient.name} not made: the e-mail could not be sent`,
        patient: share.patient,
        objects: { shareId },
      });
      throw new BeeldbrugError(
        'SHARE_NOT_SENT',
        'the mail server did not take the e-mail with the link; nothing was shared',
        {
          cause: err,
        },
      );
    }
    return this.#view(share);
  }

  /** Every share, newest first; what the list showed is recorded, one record per patient. */
  async list(by: ShareActor): Promise<ShareView[]> {
    const shares = await this.#o.store.list();
    const byPatient = new Map<string, Share>();
    for (const s of shares) byPatient.set(s.patient.bsn ?? s.patient.patientId ?? '', s);
    await by.access.recordAll(
      [...byPatient.values()].map((s) => ({
        action: 'query' as const,
        outcome: 'success' as const,
        description: 'shares listed',
        patient: s.patient,
        objects: {},
      })),
    );
    return shares.map((s) => this.#view(s));
  }

  /** Ends a share at once: its link and any open recipient session stop working. */
  async revoke(by: ShareActor, shareId: string): Promise<ShareView> {
    const share = await this.#o.store.get(shareId);
    if (share === undefined) throw new BeeldbrugError('NOT_FOUND', `no share ${shareId}`);
    await this.#o.store.revoke(shareId, by.user, new Date(this.#now()).toISOString());
    await by.access.record({
      action: 'share',
      outcome: 'success',
      description: `share with ${share.recipient.name} revoked`,
      patient: share.patient,
      objects: { shareId },
    });
    return this.#view((await this.#o.store.get(shareId)) ?? share);
  }

  /** What the link says before any code. An unknown token looks like nothing at all: 'unknown', the hospital. */
  async linkStatus(token: string): Promise<LinkStatus> {
    const share = await this.#byToken(token);
    const hospital = this.#o.hospital;
    if (share === undefined) return { state: 'unknown', hospital };
    const state = stateOf(share, this.#now());
    if (state !== 'active') return { state, hospital };
    return { state, hospital, expiresAt: share.expiresAt, phoneEndsWith: share.recipient.mobile.slice(-2) };
  }

  /** Sends a new code to the recipient's phone (any earlier one stops working). */
  async sendCode(token: string, from: FromAddress): Promise<{ phoneEndsWith: string; validMinutes: number }> {
    const admission = this.#admit(from);
    const share = await this.#openable(token);
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    await this.#o.store.setCode(share.shareId, {
      codeHash: this.#codeHash(share.shareId, code),
      expiresAt: new Date(this.#now() + CODE_MINUTES * 60_000).toISOString(),
    });
    const recipient = this.#recipientAccess(share, from);
    try {
      await this.#o.sms.send(
        share.recipient.mobile,
        `Uw code voor de beelden van ${this.#o.hospital}: ${code}. Geldig ${CODE_MINUTES} minuten. Deel deze code met niemand.`,
      );
    } catch (err) {
      this.#o.logger.error({ err, shareId: share.shareId }, 'share: the SMS with the code could not be sent');
      await recipient.record({
        action: 'login-failure',
        outcome: 'failure',
        description: 'share link opened; the SMS with the code could not be sent',
        patient: share.patient,
        objects: { shareId: share.shareId },
      });
      throw new BeeldbrugError('SHARE_NOT_SENT', 'the SMS gateway did not take the code; try again in a moment', {
        cause: err,
      });
    }
    admission.succeeded();
    await recipient.record({
      action: 'login',
      outcome: 'success',
      description: `share link opened; a code was sent by SMS to the number ending in ${share.recipient.mobile.slice(-2)}`,
      patient: share.patient,
      objects: { shareId: share.shareId },
    });
    return { phoneEndsWith: share.recipient.mobile.slice(-2), validMinutes: CODE_MINUTES };
  }

  /**
   * Link and code: the code is used up and a recipient session opens. A wrong code counts towards the lock; the answer
   * says how many tries are left, nothing else.
   */
  async openWithCode(token: string, code: string, from: FromAddress): Promise<{ session: string; expiresAt: string }> {
    const admission = this.#admit(from);
    const share = await this.#openable(token);
    const recipient = this.#recipientAccess(share, from);
    const stored = await this.#o.store.codeOf(share.shareId);
    const now = this.#now();
    const right =
      stored !== undefined &&
      Date.parse(stored.expiresAt) > now &&
      /^\d{6}$/.test(code) &&
      timingSafeEqual(Buffer.from(stored.codeHash, 'hex'), Buffer.from(this.#codeHash(share.shareId, code), 'hex'));
    if (!right) {
      const wrong = await this.#o.store.wrongCode(share.shareId, WRONG_CODES_LOCK, new Date(now).toISOString());
      const left = Math.max(0, WRONG_CODES_LOCK - wrong);
      await recipient.record({
        action: 'login-failure',
        outcome: 'failure',
        description:
          left > 0
            ? `share link: wrong or expired code (${wrong} of ${WRONG_CODES_LOCK})`
            : `share link locked after ${WRONG_CODES_LOCK} wrong codes`,
        patient: share.patient,
        objects: { shareId: share.shareId },
      });
      if (left === 0)
        throw new BeeldbrugError('SHARE_LINK_CLOSED', 'this link is locked after too many wrong codes', {
          members: { state: 'locked' },
        });
      throw new BeeldbrugError('SHARE_CODE_WRONG', `the code is not right, or no longer valid; ${left} tries left`, {
        members: { triesLeft: left },
      });
    }
    admission.succeeded();
    const session = randomBytes(32).toString('base64url');
    const expiresAt = new Date(Math.min(now + RECIPIENT_SESSION_MINUTES * 60_000, Date.parse(share.expiresAt)));
    await this.#o.store.opened(share.shareId, { tokenHash: sha256(session), expiresAt: expiresAt.toISOString() });
    await recipient.record({
      action: 'login',
      outcome: 'success',
      description: `share opened with link and code (opening ${share.opens + 1} of ${share.maxOpens})`,
      patient: share.patient,
      objects: { shareId: share.shareId },
    });
    return { session, expiresAt: expiresAt.toISOString() };
  }

  /** The share a recipient session stands for, while both hold (a revoked or locked share ends its sessions). */
  async recipientSession(session: string): Promise<{ shareId: string; expiresAt: string } | undefined> {
    const found = await this.#o.store.session(sha256(session));
    if (found === undefined || Date.parse(found.expiresAt) <= this.#now()) return undefined;
    const share = await this.#o.store.get(found.shareId);
    if (share === undefined) return undefined;
    const state = stateOf(share, this.#now());
    // An opening that used the last one up may go on: it is the session of that opening.
    return state === 'active' || state === 'used-up' ? found : undefined;
  }

  async endRecipientSession(session: string): Promise<void> {
    await this.#o.store.endSession(sha256(session));
  }

  /** What the recipient sees: the studies (recorded as read by them), the hospital and its disclaimer. */
  async studiesFor(
    shareId: string,
    from: FromAddress,
  ): Promise<{ share: Share; studies: SharedStudy[]; deidentifier: Deidentifier | undefined }> {
    const share = await this.#shareOf(shareId);
    const studies = await this.#recipientAccess(share, from).sharedStudies(
      share.studies.map((s) => s.studyInstanceUid),
      'shared studies shown to their recipient',
      shareId,
    );
    return { share, studies, deidentifier: this.#deidentifierOf(share) };
  }

  /**
   * The recipient of a share that lets them upload, as the quarantine takes their files: who (the audit trail's
   * `share:<id>`) and the grounds (purpose upload). A share without upload is refused, and the refusal recorded.
   */
  async uploader(shareId: string, from: FromAddress): Promise<UploadActor> {
    const share = await this.#shareOf(shareId);
    const grounds = this.#recipientGrounds(share, from, 'upload');
    if (!share.upload) {
      await this.#o.patientData.open(grounds).record({
        action: 'upload',
        outcome: 'failure',
        description: 'upload refused: this share does not let its recipient upload',
        patient: share.patient,
        objects: { shareId },
      });
      throw new BeeldbrugError('ACCESS_DENIED', 'this share does not take uploads');
    }
    return { uploader: { id: grounds.user.id, name: share.recipient.name, shareId }, grounds };
  }

  /**
   * Who accessed the patient's data on this node, for a share made to the patient themselves (not de-identified, and
   * with a BSN to find their records by); anyone else is refused, and the refusal recorded.
   */
  async accessHistory(shareId: string, from: FromAddress): Promise<AccessHistoryEntry[]> {
    const share = await this.#shareOf(shareId);
    const access = this.#recipientAccess(share, from);
    const bsn = share.patient.bsn;
    if (share.recipient.isPatient !== true || share.deidentify !== null || bsn === undefined) {
      await access.record({
        action: 'audit-read',
        outcome: 'failure',
        description: 'access history refused: the share is not made to the patient',
        patient: share.patient,
        objects: { shareId },
      });
      throw new BeeldbrugError(
        'ACCESS_DENIED',
        'who accessed the data is shown only to the patient, through their share',
      );
    }
    return (await access.accessHistory({ bsn }, shareId)).map((r) => this.#plain(r));
  }

  #plain(r: AuditRecord): AccessHistoryEntry {
    const id = r.user.id;
    const kind: AccessHistoryEntry['kind'] = id.startsWith('share:')
      ? 'recipient'
      : id.startsWith('ura:')
        ? 'hospital'
        : /^(system|dicom|os):/.test(id)
          ? 'system'
          : 'person';
    const ura = r.user.organizationUra;
    const organization =
      kind !== 'person' || ura === undefined ? null : ura === this.#o.organizationUra ? this.#o.hospital : `URA ${ura}`;
    return {
      time: r.time,
      action: r.action,
      outcome: r.outcome,
      who: kind === 'recipient' ? r.user.name.replace(/ \(recipient of a share\)$/, '') : r.user.name,
      kind,
      organization,
      purpose: r.grounds.purpose ?? null,
    };
  }

  /**
   * The instances of a share, opened for its recipient to download (each study recorded as downloaded), with the
   * de-identifier they pass through when the share is de-identified.
   */
  async download(shareId: string, from: FromAddress): Promise<SharedDownload> {
    const share = await this.#shareOf(shareId);
    return this.#download(share, this.#recipientAccess(share, from));
  }

  /** The instances of a share, opened for its recipient's viewer in the browser (see PatientDataAccess.openShared). */
  async viewed(shareId: string, from: FromAddress, study?: string): Promise<SharedDownload> {
    const share = await this.#shareOf(shareId);
    return this.#viewed(share, this.#recipientAccess(share, from), 'their recipient', study);
  }

  /**
   * The shares in a partner's download folder: those made to its account that have not ended, newest first. What the
   * list shows is recorded, one record per patient.
   */
  async partnerShares(by: PartnerActor): Promise<PartnerShare[]> {
    const now = this.#now();
    const shares = (await this.#o.store.ofPartner(by.account.id)).filter((s) => stateOf(s, now) === 'active');
    const byPatient = new Map<string, Share>();
    for (const s of shares) byPatient.set(s.patient.bsn ?? s.patient.patientId ?? '', s);
    // Each in the name of the person who shared, the partner's access resting on that share.
    for (const s of byPatient.values())
      await this.#o.patientData.open(this.#partnerGrounds(by, 'share', s)).record({
        action: 'query',
        outcome: 'success',
        description: "shares listed in the partner's download folder",
        patient: s.patient,
        objects: {},
      });
    return shares.map((s) => ({
      shareId: s.shareId,
      fileName: partnerFileName(s),
      createdAt: s.createdAt,
      expiresAt: s.expiresAt,
      studies: this.#studiesAsSeen(s),
      patientName: s.deidentify !== null ? null : s.patientName,
      deidentified: s.deidentify !== null,
    }));
  }

  /** A share in a partner's folder, downloaded; a share not theirs (or ended) is not found, and the try recorded. */
  async partnerDownload(by: PartnerActor, shareId: string): Promise<SharedDownload> {
    const share = await this.#partnerShare(by, shareId, 'download');
    return this.#download(share, this.#o.patientData.open(this.#partnerGrounds(by, 'share', share)));
  }

  /** A share in a partner's folder, opened for the viewer in the browser; one not theirs as in partnerDownload. */
  async partnerViewed(by: PartnerActor, shareId: string, study?: string): Promise<SharedDownload> {
    const share = await this.#partnerShare(by, shareId, 'read');
    const access = this.#o.patientData.open(this.#partnerGrounds(by, 'share', share));
    return this.#viewed(share, access, 'the partner', study);
  }

  async #partnerShare(by: PartnerActor, shareId: string, action: 'download' | 'read'): Promise<Share> {
    const share = /^[0-9a-f-]{36}$/.test(shareId) ? await this.#o.store.get(shareId) : undefined;
    if (
      share === undefined ||
      share.recipient.partner?.accountId !== by.account.id ||
      stateOf(share, this.#now()) !== 'active'
    ) {
      await this.#o.patientData.open(this.#partnerGrounds(by, 'share')).record({
        action,
        outcome: 'failure',
        description: `${action === 'read' ? 'viewing' : 'download'} refused: no such share in the partner's folder`,
        objects: {},
      });
      throw new BeeldbrugError('NOT_FOUND', 'no such share in your download folder');
    }
    return share;
  }

  /** A partner as the quarantine takes its uploads: who, and the grounds (purpose upload). */
  partnerUploader(by: PartnerActor): UploadActor {
    return {
      uploader: { id: by.account.id, name: `${by.account.name} (${by.account.organization})` },
      grounds: this.#partnerGrounds(by, 'upload'),
    };
  }

  #partnerGrounds(by: PartnerActor, purpose: 'share' | 'upload', share?: Share): AccessGrounds {
    return {
      kind: 'share-recipient',
      user: { id: by.account.id, name: `${by.account.name} (${by.account.organization})`, outsider: true },
      ...(share !== undefined
        ? { responsibleUser: share.createdBy }
        : by.sponsor !== undefined
          ? { responsibleUser: by.sponsor }
          : {}),
      accessPoint: { node: this.#o.node, ip: by.ip },
      purpose,
      authorization: by.authorization,
    };
  }

  async #download(share: Share, access: PatientDataAccess): Promise<SharedDownload> {
    const shareId = share.shareId;
    const instances = await access.openShared(
      share.studies.map((s) => s.studyInstanceUid),
      `shared studies downloaded by their recipient${share.deidentify !== null ? ', de-identified' : ''}`,
      shareId,
    );
    await this.#o.store.downloaded(shareId);
    return { share, instances, deidentifier: this.#deidentifierOf(share) };
  }

  /**
   * A share's studies as its recipient knows them: a de-identified share's under the UIDs its files carry, with no
   * description, and no date unless the sender kept dates.
   */
  #studiesAsSeen(share: Share): ShareStudyRef[] {
    const deid = share.deidentify;
    const deidentifier = this.#deidentifierOf(share);
    if (deid === null || deidentifier === undefined) return share.studies;
    return share.studies.map((s) => ({
      studyInstanceUid: deidentifier.uid(s.studyInstanceUid),
      studyDate: deid.retainLongitudinalDates ? s.studyDate : null,
      description: null,
      modalities: s.modalities,
    }));
  }

  /**
   * A share opened for its viewer: `study` (as the recipient knows it: the share's UID when it is de-identified) when a
   * request names one, so a viewer's request per image opens that study alone, else all of them.
   */
  async #viewed(share: Share, access: PatientDataAccess, by: string, study?: string): Promise<SharedDownload> {
    const deidentifier = this.#deidentifierOf(share);
    const instances = await access.openShared(
      share.studies
        .map((s) => s.studyInstanceUid)
        .filter((uid) => study === undefined || (deidentifier?.uid(uid) ?? uid) === study),
      `shared studies viewed in the browser by ${by}${share.deidentify !== null ? ', de-identified' : ''}`,
      share.shareId,
      { viewing: true },
    );
    return { share, instances, deidentifier };
  }

  /**
   * A de-identified share's de-identifier: its key follows from the node's key and the share, so every download of the
   * share gets the same new UIDs and pseudonym, and another share other ones.
   */
  #deidentifierOf(share: Share): Deidentifier | undefined {
    if (share.deidentify === null) return undefined;
    const key = createHmac('sha256', this.#o.codeKey).update(`de-identification:${share.shareId}`).digest();
    return new Deidentifier(share.deidentify, key);
  }

  /** The studies of shares that have not ended: retention keeps them until the share ends. */
  async studiesInUse(): Promise<string[]> {
    const open = await this.#o.store.notEndedAt(new Date(this.#now()).toISOString());
    return [...new Set(open.flatMap((s) => s.studies.map((x) => x.studyInstanceUid)))];
  }

  /** Removes shares that ended before `cutoff` (their recipient's address and number with them), each recorded. */
  async purgeEnded(cutoff: Date, by: PatientDataAccess, description: string): Promise<number> {
    const ended = await this.#o.store.endedBefore(cutoff.toISOString());
    for (const share of ended) {
      await this.#o.store.remove(share.shareId);
      await by.record({
        action: 'purge',
        outcome: 'success',
        description: `share with ${share.recipient.name} purged ${description}`,
        patient: share.patient,
        objects: { shareId: share.shareId },
      });
    }
    return ended.length;
  }

  async #shareOf(shareId: string): Promise<Share> {
    const share = await this.#o.store.get(shareId);
    if (share === undefined) throw new BeeldbrugError('SHARE_LINK_CLOSED', 'this share no longer exists');
    return share;
  }

  #admit(from: FromAddress): { succeeded(): void } {
    const admission = this.#limit.admit(from.ip);
    if (admission.ok) return admission;
    if (admission.first)
      this.#o.logger.warn({ remote: from.ip, limit: admission.limit }, 'share: rate limit reached for codes');
    throw new BeeldbrugError(
      'SHARE_RATE_LIMITED',
      `too many codes asked for or tried ${admission.limit === 'address' ? 'from this address' : 'at this node'}; try again in ${admission.retryAfterSeconds} s`,
      { members: { retryAfterSeconds: admission.retryAfterSeconds } },
    );
  }

  async #byToken(token: string): Promise<Share | undefined> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
    return this.#o.store.byTokenHash(sha256(token));
  }

  /** The share of an active link; any other link is refused with its state (an unknown one as expired: no oracle). */
  async #openable(token: string): Promise<Share> {
    const share = await this.#byToken(token);
    const state = share !== undefined ? stateOf(share, this.#now()) : 'expired';
    if (share === undefined || state !== 'active')
      throw new BeeldbrugError('SHARE_LINK_CLOSED', closedText[state], { members: { state } });
    return share;
  }

  #recipientAccess(share: Share, from: FromAddress): PatientDataAccess {
    return this.#o.patientData.open(this.#recipientGrounds(share, from, 'share'));
  }

  #recipientGrounds(share: Share, from: FromAddress, purpose: 'share' | 'upload'): AccessGrounds {
    return {
      kind: 'share-recipient',
      user: { id: `share:${share.shareId}`, name: `${share.recipient.name} (recipient of a share)`, outsider: true },
      responsibleUser: share.createdBy,
      accessPoint: { node: this.#o.node, ip: from.ip },
      purpose,
      authorization: 'share link (e-mail) + one-time code (SMS)',
    };
  }

  #codeHash(shareId: string, code: string): string {
    return createHmac('sha256', this.#o.codeKey).update(`${shareId}:${code}`).digest('hex');
  }

  #linkMail(share: Share, token: string): { to: string; subject: string; text: string } {
    const r = share.recipient;
    const expiresAt = share.expiresAt;
    const onlyUpload = share.studies.length === 0;
    const hospital = this.#o.hospital;
    // The token travels in the fragment: browsers never send it to a server, so no proxy or access log keeps it.
    const link = `${this.#o.publicUrl.replace(/\/+$/, '')}/share#${token}`;
    const until = new Date(expiresAt).toLocaleDateString('nl-NL', { day: 'numeric', month: 'long', year: 'numeric' });
    return {
      to: r.email,
      subject: onlyUpload ? `${hospital} vraagt u beelden te sturen` : `Beelden van ${hospital} voor u klaargezet`,
      text: [
        `Beste ${r.name},`,
        '',
        onlyUpload
          ? `${hospital} vraagt u medische beelden te sturen (bijvoorbeeld van een cd van een ander ziekenhuis). U kunt ze uploaden via deze link:`
          : `${hospital} heeft medische beelden voor u klaargezet. U kunt ze bekijken en downloaden via deze link:`,
        '',
        link,
        '',
        `Als u de link opent, sturen wij een code per sms naar uw mobiele nummer. Met link en code samen opent u de beelden. De link werkt tot en met ${until}.`,
        '',
        'Hebt u deze e-mail niet verwacht? Open de link dan niet en neem contact op met de afdeling radiologie.',
        '',
        `Met vriendelijke groet,`,
        hospital,
      ].join('\n'),
    };
  }

  #view(s: Share): ShareView {
    return { ...s, state: stateOf(s, this.#now()) };
  }
}

const closedText: Record<ShareState, string> = {
  active: 'this link is open',
  expired: 'this link has expired',
  revoked: 'this link was withdrawn by the hospital',
  locked: 'this link is locked after too many wrong codes',
  'used-up': 'this link has been opened as often as it may be',
};
