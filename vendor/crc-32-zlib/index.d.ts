export const version: string;
export function buf(data: Uint8Array, seed?: number): number;
export function str(text: string, seed?: number): number;
export function bstr(text: string, seed?: number): number;
