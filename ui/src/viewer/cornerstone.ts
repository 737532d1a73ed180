// Cornerstone3D, set up once for the workspace: its DICOM image loader reads frames over WADO-RS from this node (same
// origin, the session cookie), decodes compressed syntaxes in its WebAssembly codecs in a worker, and the tools give
// window/level, pan, zoom and scrolling.
import { Enums, init as coreInit, RenderingEngine, type Types, utilities } from '@cornerstonejs/core';
import { init as loaderInit, wadors } from '@cornerstonejs/dicom-image-loader';
import {
  addTool,
  Enums as ToolEnums,
  init as toolsInit,
  PanTool,
  StackScrollTool,
  ToolGroupManager,
  utilities as toolUtilities,
  WindowLevelTool,
  ZoomTool,
} from '@cornerstonejs/tools';
import { api } from '../api.ts';
import { type DicomJson, num, str, TAG } from '../dicom-json.ts';

let ready: Promise<void> | undefined;

/** Starts Cornerstone once; every viewer after the first reuses it. */
export function cornerstoneReady(): Promise<void> {
  ready ??= Promise.resolve().then(() => {
    coreInit({ rendering: { useCPURendering: softwareWebGl() }, debug: { statsOverlay: false } });
    loaderInit({ maxWebWorkers: Math.max(1, Math.min(4, (navigator.hardwareConcurrency || 2) - 1)) });
    toolsInit();
    for (const tool of [WindowLevelTool, PanTool, ZoomTool, StackScrollTool]) addTool(tool);
  });
  return ready;
}

/**
 * Whether WebGL here is drawn by the CPU anyway (SwiftShader, llvmpipe): a virtual desktop or a browser without GPU
 * access, common on hospital workstations. There Cornerstone's own CPU rendering of a stack draws about twice as fast as
 * WebGL emulated in software (measured with bench:viewer), so it is used instead.
 */
function softwareWebGl(): boolean {
  const gl =
    document.createElement('canvas').getContext('webgl2') ?? document.createElement('canvas').getContext('webgl');
  if (gl === null) return true;
  const info = gl.getExtension('WEBGL_debug_renderer_info');
  const renderer = String(gl.getParameter(info !== null ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  gl.getExtension('WEBGL_lose_context')?.loseContext();
  return /swiftshader|llvmpipe|softpipe|software/i.test(renderer);
}

export const renderingEngine = (() => {
  let engine: RenderingEngine | undefined;
  return (): RenderingEngine => (engine ??= new RenderingEngine('beeldbrug'));
})();

/** Mouse as in every PACS: left window/level, middle pan, right zoom, wheel through the slices. */
export function attachTools(viewportId: string): void {
  const id = `tools-${viewportId}`;
  ToolGroupManager.destroyToolGroup(id);
  const group = ToolGroupManager.createToolGroup(id);
  if (group === undefined) return;
  for (const tool of [WindowLevelTool, PanTool, ZoomTool, StackScrollTool]) group.addTool(tool.toolName);
  const B = ToolEnums.MouseBindings;
  group.setToolActive(WindowLevelTool.toolName, { bindings: [{ mouseButton: B.Primary }] });
  group.setToolActive(PanTool.toolName, { bindings: [{ mouseButton: B.Auxiliary }] });
  group.setToolActive(ZoomTool.toolName, { bindings: [{ mouseButton: B.Secondary }] });
  group.setToolActive(StackScrollTool.toolName, { bindings: [{ mouseButton: B.Wheel }] });
  group.addViewport(viewportId, renderingEngine().id);
}

/** The node's own DICOMweb; a share's viewer reads its share's root instead (see share-view-routes.ts). */
export const DICOMWEB_ROOT = '/dicomweb';

const seriesUrl = (root: string, studyInstanceUid: string, seriesInstanceUid: string): string =>
  `${location.origin}${root}/studies/${studyInstanceUid}/series/${seriesInstanceUid}`;

const byInstanceNumber = (instances: DicomJson[]): DicomJson[] =>
  instances.sort((a, b) => (num(a, TAG.InstanceNumber) ?? 0) - (num(b, TAG.InstanceNumber) ?? 0));

/** The loader's id of one frame, with its instance's metadata registered for it (the loader reads it from there). */
function frameImageId(base: string, instance: DicomJson, frame: number): string {
  const imageId = `wadors:${base}/instances/${str(instance, TAG.SOPInstanceUID)}/frames/${frame}`;
  wadors.metaDataManager.add(imageId, instance as never);
  return imageId;
}

export interface SeriesStack {
  seriesInstanceUid: string;
  imageIds: string[];
  /** The DICOM JSON of each image, in the same order. */
  metadata: DicomJson[];
}

/**
 * A series as a stack: its metadata over WADO-RS (one request), the instances in instance-number order, each frame an
 * image id the loader fetches from /frames when it is shown.
 */
export async function loadSeries(
  root: string,
  studyInstanceUid: string,
  seriesInstanceUid: string,
): Promise<SeriesStack> {
  const base = seriesUrl(root, studyInstanceUid, seriesInstanceUid);
  const instances = byInstanceNumber(await api<DicomJson[]>('GET', `${base}/metadata`));
  const imageIds: string[] = [];
  const metadata: DicomJson[] = [];
  for (const instance of instances) {
    const frames = Math.max(1, num(instance, '00280008') ?? 1);
    for (let f = 1; f <= frames; f++) {
      imageIds.push(frameImageId(base, instance, f));
      metadata.push(instance);
    }
  }
  return { seriesInstanceUid, imageIds, metadata };
}

/**
 * The middle image of a series, found without the series' metadata: the instances from QIDO-RS (the node's index, fast)
 * in instance-number order, then the metadata of the middle one alone. The viewer shows it while the whole series'
 * metadata (a file read per instance on the node) is still coming.
 */
export async function middleImage(
  root: string,
  studyInstanceUid: string,
  seriesInstanceUid: string,
): Promise<string | undefined> {
  const base = seriesUrl(root, studyInstanceUid, seriesInstanceUid);
  const found = await api<DicomJson[] | undefined>('GET', `${base}/instances?includefield=00200013`);
  const middle = byInstanceNumber(found ?? []).at(Math.floor(((found?.length ?? 0) - 1) / 2));
  if (middle === undefined) return undefined;
  const [metadata] = await api<DicomJson[]>('GET', `${base}/instances/${str(middle, TAG.SOPInstanceUID)}/metadata`);
  return metadata !== undefined ? frameImageId(base, metadata, 1) : undefined;
}

export function stackViewport(viewportId: string): Types.IStackViewport | undefined {
  return renderingEngine().getViewport(viewportId) as Types.IStackViewport | undefined;
}

export function enableStack(viewportId: string, element: HTMLDivElement): Types.IStackViewport {
  renderingEngine().enableElement({ viewportId, type: Enums.ViewportType.STACK, element });
  return stackViewport(viewportId)!;
}

/**
 * Keeps the canvas the size of its element: when a comparison pane opens or closes, or the window is resized, the
 * rendering engine is told, so images keep their aspect instead of being stretched to the old size.
 */
export function followSize(element: HTMLDivElement): () => void {
  const observer = new ResizeObserver(() => renderingEngine().resize(true, true));
  observer.observe(element);
  return () => observer.disconnect();
}

/** Gives a viewport's element back (a comparison pane closed); its tool group goes with it. */
export function disableStack(viewportId: string): void {
  ToolGroupManager.destroyToolGroup(`tools-${viewportId}`);
  renderingEngine().disableElement(viewportId);
}

/**
 * Loads the rest of the stack in the background, nearest images first, as a PACS viewer does: scrolling then shows
 * images already decoded instead of waiting for each frame's request. Stops when the element is disabled.
 */
export function prefetchStack(element: HTMLDivElement): () => void {
  toolUtilities.stackPrefetch.enable(element);
  return () => toolUtilities.stackPrefetch.disable(element);
}

export function setWindow(viewport: Types.IStackViewport, center: number, width: number): void {
  viewport.setProperties({ voiRange: utilities.windowLevel.toLowHighRange(width, center) });
  viewport.render();
}

// Where the stack is going: keys pressed faster than images load each count from the last one asked for, not from the
// one still shown, so three presses are three images.
const heading = new WeakMap<Types.IStackViewport, number>();

/** Moves through the stack by `delta` images, stopping at either end; resolves with the index shown. */
export async function scrollBy(viewport: Types.IStackViewport, delta: number): Promise<number> {
  const last = viewport.getImageIds().length - 1;
  const from = heading.get(viewport) ?? viewport.getCurrentImageIdIndex();
  const next = Math.max(0, Math.min(last, from + delta));
  heading.set(viewport, next);
  try {
    await viewport.setImageIdIndex(next);
  } finally {
    if (heading.get(viewport) === next) heading.delete(viewport);
  }
  return next;
}

/** The window of a VOI range as a radiologist reads it: width and level (center). */
export function windowOf(range: { lower: number; upper: number }): { center: number; width: number } {
  const w = utilities.windowLevel.toWindowLevel(range.lower, range.upper);
  return { center: Math.round(w.windowCenter), width: Math.round(w.windowWidth) };
}

export { Enums };
