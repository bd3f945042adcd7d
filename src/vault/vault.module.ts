import { Module, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { BodyDepthMiddleware } from './validation/body-depth.middleware';
import { VaultController } from './vault.controller';
import { VaultService } from './vault.service';

/** The vault domain: commands, their events (outbox) and the HTTP API. */
@Module({
  controllers: [VaultController],
  providers: [VaultService],
  exports: [VaultService],
})
export class VaultModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(BodyDepthMiddleware).forRoutes(VaultController);
  }
}
