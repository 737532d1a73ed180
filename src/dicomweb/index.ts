export {
  BodyTooLarge,
  bodyBytes,
  limitedBody,
  MultipartError,
  MultipartErrorCode,
  parseMultipartContentType,
  readMultipart,
  type MultipartLimits,
  type Part,
} from './multipart-reader.ts';
export { DICOMWEB_ROOT, registerDicomwebRoutes, type DicomwebRouteDeps } from './dicomweb-routes.ts';
export { metadataOf, sendFrames, framesAsked, OCTETS } from './instance-answers.ts';
export {
  frameNumberOf,
  renderedQuery,
  renderOptionsOf,
  sendRendered,
  THUMBNAIL,
  type RenderedQuery,
} from './rendered-routes.ts';
