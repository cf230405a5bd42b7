/**
 * A module resolution hook for lambdalite's Node bootstrap: a bare `import`
 * (`@aws-sdk/client-s3`) that the default resolution cannot find from the
 * importing file is resolved once more as if imported from the directory
 * that holds the runtime's JavaScript SDK, as AWS's runtimes provide it.
 * The function's own node_modules and its layers are tried first, so a copy
 * it ships wins. ES modules ignore NODE_PATH, which is why this exists.
 *
 * initialize(data): data.parentURL is a file URL inside the SDK's directory.
 */

let sdkParent = null;

export async function initialize(data) {
  sdkParent = data && data.parentURL ? data.parentURL : null;
}

function isBare(specifier) {
  return !/^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|\.{0,2}\/|#)/.test(specifier);
}

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (err) {
    if (sdkParent === null || !isBare(specifier) || !err || err.code !== 'ERR_MODULE_NOT_FOUND') throw err;
    try {
      return await nextResolve(specifier, { ...context, parentURL: sdkParent });
    } catch (_) {
      throw err;
    }
  }
}
