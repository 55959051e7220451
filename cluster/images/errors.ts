import { ErrorCode, Ms2mError } from '../../adapters/errors.ts';

/** What went wrong while building an image: a tool or input is missing, or a build step failed. */
export type ImageBuildFailure = 'missing' | 'invalid' | 'failed';

const codeOf: Record<ImageBuildFailure, ErrorCode> = {
  missing: ErrorCode.CLUSTER_BINARY_MISSING,
  invalid: ErrorCode.INVALID_INPUT,
  failed: ErrorCode.INTERNAL,
};

/**
 * A local image could not be built. The message names the image (or layer), what failed and what to do;
 * `code` is `CLUSTER_BINARY_MISSING` for a missing tool or input (gcc, ctr, pause.c, an entry point),
 * `INVALID_INPUT` for a layer that cannot be laid out as given, `INTERNAL` for a failed step (compile, bundle,
 * smoke run), with the tool's own output in the message.
 *
 * @example
 * ```ts
 * throw new ImageBuildError('missing', 'ms2m/agent', 'ctr not found in the build cache', 'run bash cluster/build.sh --nodes');
 * ```
 */
export class ImageBuildError extends Ms2mError {
  constructor(
    readonly failure: ImageBuildFailure,
    readonly image: string,
    problem: string,
    fix?: string,
    cause?: unknown,
  ) {
    super(codeOf[failure], `Image ${image}: ${problem}${fix ? `; ${fix}` : ''}`, {
      cause,
      details: { image, failure },
    });
  }
}
