/**
 * The demo messaging API's routes as Nest controllers. The service throws bulwark's `ApiError`s (401
 * `unauthorized`, 422 `sender_not_approved`, 404 `not_found`, ...): the global `BulwarkExceptionFilter`
 * turns each into the documented body.
 *
 * Constructor parameters name their token with `@Inject(...)`: tsx and vitest compile with esbuild, which
 * does not emit the decorator metadata that Nest's injection by type reads.
 */
import { All, Body, Controller, Get, Headers, Inject, Param, Post, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ApiError } from '../../src/index.js';
import { MessagingService, type Reply } from '../messaging/service.js';

@Controller('v1')
export class MessagesController {
  constructor(@Inject(MessagingService) private readonly service: MessagingService) {}

  @Post('messages')
  async send(@Headers('authorization') authorization: string | undefined, @Body() body: unknown, @Res({ passthrough: true }) res: Response) {
    return answer(res, await this.service.send(this.service.authenticate(authorization), body));
  }

  @Get('messages/:id')
  get(@Headers('authorization') authorization: string | undefined, @Param('id') id: string, @Res({ passthrough: true }) res: Response) {
    return answer(res, this.service.get(this.service.authenticate(authorization), id));
  }

  @Post('lookups')
  lookup(@Headers('authorization') authorization: string | undefined, @Body() body: unknown, @Res({ passthrough: true }) res: Response) {
    return answer(res, this.service.lookup(this.service.authenticate(authorization), body));
  }
}

/**
 * Every path no controller answers: bulwark's 404 `not_found` (Nest's own would be a `NotFoundException`
 * with the message "Cannot GET /path"). Registered last, in the last module, so it matches only what the
 * other routes left.
 */
@Controller()
export class NotFoundController {
  @All('{*path}')
  unmatched(): never {
    throw new ApiError('not_found');
  }
}

/** Sets the reply's status; Nest sends the returned body as JSON (bulwark's idempotency stores it). */
function answer(res: Response, reply: Reply): unknown {
  res.status(reply.status);
  return reply.body;
}
