export { configSchema, type AtnaConfig, type Config, type DimseConfig, type DimsePeerConfig, type ExchangeConfig, type OidcConfig, type PartnerConfig, type TlsFilesConfig } from './schema.ts';
export { loadConfig, loadRegistryConfig, parseConfig, parseRegistryConfig } from './load.ts';
export { registryConfigSchema, type RegistryConfig } from './registry-schema.ts';
export { configTemplate, type TemplateValues } from './template.ts';
