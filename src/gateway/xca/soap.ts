import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { FastifyRequest } from 'fastify';
import {
  bodyBytes,
  BodyTooLarge,
  limitedBody,
  MultipartError,
  parseMultipartContentType,
  readMultipart,
} from '../../dicomweb/index.ts';
import { BeeldbrugError, type ErrorCode } from '../../errors/index.ts';
import { writtenOut } from '../../http/index.ts';
import { childNamed, esc, firstElement, NS, parseXml, textOf } from './xml.ts';

/** A SOAP request is metadata only: a query or a list of documents to retrieve. */
const MAX_REQUEST_BYTES = 1024 * 1024;

/** A SOAP 1.2 request as the gateway reads it: the raw text (for the signature), its header and its payload. */
export interface SoapRequest {
  xml: string;
  document: Document;
  action: string;
  messageId: string | undefined;
  security: Element | undefined;
  payload: Element;
  /** Whether it came as MTOM/XOP (multipart/related): an answer goes back the same way. */
  mtom: boolean;
}

/** The headers a gateway understands; any other marked mustUnderstand is refused (SOAP 1.2 part 1, 5.2.3). */
const UNDERSTOOD = new Set([NS.wsa, NS.wsse]);

async function bytesOf(source: AsyncIterable<Buffer>): Promise<Buffer> {
  try {
    return await bodyBytes(source, MAX_REQUEST_BYTES);
  } catch (err) {
    if (err instanceof BodyTooLarge)
      throw new BeeldbrugError(
        'BODY_TOO_LARGE',
        `a SOAP request of this gateway is at most ${MAX_REQUEST_BYTES} bytes`,
      );
    throw err;
  }
}

/**
 * The request's envelope: the body of an application/soap+xml request, or the root part of an MTOM one (the part
 * its `start` parameter names, else the first). Attachments are not read: no request of ITI-38, ITI-39 or RAD-75 has any.
 */
export async function readSoapRequest(req: FastifyRequest): Promise<SoapRequest> {
  const type = (req.headers['content-type'] ?? '').toLowerCase();
  let xml: string;
  let mtom = false;
  if (type.startsWith('multipart/related')) {
    mtom = true;
    const start = /start="?<?([^">;]+)>?"?/i.exec(req.headers['content-type'] ?? '')?.[1];
    let root: Buffer | undefined;
    try {
      const { boundary } = parseMultipartContentType(req.headers['content-type']);
      for await (const part of readMultipart(limitedBody(req.raw, MAX_REQUEST_BYTES), boundary, { maxParts: 16 })) {
        const id = part.headers.get('content-id')?.replace(/^<|>$/g, '');
        if (root === undefined && (start === undefined || id === start)) root = await bytesOf(part.body);
      }
    } catch (err) {
      if (err instanceof MultipartError)
        throw new BeeldbrugError('REQUEST_INVALID', `the MTOM request is broken: ${err.message}`);
      throw err;
    }
    if (root === undefined) throw new BeeldbrugError('REQUEST_INVALID', 'the MTOM request has no root part');
    xml = root.toString('utf8');
  } else if (type.startsWith('application/soap+xml')) {
    xml = (await bytesOf(req.raw)).toString('utf8');
  } else {
    throw new BeeldbrugError(
      'UNSUPPORTED_MEDIA_TYPE',
      'a SOAP 1.2 request is application/soap+xml, or multipart/related with an application/xop+xml root (MTOM)',
    );
  }
  const document = parseXml(xml, 'the SOAP request');
  const envelope = document.documentElement!;
  if (envelope.namespaceURI !== NS.soap || envelope.localName !== 'Envelope')
    throw new BeeldbrugError('REQUEST_INVALID', 'not a SOAP 1.2 envelope (http://www.w3.org/2003/05/soap-envelope)');
  const header = childNamed(envelope, NS.soap, 'Header');
  const body = childNamed(envelope, NS.soap, 'Body');
  const payload = body !== undefined ? firstElement(body) : undefined;
  if (payload === undefined) throw new BeeldbrugError('REQUEST_INVALID', 'the SOAP body is empty');
  if (header !== undefined)
    for (let n = header.firstChild; n !== null; n = n.nextSibling) {
      if (n.nodeType !== 1) continue;
      const h = n as Element;
      const must = h.getAttributeNS(NS.soap, 'mustUnderstand');
      if ((must === 'true' || must === '1') && !UNDERSTOOD.has(h.namespaceURI as (typeof NS)['wsa']))
        throw new SoapFault(
          'MustUnderstand',
          undefined,
          `the header ${h.namespaceURI ?? ''}:${h.localName ?? ''} is not understood here`,
        );
    }
  // Asynchronous web services exchange (an answer sent to another address later) is not offered: said at once.
  const replyTo = textOf(
    header !== undefined ? childNamed(childNamed(header, NS.wsa, 'ReplyTo') ?? header, NS.wsa, 'Address') : undefined,
  );
  if (replyTo !== '' && replyTo !== `${NS.wsa}/anonymous`)
    throw new SoapFault(
      'Sender',
      'wsa:OnlyAnonymousAddressSupported',
      'this gateway answers synchronously only: wsa:ReplyTo must be anonymous',
    );
  return {
    xml,
    document,
    action: textOf(header !== undefined ? childNamed(header, NS.wsa, 'Action') : undefined),
    messageId: textOf(header !== undefined ? childNamed(header, NS.wsa, 'MessageID') : undefined) || undefined,
    security: header !== undefined ? childNamed(header, NS.wsse, 'Security') : undefined,
    payload,
    mtom,
  };
}

/**
 * A SOAP fault (SOAP 1.2 part 1, 5.4): Sender for what the caller must change, with a WS-Security subcode for a refused
 * assertion; the catalog's code travels in the detail, as the `code` member does in problem details.
 */
export class SoapFault extends Error {
  readonly code: 'Sender' | 'Receiver' | 'MustUnderstand';
  readonly subcode: string | undefined;
  readonly errorCode: ErrorCode | undefined;

  constructor(
    code: 'Sender' | 'Receiver' | 'MustUnderstand',
    subcode: string | undefined,
    message: string,
    errorCode?: ErrorCode,
  ) {
    super(message);
    this.code = code;
    this.subcode = subcode;
    this.errorCode = errorCode;
  }

  static of(err: BeeldbrugError): SoapFault {
    const security = err.code === 'ASSERTION_INVALID';
    return new SoapFault(
      err.httpStatus >= 500 ? 'Receiver' : 'Sender',
      security ? 'wsse:FailedAuthentication' : undefined,
      err.message,
      err.code,
    );
  }

  get httpStatus(): number {
    return this.code === 'Receiver' ? 500 : this.code === 'MustUnderstand' ? 500 : 400;
  }
}

const FAULT_ACTION = 'http://www.w3.org/2005/08/addressing/soap/fault';

/** The envelope of an answer: its action, the request it answers, and the body. */
export function soapEnvelope(action: string, relatesTo: string | undefined, body: string): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="${NS.soap}" xmlns:a="${NS.wsa}"><s:Header>` +
    `<a:Action s:mustUnderstand="1">${esc(action)}</a:Action>` +
    (relatesTo !== undefined ? `<a:RelatesTo>${esc(relatesTo)}</a:RelatesTo>` : '') +
    `</s:Header><s:Body>${body}</s:Body></s:Envelope>`
  );
}

export function faultEnvelope(f: SoapFault, relatesTo: string | undefined): string {
  const subcode =
    f.subcode !== undefined
      ? `<s:Subcode><s:Value xmlns:wsse="${NS.wsse}" xmlns:wsa="${NS.wsa}">${esc(f.subcode)}</s:Value></s:Subcode>`
      : '';
  const detail =
    f.errorCode !== undefined
      ? `<s:Detail><bb:code xmlns:bb="urn:beeldbrug:error">${f.errorCode}</bb:code></s:Detail>`
      : '';
  return soapEnvelope(
    FAULT_ACTION,
    relatesTo,
    `<s:Fault><s:Code><s:Value>s:${f.code}</s:Value>${subcode}</s:Code>` +
      `<s:Reason><s:Text xml:lang="en">${esc(f.message)}</s:Text></s:Reason>${detail}</s:Fault>`,
  );
}

/** One attachment of an MTOM answer: its Content-ID (without brackets), its type and its bytes as they stream. */
export interface Attachment {
  contentId: string;
  contentType: string;
  body: () => AsyncIterable<Buffer> | Iterable<Buffer> | Promise<AsyncIterable<Buffer> | Iterable<Buffer>>;
  /** A piece once written, so that its memory can serve a later read. */
  written?: (piece: Buffer) => void;
}

/** A Content-ID unique to this answer, for an xop:Include's cid: reference. */
export function newContentId(n: number): string {
  return `${n}.${randomBytes(6).toString('hex')}@beeldbrug`;
}

/**
 * An MTOM/XOP answer (SOAP 1.2 MTOM, XOP 1.0): the envelope as the root part, application/xop+xml, then each
 * attachment its xop:Include names, streamed one after another, never gathered in memory. The status line is out
 * before the first attachment: a failure there cuts the answer off, which the missing close delimiter makes plain.
 */
export async function sendMtom(
  res: ServerResponse,
  envelope: string,
  attachments: readonly Attachment[],
): Promise<void> {
  const boundary = `MIMEBoundary_${randomBytes(12).toString('hex')}`;
  const root = newContentId(0);
  res.writeHead(200, {
    'content-type': `multipart/related; type="application/xop+xml"; start="<${root}>"; start-info="application/soap+xml"; boundary="${boundary}"`,
  });
  await writtenOut(
    res,
    Buffer.from(
      `--${boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"\r\n` +
        `Content-Transfer-Encoding: binary\r\nContent-ID: <${root}>\r\n\r\n${envelope}\r\n`,
    ),
  );
  for (const a of attachments) {
    await writtenOut(
      res,
      Buffer.from(
        `--${boundary}\r\nContent-Type: ${a.contentType}\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <${a.contentId}>\r\n\r\n`,
      ),
    );
    for await (const piece of await a.body()) {
      await writtenOut(res, piece);
      a.written?.(piece);
    }
    await writtenOut(res, Buffer.from('\r\n'));
  }
  await writtenOut(res, Buffer.from(`--${boundary}--\r\n`));
  res.end();
}
