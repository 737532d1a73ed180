/** Dutch-looking synthetic names (common given names and surnames; combinations are random, not real people). */
import type { Rng } from './random.ts';

const SURNAMES = [
  'de Jong',
  'Jansen',
  'de Vries',
  'van den Berg',
  'van Dijk',
  'Bakker',
  'Janssen',
  'Visser',
  'Smit',
  'Meijer',
  'de Boer',
  'Mulder',
  'de Groot',
  'Bos',
  'Vos',
  'Peters',
  'Hendriks',
  'van Leeuwen',
  'Dekker',
  'Brouwer',
  'de Wit',
  'Dijkstra',
  'Smits',
  'de Graaf',
  'van der Meer',
  'van der Linden',
  'Kok',
  'Jacobs',
  'de Haan',
  'Vermeulen',
  'van den Heuvel',
  'van der Veen',
  'van den Broek',
  'de Bruijn',
  'de Bruin',
  'van der Heijden',
  'Schouten',
  'van Beek',
  'Willems',
  'van Vliet',
  'van de Ven',
  'Hoekstra',
  'Maas',
  'Verhoeven',
  'Koster',
  'van Dam',
  'van der Wal',
  'Prins',
  'Blom',
  'Huisman',
  'Peeters',
  'de Ruiter',
  'Kuipers',
  'Veenstra',
  'Kramer',
  'van den Bosch',
  'Post',
  'Kuiper',
  'Timmermans',
  'Groen',
  'Gerritsen',
  'Boersma',
] as const;

const FEMALE = [
  'Emma',
  'Julia',
  'Sophie',
  'Anna',
  'Tess',
  'Zoë',
  'Noor',
  'Fleur',
  'Sara',
  'Lotte',
  'Anouk',
  'Maria',
  'Johanna',
  'Cornelia',
  'Hendrika',
  'Wilhelmina',
  'Elisabeth',
  'Anneke',
  'Ingrid',
  'Marieke',
  'Saskia',
  'Renée',
  'Noëlle',
  'Ilse',
  'Femke',
  'Esther',
] as const;

const MALE = [
  'Daan',
  'Sem',
  'Lucas',
  'Levi',
  'Finn',
  'Bram',
  'Jesse',
  'Thijs',
  'Ruben',
  'Lars',
  'Johannes',
  'Cornelis',
  'Hendrik',
  'Willem',
  'Jan',
  'Pieter',
  'Gerrit',
  'Dirk',
  'Joost',
  'Maarten',
  'Sjoerd',
  'Wouter',
  'Koen',
  'Bas',
  'Joël',
  'André',
] as const;

export interface SynthName {
  /** DICOM PN: family^given (PS3.5 6.2.1); the 'van'/'de' prefixes stay with the family name, as Dutch sorting aside. */
  dicom: string;
  display: string;
}

export function randomName(rng: Rng, sex: 'M' | 'F'): SynthName {
  const family = rng.pick(SURNAMES);
  const given = rng.pick(sex === 'F' ? FEMALE : MALE);
  return { dicom: `${family}^${given}`, display: `${given} ${family}` };
}

const DOCTORS = [
  'Huisman^Eva',
  'van Rijn^Marco',
  'Kaya^Elif',
  'de Lange^Peter',
  'Bouzid^Yasmina',
  'Vos^Thomas',
] as const;

export function randomPhysician(rng: Rng): string {
  return rng.pick(DOCTORS);
}
