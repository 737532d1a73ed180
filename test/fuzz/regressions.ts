// Inputs a fuzz run once broke a parser with, in the property's own input form (mutations of the seed, chunk cuts).
// They run first in every test command, so a fixed bug stays fixed.
import type { Mutation } from './targets.ts';

export const part10Regressions: [Mutation[]][] = [];
export const pduRegressions: [Mutation[], number[]][] = [];
export const multipartRegressions: [Mutation[], number[]][] = [
  // The close delimiter followed by a long epilogue without a line end: accepted whole, refused when cut into chunks
  // (the reader looked for CRLF after "--"). Fixed: "--" after a boundary ends the body at once.
  [[{ kind: 'repeat', at: 109, length: 20, times: 19 }], [1080208146]],
  // A header block whose end lies past the header limit: parsed when it came in one chunk, refused when cut.
  // Fixed: a marker found past the limit is refused however the bytes arrived.
  [[{ kind: 'repeat', at: 111, length: 20, times: 52 }], [1440307729]],
];
