import { Controller, Get, NotFoundException, Param } from '@nestjs/common';
import { VaultProjectionRepository, type OwnerProjection } from './vault-projection.repository';

/** HTTP API of the projection app: what it has learnt from the vault's events. */
@Controller('projection')
export class ProjectionController {
  constructor(private readonly projection: VaultProjectionRepository) {}

  /** An owner's vaults opened so far, their balances per currency, and each vault. */
  @Get('owners/:ownerId')
  async owner(@Param('ownerId') ownerId: string): Promise<OwnerProjection> {
    const owner = await this.projection.owner(ownerId);
    if (!owner) throw new NotFoundException(`No vault event of owner ${ownerId} has arrived`);
    return owner;
  }
}
