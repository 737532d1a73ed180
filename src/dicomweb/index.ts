export {
  MultipartError,
  MultipartErrorCode,
  parseMultipartContentType,
  readMultipart,
  type MultipartLimits,
  type Part,
} from './multipart-reader.ts';
