import { createContext, type ReactNode, useContext, useState } from 'react';

export type Language = 'nl' | 'en';

// Dutch first: the hospital's own staff; English for guests, fellows and IT suppliers.
const texts = {
  appName: { nl: 'Beeldbrug', en: 'Beeldbrug' },
  signInTitle: { nl: 'Inloggen', en: 'Sign in' },
  username: { nl: 'Gebruikersnaam', en: 'User name' },
  password: { nl: 'Wachtwoord', en: 'Password' },
  code: { nl: 'Code uit de authenticator-app', en: 'Code from the authenticator app' },
  signIn: { nl: 'Inloggen', en: 'Sign in' },
  signingIn: { nl: 'Bezig met inloggen…', en: 'Signing in…' },
  signInOidc: { nl: 'Inloggen via het ziekenhuisaccount', en: "Sign in with the hospital's account" },
  signInFailed: {
    nl: 'Inloggen mislukt. Controleer gebruikersnaam, wachtwoord en code. Na vijf mislukte pogingen wordt het account geblokkeerd.',
    en: 'Sign-in failed. Check the user name, password and code. Five failures lock the account.',
  },
  signInThrottled: {
    nl: 'Te veel pogingen vanaf deze plek. Wacht even en probeer het opnieuw.',
    en: 'Too many attempts from here. Wait a moment and try again.',
  },
  sessionEnded: {
    nl: 'Uw sessie is verlopen of beëindigd. Log opnieuw in.',
    en: 'Your session has expired or was ended. Please sign in again.',
  },
  signOut: { nl: 'Uitloggen', en: 'Sign out' },
  signedOut: { nl: 'U bent uitgelogd.', en: 'You are signed out.' },
  roleAdmin: { nl: 'beheerder', en: 'admin' },
  roleRadiologist: { nl: 'radioloog', en: 'radiologist' },
  roleStaff: { nl: 'medewerker', en: 'staff' },
  roleAuditor: { nl: 'auditor', en: 'auditor' },
  navStudies: { nl: 'Onderzoeken', en: 'Studies' },
  navTransfers: { nl: 'Verzendingen', en: 'Transfers' },
  navTimeline: { nl: 'Tijdlijn', en: 'Timeline' },
  navAudit: { nl: 'Logboek', en: 'Audit trail' },
  navAdmin: { nl: 'Beheer', en: 'Administration' },
  loading: { nl: 'Laden…', en: 'Loading…' },
  search: { nl: 'Zoeken', en: 'Search' },
  patientId: { nl: 'BSN of patiëntnummer', en: 'BSN or patient id' },
  patientName: { nl: 'Naam patiënt', en: 'Patient name' },
  dateFrom: { nl: 'Datum vanaf', en: 'Date from' },
  dateTo: { nl: 'Datum tot en met', en: 'Date to' },
  modality: { nl: 'Modaliteit', en: 'Modality' },
  accession: { nl: 'Accessienummer', en: 'Accession number' },
  any: { nl: 'alle', en: 'any' },
  date: { nl: 'Datum', en: 'Date' },
  patient: { nl: 'Patiënt', en: 'Patient' },
  description: { nl: 'Omschrijving', en: 'Description' },
  images: { nl: 'Beelden', en: 'Images' },
  noStudies: { nl: 'Geen onderzoeken gevonden.', en: 'No studies found.' },
  studiesHint: {
    nl: 'Zoek op BSN, naam, datum, modaliteit of accessienummer. Een * in een naam zoekt op het begin.',
    en: 'Search by BSN, name, date, modality or accession number. A * in a name matches any ending.',
  },
  more: { nl: 'Meer tonen', en: 'Show more' },
  searchIn: { nl: 'Zoeken in', en: 'Search in' },
  searchNode: { nl: 'Beeldbrug', en: 'Beeldbrug' },
  searchPacs: { nl: 'PACS ({pacs})', en: 'PACS ({pacs})' },
  pacsHint: {
    nl: 'Zoekt in het PACS van het ziekenhuis. Vul minstens één zoekterm in; een onderzoek dat nog niet in Beeldbrug staat, haalt u eerst op.',
    en: "Searches the hospital's PACS. Fill in at least one criterion; a study not yet in Beeldbrug is fetched first.",
  },
  pacsNeedsCriteria: {
    nl: 'Vul minstens één zoekterm in: het hele PACS wordt niet getoond.',
    en: 'Fill in at least one criterion: the whole PACS is not listed.',
  },
  pacsMore: {
    nl: 'Er zijn meer onderzoeken gevonden dan getoond; maak de zoekvraag nauwkeuriger.',
    en: 'More studies matched than are shown; narrow the search.',
  },
  inBeeldbrug: { nl: 'in Beeldbrug', en: 'in Beeldbrug' },
  fetchFromPacs: { nl: 'Ophalen uit PACS', en: 'Fetch from the PACS' },
  fetchingFromPacs: { nl: 'Wordt opgehaald…', en: 'Fetching…' },
  send: { nl: 'Versturen', en: 'Send' },
  sendTitle: { nl: 'Onderzoek versturen', en: 'Send a study' },
  to: { nl: 'Naar ziekenhuis', en: 'To hospital' },
  choose: { nl: 'Kies…', en: 'Choose…' },
  purpose: { nl: 'Doel', en: 'Purpose' },
  purposeTransfer: { nl: 'Overdracht van zorg', en: 'Transfer of care' },
  purposeConsultation: { nl: 'Consultatie (second opinion)', en: 'Consultation (second opinion)' },
  purposeInternal: { nl: 'Intern (eigen organisatie)', en: 'Internal (own organization)' },
  purposeRetrieval: { nl: 'Opgevraagd via de tijdlijn', en: 'Retrieved through the timeline' },
  consentReference: { nl: 'Kenmerk toestemming patiënt', en: "Reference of the patient's consent" },
  consentNeeded: {
    nl: 'Voor een consultatie is de uitdrukkelijke toestemming van de patiënt nodig.',
    en: "A consultation needs the patient's explicit consent.",
  },
  urgency: { nl: 'Urgentie', en: 'Urgency' },
  routine: { nl: 'Normaal', en: 'Routine' },
  urgent: { nl: 'Spoed', en: 'Urgent' },
  reason: { nl: 'Reden / vraagstelling', en: 'Reason / clinical question' },
  reasonHint: {
    nl: 'Wat moet de ontvanger weten? Bijvoorbeeld: overplaatsing naar IC, graag beoordelen.',
    en: 'What should the receiver know? For example: transferred to ICU, please review.',
  },
  cancel: { nl: 'Annuleren', en: 'Cancel' },
  sending: { nl: 'Bezig met versturen…', en: 'Sending…' },
  transferTitle: { nl: 'Verzending', en: 'Transfer' },
  state: { nl: 'Status', en: 'State' },
  stateQueued: { nl: 'in de wachtrij', en: 'queued' },
  stateSending: { nl: 'bezig', en: 'sending' },
  stateDelivered: { nl: 'afgeleverd', en: 'delivered' },
  stateFailed: { nl: 'mislukt', en: 'failed' },
  stateOpen: { nl: 'komt binnen', en: 'arriving' },
  stateImported: { nl: 'in PACS', en: 'in the PACS' },
  stateHeld: { nl: 'wacht op beoordeling', en: 'held for review' },
  stateRejected: { nl: 'geweigerd', en: 'rejected' },
  stateCancelled: { nl: 'gestopt', en: 'stopped' },
  reject: { nl: 'Weigeren', en: 'Reject' },
  rejectReason: { nl: 'Reden van weigering', en: 'Reason for rejecting' },
  rejectHint: {
    nl: 'De kopie in Beeldbrug wordt verwijderd; de reden blijft zichtbaar, ook voor de afzender.',
    en: 'The copy in Beeldbrug is removed; the reason stays visible, to the sender too.',
  },
  rejectConfirm: { nl: 'Weigeren en kopie verwijderen', en: 'Reject and remove the copy' },
  retrySend: { nl: 'Opnieuw versturen', en: 'Send again' },
  cancelSend: { nl: 'Stoppen', en: 'Stop' },
  instances: { nl: 'Beelden', en: 'Instances' },
  transferred: { nl: 'Overgedragen', en: 'Transferred' },
  rate: { nl: 'Snelheid', en: 'Rate' },
  eta: { nl: 'Nog', en: 'Time left' },
  attempts: { nl: 'Pogingen', en: 'Attempts' },
  lastError: { nl: 'Laatste fout', en: 'Last error' },
  receipt: { nl: 'Ontvangstbewijs', en: 'Receipt' },
  atReceiver: { nl: 'Bij de ontvanger', en: 'At the receiver' },
  receiverDelivered: { nl: 'ontvangen, nog niet in hun PACS', en: 'received, not yet in their PACS' },
  receiverImported: { nl: 'in hun PACS opgenomen', en: 'imported into their PACS' },
  receiverRejected: { nl: 'geweigerd', en: 'rejected' },
  receiverFailed: { nl: 'niet in hun PACS gekomen', en: 'could not go into their PACS' },
  receiptSigned: {
    nl: 'Ondertekend ontvangstbewijs van de ontvanger: alle beelden zijn aangekomen en gecontroleerd.',
    en: 'Signed receipt from the receiver: every instance arrived and was verified.',
  },
  inbox: { nl: 'Ontvangen', en: 'Inbox' },
  outbox: { nl: 'Verstuurd', en: 'Outbox' },
  from: { nl: 'Van', en: 'From' },
  sender: { nl: 'Afzender', en: 'Sender' },
  study: { nl: 'Onderzoek', en: 'Study' },
  asSent: { nl: 'Zoals verstuurd', en: 'As sent' },
  filedAs: { nl: 'In ons PACS als', en: 'Filed in our PACS as' },
  refusedFiling: { nl: 'Niet automatisch op te slaan', en: 'Not filed automatically' },
  accept: { nl: 'Accepteren in PACS', en: 'Accept into PACS' },
  accepting: { nl: 'Wordt in PACS gezet…', en: 'Going into the PACS…' },
  noTransfers: { nl: 'Geen verzendingen.', en: 'No transfers.' },
  refresh: { nl: 'Vernieuwen', en: 'Refresh' },
  open: { nl: 'Openen', en: 'Open' },
  bsn: { nl: 'BSN', en: 'BSN' },
  bsnInvalid: {
    nl: 'Dit is geen geldig BSN (9 cijfers, elfproef).',
    en: 'This is not a valid BSN (9 digits, eleven test).',
  },
  timelineHint: {
    nl: 'Toont de eerdere onderzoeken van de patiënt in de ziekenhuizen waarvoor de patiënt toestemming gaf.',
    en: "Shows the patient's earlier studies at the hospitals the patient consented to.",
  },
  showTimeline: { nl: 'Tijdlijn tonen', en: 'Show timeline' },
  sources: { nl: 'Bronnen', en: 'Sources' },
  sourceAnswered: { nl: 'geantwoord', en: 'answered' },
  sourceRefused: { nl: 'geweigerd', en: 'refused' },
  sourceTimedOut: { nl: 'geen antwoord op tijd', en: 'no answer in time' },
  sourceFailed: { nl: 'fout', en: 'failed' },
  noSources: {
    nl: 'Geen ziekenhuis met toestemming bekend voor deze patiënt.',
    en: 'No hospital with consent is known for this patient.',
  },
  report: { nl: 'Verslag', en: 'Report' },
  retrieve: { nl: 'Ophalen naar PACS', en: 'Retrieve into PACS' },
  retrieving: { nl: 'Wordt opgehaald', en: 'Being retrieved' },
  openingFromSource: { nl: 'Wordt opgehaald…', en: 'Fetching…' },
  viewFailed: {
    nl: 'Het onderzoek kwam niet aan; probeer het opnieuw of haal het op naar het PACS.',
    en: 'The study did not arrive; try again, or retrieve it into the PACS.',
  },
  auditTitle: { nl: 'Logboek (NEN 7513)', en: 'Audit trail (NEN 7513)' },
  auditHint: {
    nl: 'Elke raadpleging van dit logboek wordt zelf ook gelogd.',
    en: 'Every reading of this trail is itself recorded.',
  },
  verifyChain: { nl: 'Keten controleren', en: 'Verify the chain' },
  chainIntact: {
    nl: 'De keten is intact: {records} regels nagerekend, geen enkele gewijzigd, verwijderd of tussengevoegd.',
    en: 'The chain is intact: {records} records recomputed, none edited, removed or inserted.',
  },
  chainBroken: {
    nl: 'De keten is GEBROKEN bij regel {sequence}: {problem}. Meld dit aan de beveiligingsfunctionaris.',
    en: 'The chain is BROKEN at record {sequence}: {problem}. Report this to the security officer.',
  },
  since: { nl: 'Vanaf', en: 'Since' },
  until: { nl: 'Tot', en: 'Until' },
  action: { nl: 'Handeling', en: 'Action' },
  user: { nl: 'Gebruiker', en: 'User' },
  outcome: { nl: 'Uitkomst', en: 'Outcome' },
  grounds: { nl: 'Grondslag', en: 'Grounds' },
  where: { nl: 'Waar', en: 'Where' },
  time: { nl: 'Tijd', en: 'Time' },
  noRecords: { nl: 'Geen regels gevonden.', en: 'No records found.' },
  adminTitle: { nl: 'Beheer', en: 'Administration' },
  accounts: { nl: 'Gebruikers', en: 'Users' },
  noAccounts: { nl: 'Nog geen gebruikers.', en: 'No users yet.' },
  name: { nl: 'Naam', en: 'Name' },
  nameHint: { nl: 'Zoals het logboek de persoon noemt.', en: 'As the audit trail names the person.' },
  usernameHint: { nl: 'Kleine letters, cijfers, punt, streepje.', en: 'Lower case, digits, dot, dash.' },
  role: { nl: 'Rol', en: 'Role' },
  signsInWith: { nl: 'Inloggen met', en: 'Signs in with' },
  sourceLocal: { nl: 'wachtwoord + code', en: 'password + code' },
  sourceOidc: { nl: 'ziekenhuisaccount', en: "hospital's account" },
  accountActive: { nl: 'actief', en: 'active' },
  accountDisabled: { nl: 'uitgeschakeld', en: 'disabled' },
  accountLocked: { nl: 'geblokkeerd tot {until}', en: 'locked until {until}' },
  unlock: { nl: 'Deblokkeren', en: 'Unlock' },
  enable: { nl: 'Inschakelen', en: 'Enable' },
  disable: { nl: 'Uitschakelen', en: 'Disable' },
  resetSecondFactor: { nl: 'Nieuwe code-app', en: 'New authenticator' },
  resetConfirm: {
    nl: 'Een nieuwe code-app koppelen voor {name}? De oude werkt daarna niet meer en {name} wordt overal uitgelogd.',
    en: 'Link a new authenticator for {name}? The old one stops working and {name} is signed out everywhere.',
  },
  addAccount: { nl: 'Gebruiker toevoegen', en: 'Add a user' },
  uziRoleCode: { nl: 'UZI-rolcode (optioneel)', en: 'UZI role code (optional)' },
  uziRoleHint: { nl: 'Bijvoorbeeld 01.015 voor een radioloog.', en: 'For example 01.015 for a radiologist.' },
  initialPassword: { nl: 'Eerste wachtwoord', en: 'Initial password' },
  initialPasswordHint: {
    nl: 'Minstens 12 tekens. Geef het persoonlijk door, niet per e-mail.',
    en: 'At least 12 characters. Hand it over in person, not by e-mail.',
  },
  secretTitle: { nl: 'Code-app koppelen voor {name}', en: 'Link the authenticator for {name}' },
  secretHint: {
    nl: 'Laat de gebruiker deze QR-code nu scannen met de authenticator-app. Hij wordt maar één keer getoond.',
    en: 'Have the user scan this QR code with the authenticator app now. It is shown only once.',
  },
  secretQrAlt: { nl: 'QR-code voor de authenticator-app', en: 'QR code for the authenticator app' },
  secretText: { nl: 'Of typ deze sleutel over:', en: 'Or type this key:' },
  configuration: { nl: 'Configuratie', en: 'Configuration' },
  configurationHint: {
    nl: 'Wijzigen gaat in het configuratiebestand van de node (beeldbrug.yaml); de node controleert het bij de start.',
    en: "Changes go into the node's configuration file (beeldbrug.yaml); the node checks it when it starts.",
  },
  organization: { nl: 'Organisatie', en: 'Organization' },
  ourAeTitle: { nl: 'Eigen AE-title en poorten', en: 'Own AE title and ports' },
  retention: { nl: 'Bewaartermijn', en: 'Retention' },
  retentionDays: {
    nl: 'ontvangen kopieën na {days} dagen verwijderd',
    en: 'received copies removed after {days} days',
  },
  retentionOff: { nl: 'ontvangen kopieën blijven bewaard', en: 'received copies are kept' },
  auditRetention: { nl: 'logboek {years} jaar', en: 'audit trail {years} years' },
  signInPolicy: { nl: 'Inloggen', en: 'Sign-in' },
  signInPolicyText: {
    nl: 'sessie eindigt na {idle} min. niets doen en na {max} uur; blokkade na {attempts} fouten',
    en: 'a session ends after {idle} min. idle and after {max} hours; locked after {attempts} failures',
  },
  dicomPeers: { nl: 'DICOM-systemen (PACS, modaliteiten)', en: 'DICOM systems (PACS, modalities)' },
  address: { nl: 'Adres', en: 'Address' },
  receivesOnly: { nl: 'stuurt alleen naar ons', en: 'only sends to us' },
  routing: { nl: 'Routering van ontvangen onderzoeken', en: 'Routing of arriving studies' },
  routingRule: { nl: 'van {from}, doel {purpose}', en: 'from {from}, purpose {purpose}' },
  routingForward: { nl: 'direct in PACS {pacs}', en: 'straight into PACS {pacs}' },
  routingHold: { nl: 'vasthouden ter beoordeling', en: 'hold for review' },
  routingOtherwise: { nl: 'anders', en: 'otherwise' },
  anyone: { nl: 'iedereen', en: 'anyone' },
  doctor: { nl: 'Controle (doctor)', en: 'Check (doctor)' },
  doctorHint: {
    nl: 'Controleert de configuratie, de eigen poorten en elk PACS op wat de internetscans van 2019 open vonden.',
    en: 'Checks the configuration, this node’s ports and each PACS for what the 2019 internet scans found open.',
  },
  doctorRun: { nl: 'Controle uitvoeren', en: 'Run the check' },
  doctorRunning: { nl: 'Bezig met controleren…', en: 'Checking…' },
  level_critical: { nl: 'kritiek', en: 'critical' },
  level_warning: { nl: 'waarschuwing', en: 'warning' },
  level_ok: { nl: 'in orde', en: 'ok' },
  secretDone: { nl: 'Gekoppeld, sluiten', en: 'Linked, close' },
  partners: { nl: 'Partnerziekenhuizen', en: 'Partner hospitals' },
  pacs: { nl: "PACS'en", en: 'PACS' },
  forbidden: {
    nl: 'Uw rol geeft geen toegang tot dit onderdeel.',
    en: 'Your role does not give access to this part.',
  },
  notFound: { nl: 'Deze pagina bestaat niet.', en: 'This page does not exist.' },
  errorPrefix: { nl: 'Er ging iets mis', en: 'Something went wrong' },
  // Shares with patients and doctors elsewhere (staff side).
  navShares: { nl: 'Gedeeld', en: 'Shared' },
  share: { nl: 'Delen', en: 'Share' },
  shareTitle: { nl: 'Delen met patiënt of arts', en: 'Share with a patient or doctor' },
  shareHint: {
    nl: 'De ontvanger krijgt een link per e-mail en, bij het openen, een code per sms. Link en code samen openen de beelden; de e-mail noemt de patiënt niet.',
    en: 'The recipient gets a link by e-mail and, on opening it, a code by SMS. Link and code together open the images; the e-mail does not name the patient.',
  },
  recipientName: { nl: 'Naam ontvanger', en: "Recipient's name" },
  recipientEmail: { nl: 'E-mailadres', en: 'E-mail address' },
  recipientMobile: { nl: 'Mobiel nummer', en: 'Mobile number' },
  recipientMobileHint: {
    nl: 'Voor de code per sms, bijvoorbeeld 06 1234 5678',
    en: 'For the code by SMS, e.g. +31 6 1234 5678',
  },
  validDays: { nl: 'Geldig (dagen)', en: 'Valid (days)' },
  deidentify: { nl: 'De-identificeren', en: 'De-identify' },
  deidentifyImages: {
    nl: 'Beelden de-identificeren (naam, BSN, geboortedatum en andere herkenbare gegevens eruit)',
    en: 'De-identify the images (name, BSN, date of birth and other identifying data removed)',
  },
  deidentifyHint: {
    nl: 'Volgens het DICOM Basic Profile (PS3.15 bijlage E). De ontvanger ziet een pseudoniem; verslagen gaan niet mee, omdat vrije tekst niet automatisch te ontdoen is van namen. Behouden:',
    en: 'By the DICOM Basic Profile (PS3.15 Annex E). The recipient sees a pseudonym; reports are left out, as free text cannot be cleared of names automatically. Keep:',
  },
  deidKeepDates: { nl: 'datums en tijden', en: 'dates and times' },
  deidKeepDevice: { nl: 'apparaatgegevens', en: 'device identity' },
  deidCleanDescriptions: {
    nl: 'omschrijvingen (met naam en nummers van de patiënt eruit)',
    en: "descriptions (with the patient's names and numbers taken out)",
  },
  deidentifyTextInPixels: {
    nl: 'Let op: {modalities}-beelden hebben vaak tekst in het beeld zelf (naam, datum). Die blijft staan; kijk de beelden na voor u deelt.',
    en: 'Note: {modalities} images often have text in the image itself (name, date). That stays; check the images before sharing.',
  },
  deidentified: { nl: 'gede-identificeerd', en: 'de-identified' },
  deidentifiedForYou: {
    nl: 'Deze beelden zijn gede-identificeerd: ze noemen de patiënt niet.',
    en: 'These images are de-identified: they do not name the patient.',
  },
  sharing: { nl: 'Bezig met delen…', en: 'Sharing…' },
  shared: { nl: 'Gedeeld. De link is gemaild naar {email}.', en: 'Shared. The link was e-mailed to {email}.' },
  sharesTitle: { nl: 'Gedeeld met patiënten en artsen', en: 'Shared with patients and doctors' },
  noShares: { nl: 'Nog niets gedeeld.', en: 'Nothing shared yet.' },
  recipient: { nl: 'Ontvanger', en: 'Recipient' },
  sharedBy: { nl: 'Gedeeld door', en: 'Shared by' },
  validUntil: { nl: 'Geldig tot', en: 'Valid until' },
  opened: { nl: 'Geopend', en: 'Opened' },
  downloads: { nl: 'Downloads', en: 'Downloads' },
  revoke: { nl: 'Intrekken', en: 'Revoke' },
  revokeConfirm: {
    nl: 'Link voor {name} intrekken? De ontvanger kan de beelden daarna niet meer openen.',
    en: 'Revoke the link for {name}? The recipient can no longer open the images.',
  },
  shareActive: { nl: 'actief', en: 'active' },
  shareExpired: { nl: 'verlopen', en: 'expired' },
  shareRevoked: { nl: 'ingetrokken', en: 'revoked' },
  shareLocked: { nl: 'geblokkeerd', en: 'locked' },
  shareUsedUp: { nl: 'opgebruikt', en: 'used up' },
  // The recipient's page (the link from the e-mail).
  linkTitle: { nl: 'Beelden van {hospital}', en: 'Images from {hospital}' },
  linkIntro: {
    nl: 'Om de beelden te openen sturen wij een code per sms naar het mobiele nummer dat eindigt op {digits}.',
    en: 'To open the images we send a code by SMS to the mobile number ending in {digits}.',
  },
  sendCode: { nl: 'Stuur mij een code', en: 'Send me a code' },
  sendingCode: { nl: 'Code wordt verstuurd…', en: 'Sending the code…' },
  codeSent: {
    nl: 'De code is verstuurd. Hij is {minutes} minuten geldig.',
    en: 'The code has been sent. It is valid for {minutes} minutes.',
  },
  smsCode: { nl: 'Code uit de sms', en: 'Code from the SMS' },
  sendNewCode: { nl: 'Stuur een nieuwe code', en: 'Send a new code' },
  codeWrong: {
    nl: 'Deze code klopt niet of is verlopen. U kunt het nog {tries} keer proberen.',
    en: 'This code is not right or has expired. You have {tries} more tries.',
  },
  tooManyTries: {
    nl: 'Te veel pogingen vanaf dit adres. Probeer het over {seconds} seconden opnieuw.',
    en: 'Too many attempts from this address. Try again in {seconds} seconds.',
  },
  linkExpired: {
    nl: 'Deze link is verlopen. Neem contact op met het ziekenhuis als u de beelden nog nodig hebt.',
    en: 'This link has expired. Contact the hospital if you still need the images.',
  },
  linkRevoked: {
    nl: 'Deze link is door het ziekenhuis ingetrokken.',
    en: 'This link was withdrawn by the hospital.',
  },
  linkLocked: {
    nl: 'Deze link is geblokkeerd na te veel verkeerde codes. Neem contact op met het ziekenhuis.',
    en: 'This link is locked after too many wrong codes. Contact the hospital.',
  },
  linkUsedUp: {
    nl: 'Deze link is zo vaak geopend als mag. Neem contact op met het ziekenhuis.',
    en: 'This link has been opened as often as allowed. Contact the hospital.',
  },
  linkUnknown: {
    nl: 'Deze link werkt niet. Controleer of u de hele link uit de e-mail hebt geopend.',
    en: 'This link does not work. Check that you opened the whole link from the e-mail.',
  },
  sharedWithYou: { nl: 'Voor {name}', en: 'For {name}' },
  disclaimerRead: { nl: 'Ik heb dit gelezen', en: 'I have read this' },
  download: { nl: 'Download alle beelden (zip)', en: 'Download all images (zip)' },
  downloadHint: {
    nl: 'Het zip-bestand bevat de beelden als DICOM-bestanden met een DICOMDIR, die elk DICOM-programma opent.',
    en: 'The zip file holds the images as DICOM files with a DICOMDIR, which any DICOM program opens.',
  },
  closeShare: { nl: 'Sluiten', en: 'Close' },
  shareClosed: {
    nl: 'U bent afgemeld. Open de link opnieuw om de beelden weer te zien.',
    en: 'You have left. Open the link again to see the images.',
  },
  birthDate: { nl: 'Geboortedatum', en: 'Date of birth' },
  size: { nl: 'Grootte', en: 'Size' },
  unreachable: { nl: 'De node antwoordt niet.', en: 'The node does not answer.' },
  language: { nl: 'English', en: 'Nederlands' },
  view: { nl: 'Bekijken', en: 'View' },
  compare: { nl: 'Vergelijken', en: 'Compare' },
  compareClose: { nl: 'Vergelijking sluiten', en: 'Close comparison' },
  noPriors: {
    nl: 'Geen ander onderzoek van deze patiënt in Beeldbrug. Haal een eerder onderzoek op via de tijdlijn.',
    en: 'No other study of this patient in Beeldbrug. Fetch an earlier one through the timeline.',
  },
  viewer: { nl: 'Viewer', en: 'Viewer' },
  series: { nl: 'Series', en: 'Series' },
  tags: { nl: 'Tags', en: 'Tags' },
  windowPresets: { nl: 'Vensterinstellingen', en: 'Window presets' },
  viewerHelp: {
    nl: 'Links slepen: venster/niveau · midden: verschuiven · rechts: zoomen · wiel of pijltjes: door de beelden · 1-4: vensters · r: herstellen',
    en: 'Left drag: window/level · middle: pan · right: zoom · wheel or arrows: scroll · 1-4: presets · r: reset',
  },
} as const satisfies Record<string, Record<Language, string>>;

export type TextKey = keyof typeof texts;

const LanguageContext = createContext<{ lang: Language; setLang: (l: Language) => void }>({
  lang: 'nl',
  setLang: () => undefined,
});

function initialLanguage(): Language {
  const saved = localStorage.getItem('beeldbrug.language');
  if (saved === 'nl' || saved === 'en') return saved;
  return navigator.language.toLowerCase().startsWith('nl') ? 'nl' : 'en';
}

export function LanguageProvider({ children }: { children: ReactNode }) {
  const [lang, setLangState] = useState<Language>(initialLanguage);
  const setLang = (l: Language): void => {
    localStorage.setItem('beeldbrug.language', l);
    document.documentElement.lang = l;
    setLangState(l);
  };
  return <LanguageContext.Provider value={{ lang, setLang }}>{children}</LanguageContext.Provider>;
}

export function useLanguage(): { lang: Language; setLang: (l: Language) => void } {
  return useContext(LanguageContext);
}

/** The text for a key in the chosen language. */
/** The text in the chosen language; `{name}` in it is replaced by `values.name`. */
export function useT(): (key: TextKey, values?: Readonly<Record<string, string | number>>) => string {
  const { lang } = useContext(LanguageContext);
  return (key, values) =>
    values === undefined
      ? texts[key][lang]
      : texts[key][lang].replace(/\{(\w+)\}/g, (m, name: string) => String(values[name] ?? m));
}
