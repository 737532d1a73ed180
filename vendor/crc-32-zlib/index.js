'use strict';
// The part of crc-32's API that zip-stream uses (through compress-commons and crc32-stream), computed by Node's own
// zlib.crc32. zip-stream checksums every byte of a share's zip; crc-32 does it in JavaScript at about 2 GB/s, which
// was the largest single cost of a download (bench:share), zlib at about 7 GB/s. package.json's `overrides` puts this
// in crc-32's place. Same results: crc-32 answers a signed 32-bit integer and takes the previous one as its seed.
const { crc32 } = require('node:zlib');

const seedOf = (seed) => (seed | 0) >>> 0;

exports.version = '1.2.2';
exports.buf = (data, seed) => crc32(data, seedOf(seed)) | 0;
exports.str = (text, seed) => crc32(Buffer.from(text, 'utf8'), seedOf(seed)) | 0;
exports.bstr = (text, seed) => crc32(Buffer.from(text, 'latin1'), seedOf(seed)) | 0;
