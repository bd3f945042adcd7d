import { Module, type DynamicModule } from '@nestjs/common';
import { DatabaseModule, type DatabaseModuleOptions } from './database/database.module';
import { HealthController } from './health.controller';

/** The sample application. */
@Module({})
export class AppModule {
  static forRoot(database: DatabaseModuleOptions): DynamicModule {
    return {
      module: AppModule,
      imports: [DatabaseModule.forRoot(database)],
      controllers: [HealthController],
    };
  }
}
