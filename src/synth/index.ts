/** Synthetic patients, studies and reports: one generator shared by tests, the demo and benchmarks. */
export {
  synthesize,
  writeCtStudy,
  type SynthOptions,
  type SynthStudy,
  type SynthPatient,
  type SynthModality,
} from './synthesize.ts';
export { makePdf } from './pdf.ts';
export { randomName, type SynthName } from './names.ts';
export { seededRng, type Rng } from './random.ts';
