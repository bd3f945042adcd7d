import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { IntegrationInboundOptions } from './inbound.options';

export const {
  ConfigurableModuleClass: ConfigurableInboundModule,
  MODULE_OPTIONS_TOKEN: INTEGRATION_INBOUND_OPTIONS,
  OPTIONS_TYPE: INBOUND_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: INBOUND_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<IntegrationInboundOptions>({ moduleName: 'IntegrationInbound' })
  .setClassMethodName('forRoot')
  .build();
