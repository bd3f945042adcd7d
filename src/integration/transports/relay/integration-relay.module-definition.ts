import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { IntegrationRelayOptions } from './relay.options';

export const {
  ConfigurableModuleClass: ConfigurableRelayModule,
  MODULE_OPTIONS_TOKEN: INTEGRATION_RELAY_OPTIONS,
  OPTIONS_TYPE: RELAY_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: RELAY_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<IntegrationRelayOptions>({ moduleName: 'IntegrationRelay' })
  .setClassMethodName('forRoot')
  .build();
