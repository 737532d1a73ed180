/**
 * De-identification by the Basic Application Level Confidentiality Profile of PS3.15 Annex E, with the options a
 * sender picks. Imports only the DICOM core.
 */
export { Deidentifier, type DeidOptions, type Action, type BurnedIn, actionFor, burnedInOf } from './deidentify.ts';
export { mayHaveTextInPixels } from './text-in-pixels.ts';
