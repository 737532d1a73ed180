export { ErrorCatalog, type ErrorCode } from './catalog.ts';
export { BeeldbrugError, dimseStatusOf } from './beeldbrug-error.ts';
export { throwDatabaseProblem } from './database-problem.ts';
