export { registerWorkspaceRoutes, WORKSPACE_ROOT, type WorkspaceRouteDeps } from './workspace-routes.ts';
