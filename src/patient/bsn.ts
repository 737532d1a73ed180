/**
 * The Dutch citizen service number (Burgerservicenummer, BSN): nine digits that pass the "elfproef", a weighted
 * check modulo 11 (Wet algemene bepalingen burgerservicenummer; weights 9..2 and -1). In DICOM a BSN is the
 * Patient ID with Issuer of Patient ID set to the OID of the BSN register (PS3.3 C.7.1.1, C.2.2.1.1).
 */

/** OID of the BSN register (the Dutch national patient identifier namespace), used as Issuer of Patient ID. */
export const BSN_ISSUER_OID = '2.16.840.1.113883.2.4.6.3';

const BSN_PATTERN = /^[0-9]{9}$/;

function elfproefSum(digits: string): number {
  let sum = 0;
  for (let i = 0; i < 8; i++) sum += (digits.charCodeAt(i) - 48) * (9 - i);
  return sum - (digits.charCodeAt(8) - 48);
}

/** True for nine digits, not all zero, whose weighted sum (9..2, then -1) is divisible by 11. */
export function isValidBsn(s: string): boolean {
  if (!BSN_PATTERN.test(s) || s === '000000000') return false;
  return elfproefSum(s) % 11 === 0;
}

/**
 * A random valid BSN from `rng` (uniform in [0, 1)). Eight digits are drawn and the ninth is the check digit;
 * draws whose check digit would be 10 (or all zeros) are retried.
 */
export function randomBsn(rng: () => number): string {
  for (let attempt = 0; attempt < 1000; attempt++) {
    let head = '';
    for (let i = 0; i < 8; i++) head += String(Math.min(9, Math.floor(rng() * 10)));
    let partial = 0;
    for (let i = 0; i < 8; i++) partial += (head.charCodeAt(i) - 48) * (9 - i);
    const check = partial % 11;
    if (check === 10) continue;
    const bsn = `${head}${check}`;
    if (isValidBsn(bsn)) return bsn;
  }
  throw new RangeError('randomBsn: the random source never produced a valid BSN');
}
