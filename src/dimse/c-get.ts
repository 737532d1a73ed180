/**
 * C-GET SCP (PS3.4 C.4.3): C-STORE sub-operations go back over the same association, on a presentation context
 * the requestor proposed for the instance's SOP class and transfer syntax (with SCP role selection, PS3.7 D.3.3.4), or
 * one it can be rewritten into without loss.
 */
import { CommandField, DataSetPresent, Priority } from './command-set.ts';
import { DimseProtocolError } from './errors.ts';
import { ResponseQueue } from './response-queue.ts';
import { chooseContext, inTransferSyntax } from './transfer-syntax-conversion.ts';
import { serveRetrieve } from './retrieve-suboperations.ts';
import type { ScpContext } from './scp-context.ts';
import { Status } from './status.ts';
import type { OutgoingInstance } from './types.ts';
import type { IncomingMessage, UpperLayer } from './upper-layer.ts';

const nextIds = new WeakMap<UpperLayer, number>();

function nextId(ul: UpperLayer): number {
  const id = ((nextIds.get(ul) ?? 0x8000) % 0xffff) + 1;
  nextIds.set(ul, id);
  return id;
}

async function* chunks(src: NodeJS.ReadableStream | AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  for await (const c of src as AsyncIterable<Buffer | string>)
    yield typeof c === 'string' ? Buffer.from(c, 'latin1') : c;
}

async function storeBack(s: ScpContext, inst: OutgoingInstance): Promise<number> {
  const ctx = chooseContext(s.ul.contexts.values(), inst.sopClassUid, inst.transferSyntaxUid, (c) => c.requestorIsScp);
  if (ctx === undefined) {
    throw new DimseProtocolError(
      'NO_PRESENTATION_CONTEXT',
      `no presentation context for ${inst.sopClassUid} in ${inst.transferSyntaxUid} or a lossless rewrite of it`,
    );
  }
  const id = nextId(s.ul);
  const q = new ResponseQueue(60_000);
  s.ul.listen(id, q);
  try {
    await s.ul.send(
      ctx.id,
      {
        commandField: CommandField.CStoreRq,
        messageId: id,
        affectedSopClassUid: inst.sopClassUid,
        affectedSopInstanceUid: inst.sopInstanceUid,
        priority: Priority.Medium,
        dataSetType: DataSetPresent,
      },
      inTransferSyntax(chunks(await inst.open()), inst.transferSyntaxUid, ctx.transferSyntax),
    );
    const rsp = await q.next(() =>
      s.ul.abortWith(new DimseProtocolError('TIMEOUT', 'no C-STORE response to a C-GET sub-operation')),
    );
    rsp.data?.discard();
    return rsp.command.status ?? Status.ProcessingFailure;
  } finally {
    s.ul.unlisten(id);
  }
}

export async function serveGet(s: ScpContext, req: IncomingMessage): Promise<void> {
  await serveRetrieve(s, req, {
    kind: 'get',
    open: () => Promise.resolve({ store: (inst) => storeBack(s, inst), close: () => Promise.resolve() }),
  });
}
