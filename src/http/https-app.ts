import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'node:https';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../log/index.ts';

/** The node's and the registry's HTTPS server as routes see it: fastify over node's https, with our logger. */
export type HttpsApp = FastifyInstance<Server, IncomingMessage, ServerResponse, Logger>;
