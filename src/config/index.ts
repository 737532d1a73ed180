export { configSchema, type Config, type DimseConfig, type DimsePeerConfig, type ExchangeConfig, type PartnerConfig, type TlsFilesConfig } from './schema.ts';
export { loadConfig, parseConfig } from './load.ts';
export { configTemplate, type TemplateValues } from './template.ts';
