import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { IntegrationModuleOptions } from './integration.options';

/** Extras of `forRoot` / `forRootAsync` besides the options themselves. */
export interface IntegrationModuleExtras {
  /** Register the module's providers globally. @default true */
  readonly isGlobal?: boolean;
}

export const {
  ConfigurableModuleClass: ConfigurableIntegrationModule,
  MODULE_OPTIONS_TOKEN: RAW_INTEGRATION_OPTIONS,
  OPTIONS_TYPE: INTEGRATION_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: INTEGRATION_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<IntegrationModuleOptions>({ moduleName: 'Integration' })
  .setClassMethodName('forRoot')
  .setExtras<IntegrationModuleExtras>({ isGlobal: true }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal ?? true,
  }))
  .build();
