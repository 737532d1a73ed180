// A short fuzzing round of every parser that reads bytes from strangers, in each test command (a fixed seed, so a
// failure here reproduces); `npm run fuzz` runs the same properties long and with a fresh seed.
import { test } from 'node:test';
import fc from 'fast-check';
import { multipartRegressions, part10Regressions, pduRegressions } from './regressions.ts';
import { multipartProperty, part10Property, pduProperty } from './targets.ts';

const RUNS = 300;
const SEED = 20261123;

test('fuzz: the Part 10 reader answers any mutated instance with a data set or a DicomError', () => {
  fc.assert(part10Property(), { numRuns: RUNS, seed: SEED, examples: part10Regressions });
});

test('fuzz: the PDU reader gives the same events for any chunking of a mutated stream and throws only DimseProtocolError', () => {
  fc.assert(pduProperty(), { numRuns: RUNS, seed: SEED, examples: pduRegressions });
});

test('fuzz: the multipart reader gives the same parts for any chunking of a mutated body and throws only MultipartError', async () => {
  await fc.assert(multipartProperty(), { numRuns: RUNS, seed: SEED, examples: multipartRegressions });
});
