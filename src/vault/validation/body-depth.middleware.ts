import { Injectable, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { MAX_BODY_DEPTH } from '../vault.limits';

/** Nesting depth of a parsed JSON value (a scalar is 0, `{}` and `[]` are 1); stops past `limit`. */
export function jsonDepth(value: unknown, limit: number): number {
  let deepest = 0;
  // Iterative on purpose: a recursive walk is exactly what a deeply nested body overflows.
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    const level = depth + 1;
    if (level > deepest) deepest = level;
    if (deepest > limit) return deepest;
    for (const child of Object.values(node)) stack.push([child, level]);
  }
  return deepest;
}

/**
 * Refuses JSON bodies nested deeper than {@link MAX_BODY_DEPTH} with a 400 before validation
 * runs: class-transformer and class-validator walk bodies recursively and would overflow the
 * stack (a 500) on a body of a few thousand levels.
 */
@Injectable()
export class BodyDepthMiddleware implements NestMiddleware {
  use(req: Request, res: Response, next: NextFunction): void {
    if (jsonDepth(req.body, MAX_BODY_DEPTH) > MAX_BODY_DEPTH) {
      res.status(400).json({
        statusCode: 400,
        error: 'Bad Request',
        message: [`body must not be nested more than ${MAX_BODY_DEPTH} levels deep`],
      });
      return;
    }
    next();
  }
}
