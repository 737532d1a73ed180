export { registerHelloRoute } from './hello-route.ts';
