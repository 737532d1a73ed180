export {
  configSchema,
  type AtnaConfig,
  type DatabaseConfig,
  type Config,
  type DimseConfig,
  type DimsePeerConfig,
  type ExchangeConfig,
  type OidcConfig,
  type PartnerConfig,
  type ShareConfig,
  type TlsFilesConfig,
} from './schema.ts';
export { ConfigInvalidError, loadConfig, loadRegistryConfig, parseConfig, parseRegistryConfig } from './load.ts';
export { closestKey, type ConfigIssue } from './config-issues.ts';
export { registryConfigSchema, type RegistryConfig } from './registry-schema.ts';
export { configTemplate, type TemplateValues } from './template.ts';
export { BEELDBRUG_VERSION } from './version.ts';
