import { lazy, Suspense } from 'react';
import { Loading } from '../ui-parts.tsx';

// The viewer carries Cornerstone and its codecs (megabytes): not part of the sign-in page. Once someone who may view
// images is signed in, it loads (and Cornerstone starts its decoders) while the browser is idle, so opening the first
// study does not wait for it. Once loaded it renders directly: through React.lazy even a loaded module suspends once,
// and React holds a suspended screen back for 300 ms.
type ViewerModule = typeof import('../screens/viewer.tsx');
let viewerModule: ViewerModule | undefined;
const loadViewer = async (): Promise<ViewerModule> => (viewerModule ??= await import('../screens/viewer.tsx'));
const LazyViewer = lazy(async () => ({ default: (await loadViewer()).ViewerScreen }));

/** The stack viewer, loaded when first shown; `root` and `compare` as ViewerScreen takes them. */
export function Viewer(p: { studyInstanceUid: string; root?: string; compare?: boolean }) {
  const Screen = viewerModule?.ViewerScreen ?? LazyViewer;
  return (
    <Suspense fallback={<Loading />}>
      <Screen {...p} />
    </Suspense>
  );
}

export function preloadViewer(): void {
  const start = (): void => {
    loadViewer().then(
      (m) => m.prepareViewer(),
      () => undefined, // a failed preload is tried again, and shown, when a study is opened
    );
  };
  if ('requestIdleCallback' in window) requestIdleCallback(start, { timeout: 2000 });
  else setTimeout(start, 200);
}
