import { Transform } from 'class-transformer';
import {
  IsInt,
  IsNotEmpty,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import { IsSafeText } from '../validation/safe-text';
import { MAX_EXPECTED_VERSION, MAX_OWNER_ID_LENGTH } from '../vault.limits';

const trim = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' ? value.trim() : value;

/** `POST /vaults` */
export class OpenVaultDto {
  @Transform(trim)
  @IsString()
  @IsNotEmpty()
  @MaxLength(MAX_OWNER_ID_LENGTH)
  @IsSafeText()
  ownerId!: string;

  @Transform(trim)
  @IsString()
  @IsNotEmpty()
  @MaxLength(100)
  @IsSafeText()
  name!: string;

  /** ISO 4217 code, e.g. EUR. */
  @IsString()
  @Matches(/^[A-Z]{3}$/, { message: 'currency must be a three-letter ISO 4217 code such as EUR' })
  currency!: string;
}

/** Fields every vault command accepts. */
export class VersionedCommandDto {
  /** Optimistic concurrency: the version the client last saw (0 to 2^31 − 1). */
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(MAX_EXPECTED_VERSION)
  expectedVersion?: number;
}

/** `POST /vaults/:id/deposits` and `/withdrawals`. */
export class MoveMoneyDto extends VersionedCommandDto {
  /**
   * Amount in minor units (cents): a positive integer of at most 10^15 (`MAX_AMOUNT_MINOR`), as
   * a string or a safe JSON number.
   */
  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : value,
  )
  @IsString({
    message: 'amountMinor must be a positive integer (string of digits or safe integer)',
  })
  @Matches(/^(?:[1-9][0-9]{0,14}|1000000000000000)$/, {
    message: 'amountMinor must be a positive integer of at most 1000000000000000 (10^15)',
  })
  amountMinor!: string;
}

/** `POST /vaults/:id/lock` */
export class LockVaultDto extends VersionedCommandDto {
  @IsOptional()
  @IsString()
  @MaxLength(500)
  @IsSafeText()
  reason?: string;
}
