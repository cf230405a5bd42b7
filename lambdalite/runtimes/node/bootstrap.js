/**
 * lambdalite's Node.js runtime interface client (Node 18 to 22): runs one
 * function inside an execution environment and talks to the platform through
 * the Lambda Runtime API (2018-06-01), the way AWS's Node runtime does.
 *
 * Reads: AWS_LAMBDA_RUNTIME_API (host:port), _LAMBDALITE_RUNTIME_CHANNEL
 * (`<read fd>,<write fd>`: when set, the platform's cheaper channel is used
 * instead of the Runtime API, see RuntimeChannel; removed from process.env
 * before the handler loads), _HANDLER, LAMBDA_TASK_ROOT (else
 * cwd), AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_FUNCTION_VERSION,
 * AWS_LAMBDA_FUNCTION_MEMORY_SIZE, AWS_LAMBDA_LOG_GROUP_NAME,
 * AWS_LAMBDA_LOG_STREAM_NAME, AWS_LAMBDA_LOG_LEVEL, AWS_LAMBDA_LOG_FORMAT, and
 * _LAMBDALITE_SDK_NODE (the runtime's SDK node_modules: a bare `import` nothing
 * else resolves is resolved from there, see sdk_resolve.mjs; removed from
 * process.env before the handler loads). Sets _X_AMZN_TRACE_ID per invocation.
 *
 * Writes to stdout: console.* as `<ISO time>\t<request id>\t<LEVEL>\t<util.format(...)>\n`
 * (request id is `undefined` during init, as on AWS), or one JSON object per
 * line with AWS_LAMBDA_LOG_FORMAT=JSON; a failed invocation as
 * `...\tERROR\tInvoke Error \t{json}`; a failed init as
 * `...\tundefined\tERROR\tUncaught Exception \t{json}`. With
 * _LAMBDALITE_LOG_FRAMES=1 (lambdalite sets it; it is removed from process.env
 * before the handler loads) each console record is one frame, RECORD_MARK + its
 * UTF-8 length (4 bytes, big-endian) + the text, which the platform turns into
 * one log event however many lines it has (as AWS's runtime does through its
 * telemetry descriptor); otherwise a line. stdout is a pipe and pipes are
 * written synchronously on Linux, so everything logged is in the pipe before
 * the response is POSTed.
 *
 * Handlers: `file.path.to.fn` or `dir/file.fn`; file is tried extensionless,
 * .js (CommonJS unless the nearest package.json says "type": "module"), .mjs
 * (dynamic import), .cjs, then Node's own resolution from the task root.
 * async handlers, promise-returning handlers, callback(err, result) and
 * context.succeed/fail/done are supported.
 *
 * callbackWaitsForEmptyEventLoop (default true): after callback(null, result)
 * the response is sent when the event loop has nothing left to do
 * ('beforeExit'), as on AWS; set it to false to send at once. Promise results
 * and context.succeed/fail/done are sent at once. A non-async handler that
 * neither returns a promise nor calls back answers null once the loop is empty.
 *
 * Exits 129 after an init error or an uncaught exception, 128 after an
 * unhandled promise rejection (both reported to the Runtime API first).
 */

'use strict';

const fs = require('fs');
const http = require('http');
const net = require('net');
const path = require('path');
const url = require('url');
const util = require('util');

const API_PREFIX = '/2018-06-01/runtime';
const ERROR_TYPE_HEADER = 'Lambda-Runtime-Function-Error-Type';

// -- errors -------------------------------------------------------------------

function runtimeError(name) {
  const cls = class extends Error {};
  Object.defineProperty(cls, 'name', { value: name });
  cls.prototype.name = `Runtime.${name}`;
  return cls;
}

const ImportModuleError = runtimeError('ImportModuleError');
const HandlerNotFound = runtimeError('HandlerNotFound');
const MalformedHandlerName = runtimeError('MalformedHandlerName');
const UserCodeSyntaxError = runtimeError('UserCodeSyntaxError');
const UnhandledPromiseRejection = runtimeError('UnhandledPromiseRejection');
const NodeJsExit = runtimeError('NodeJsExit');

function isErrorLike(value) {
  return (
    util.types.isNativeError(value) ||
    (value &&
      typeof value.name === 'string' &&
      typeof value.message === 'string' &&
      typeof value.stack === 'string')
  );
}

/** The body AWS posts for an error: {errorType, errorMessage, trace}. */
function errorBody(error) {
  try {
    if (isErrorLike(error)) {
      return { errorType: error.name, errorMessage: error.message, trace: error.stack.split('\n') };
    }
    return { errorType: typeof error, errorMessage: String(error), trace: [] };
  } catch (_) {
    return {
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    };
  }
}

/** The JSON AWS logs after "Invoke Error": name, message, code, own fields, stack as lines. */
function formattedError(error) {
  const asError = error instanceof Error ? error : new Error(error);
  const replacer = (_key, value) => {
    if (!(value instanceof Error)) return value;
    const out = Object.assign({ errorType: value.name, errorMessage: value.message, code: value.code }, value);
    if (typeof value.stack === 'string') out.stack = value.stack.split('\n');
    return out;
  };
  try {
    return '\t' + JSON.stringify(asError, replacer);
  } catch (_) {
    return '\t' + JSON.stringify(errorBody(asError));
  }
}

// -- console ------------------------------------------------------------------

let currentRequestId; // undefined during init, printed as "undefined" like AWS

const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'];
const FRAMES_VARIABLE = '_LAMBDALITE_LOG_FRAMES';
/** Starts a framed log record (lambdalite/dataplane/output.py). */
const RECORD_MARK = Buffer.from([0x1e, 0x00, 0x4c, 0x52]);

/** A record writer: one frame per record, or one line when frames are off. */
function recordWriter(framed) {
  if (!framed) return (text) => process.stdout.write(text + '\n');
  return (text) => {
    const payload = Buffer.from(text, 'utf8');
    const header = Buffer.alloc(RECORD_MARK.length + 4);
    RECORD_MARK.copy(header);
    header.writeUInt32BE(payload.length, RECORD_MARK.length);
    process.stdout.write(Buffer.concat([header, payload]));
  };
}

function patchConsole() {
  const writeRecord = recordWriter(process.env[FRAMES_VARIABLE] === '1');
  delete process.env[FRAMES_VARIABLE]; // the platform's, not the function's
  const json = (process.env.AWS_LAMBDA_LOG_FORMAT || '').toUpperCase() === 'JSON';
  jsonErrors = json;
  const wanted = LEVELS.indexOf((process.env.AWS_LAMBDA_LOG_LEVEL || '').toUpperCase());
  const threshold = wanted < 0 ? 0 : wanted;
  const write = (level, params) => {
    const time = new Date().toISOString();
    const line = json
      ? jsonRecord(time, level, params)
      : `${time}\t${currentRequestId}\t${level}\t${util.format(...params)}`;
    writeRecord(line);
  };
  const logger = (level) =>
    LEVELS.indexOf(level) >= threshold || level === 'FATAL' ? (...params) => write(level, params) : () => {};
  console.trace = logger('TRACE');
  console.debug = logger('DEBUG');
  console.info = logger('INFO');
  console.log = console.info;
  console.warn = logger('WARN');
  console.error = logger('ERROR');
  console.fatal = logger('FATAL');
}

/** An Error as AWS's JSON records show it: its type, message and stack as a list of lines. */
function jsonErrorReplacer(_key, value) {
  if (!(value instanceof Error)) return value;
  const type = (value.constructor && value.constructor.name) || 'UnknownError';
  const stack = typeof value.stack === 'string' ? value.stack.split('\n') : value.stack;
  return Object.assign({ errorType: type, errorMessage: value.message, stackTrace: stack }, value);
}

/**
 * AWS's JSON record for console.*: timestamp, level, requestId and message. One
 * argument is kept as a JSON value (an object stays an object, an Error becomes
 * errorType/errorMessage/stackTrace); several are formatted as text, and the
 * first Error among them adds errorType, errorMessage and stackTrace.
 */
function jsonRecord(timestamp, level, params) {
  const entry = { timestamp, level, requestId: currentRequestId };
  if (params.length === 1) {
    entry.message = params[0];
    try {
      return JSON.stringify(entry, jsonErrorReplacer);
    } catch (_) {
      entry.message = util.format(params[0]);
      return JSON.stringify(entry);
    }
  }
  entry.message = util.format(...params);
  const error = params.find((param) => param instanceof Error);
  if (error) {
    entry.errorType = (error.constructor && error.constructor.name) || 'UnknownError';
    entry.errorMessage = error.message;
    entry.stackTrace = typeof error.stack === 'string' ? error.stack.split('\n') : [];
  }
  return JSON.stringify(entry);
}

let jsonErrors = false;

function logError(label, error) {
  // With JSON, AWS logs the error itself as the record's message; with text, a label and its JSON.
  if (jsonErrors) console.error(error instanceof Error ? error : new Error(String(error)));
  else console.error(label, formattedError(error));
}

// -- Runtime API client -----------------------------------------------------------

class RuntimeApi {
  /** One keep-alive connection with TCP_NODELAY; Node's parser, our framing. */
  constructor(address) {
    const [host, port] = address.split(':');
    this.host = host;
    this.port = Number(port);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1, noDelay: true });
  }

  request(method, pathname, body, headers) {
    return new Promise((resolve, reject) => {
      const options = { host: this.host, port: this.port, method, path: pathname, agent: this.agent, headers };
      const req = http.request(options, (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('socket', (socket) => socket.setNoDelay(true));
      req.on('error', reject);
      req.end(body);
    });
  }

  next() {
    return this.request('GET', `${API_PREFIX}/invocation/next`);
  }

  post(pathname, payload, extraHeaders) {
    const body = Buffer.from(payload, 'utf8');
    const headers = Object.assign({ 'Content-Type': 'application/json', 'Content-Length': body.length }, extraHeaders);
    return this.request('POST', pathname, body, headers);
  }

  postResponse(id, payload) {
    return this.post(`${API_PREFIX}/invocation/${encodeURIComponent(id)}/response`, payload);
  }

  postError(id, error) {
    return this.post(`${API_PREFIX}/invocation/${encodeURIComponent(id)}/error`, JSON.stringify(errorBody(error)), {
      [ERROR_TYPE_HEADER]: 'Unhandled',
    });
  }

  postInitError(error) {
    const body = errorBody(error);
    return this.post(`${API_PREFIX}/init/error`, JSON.stringify(body), { [ERROR_TYPE_HEADER]: body.errorType });
  }
}

// -- the platform's channel --------------------------------------------------------

const CHANNEL_VARIABLE = '_LAMBDALITE_RUNTIME_CHANNEL';
const EVENT_HEAD = 26; // lambdalite.dataplane.runtime_channel's EVENT_HEAD: >IQHHHII
const REQUEST_HEAD = 9; // and its REQUEST_HEAD: >BIHH
const [NEXT, RESPONSE, ERROR, INIT_ERROR] = ['n', 'r', 'e', 'i'].map((kind) => kind.charCodeAt(0));

/**
 * `fd` as a descriptor that programs the function runs do not inherit. Node cannot set
 * FD_CLOEXEC on a descriptor it was handed, and child_process passes on every descriptor
 * without it; so the pipe is opened anew through /proc (libuv opens everything
 * close-on-exec) and the inherited descriptor closed. Where that open is refused (no
 * /proc, or a pipe that belongs to another user), the inherited descriptor is kept.
 * The platform holds the other end of each pipe while the runtime starts, so neither
 * open waits (the read end is non-blocking anyway, as libuv would make it).
 */
function closeOnExec(fd, flags) {
  let fresh;
  try {
    fresh = fs.openSync(`/proc/self/fd/${fd}`, flags);
  } catch (_) {
    return fd;
  }
  fs.closeSync(fd);
  return fresh;
}

/**
 * The platform's channel (lambdalite.dataplane.runtime_channel has the frames): two
 * inherited pipes instead of HTTP on TCP, with RuntimeApi's interface. Handing back a
 * response also asks for the next event, which the next call to next() then waits for:
 * one write and one read per invocation. The read end keeps the event loop alive only
 * while an event is awaited, so 'beforeExit' still tells when a handler's work is done.
 * Writes are synchronous, like the console's: a response is in the pipe before
 * whatever follows it (an exit) happens.
 */
class RuntimeChannel {
  constructor(spec) {
    const [inheritedRead, inheritedWrite] = spec.split(',').map(Number);
    const readFd = closeOnExec(inheritedRead, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const writeFd = closeOnExec(inheritedWrite, fs.constants.O_WRONLY);
    this.writeFd = writeFd;
    this.waiting = null; // { resolve, reject } of the event asked for
    this.asked = null; // the promise of an event asked for by a response or an error
    this.chunks = [];
    this.buffered = 0;
    this.gone = null;
    this.input = new net.Socket({ fd: readFd, readable: true, writable: false });
    this.input.unref();
    this.input.on('data', (chunk) => this.received(chunk));
    const closed = () => this.fail(new Error('the platform closed its channel'));
    this.input.on('end', closed);
    this.input.on('close', closed);
    this.input.on('error', (err) => this.fail(err));
  }

  fail(err) {
    this.gone = this.gone || err;
    const waiting = this.waiting;
    this.waiting = null;
    if (waiting) waiting.reject(this.gone);
  }

  /** One request frame, built in one buffer and written at once. `body` is a string (sent
   * as UTF-8), or anything else Buffer.from takes (which throws what it throws otherwise). */
  send(kind, id, errorType, body) {
    const bytes = typeof body === 'string' ? null : Buffer.from(body, 'utf8');
    const idSize = Buffer.byteLength(id, 'utf8');
    const typeSize = Buffer.byteLength(errorType, 'utf8');
    const bodySize = bytes ? bytes.length : Buffer.byteLength(body, 'utf8');
    const frame = Buffer.allocUnsafe(REQUEST_HEAD + idSize + typeSize + bodySize);
    frame.writeUInt8(kind, 0);
    frame.writeUInt32BE(bodySize, 1);
    frame.writeUInt16BE(idSize, 5);
    frame.writeUInt16BE(typeSize, 7);
    let at = REQUEST_HEAD + frame.write(id, REQUEST_HEAD, 'utf8');
    at += frame.write(errorType, at, 'utf8');
    if (bytes) bytes.copy(frame, at);
    else frame.write(body, at, 'utf8');
    let written = 0;
    while (written < frame.length) written += fs.writeSync(this.writeFd, frame, written);
  }

  /** Send a request that asks for the next event; the promise of that event. */
  ask(kind, id, errorType, body) {
    const event = new Promise((resolve, reject) => {
      if (this.gone) return reject(this.gone);
      this.waiting = { resolve, reject };
      this.input.ref();
      try {
        this.send(kind, id, errorType, body);
      } catch (err) {
        this.fail(err);
      }
    });
    event.catch(() => {}); // handled by whoever awaits it (next())
    return event;
  }

  received(chunk) {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.buffered < EVENT_HEAD) return;
    const data = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
    this.chunks = [data];
    // Unrolled: this runs once per invocation.
    const arnAt = EVENT_HEAD + data.readUInt16BE(12);
    const traceAt = arnAt + data.readUInt16BE(14);
    const contextAt = traceAt + data.readUInt16BE(16);
    const identityAt = contextAt + data.readUInt32BE(18);
    const payloadAt = identityAt + data.readUInt32BE(22);
    const total = payloadAt + data.readUInt32BE(0);
    if (this.buffered < total) return;
    this.chunks = data.length > total ? [data.subarray(total)] : [];
    this.buffered -= total;
    const text = (start, end) => (end > start ? data.toString('utf8', start, end) : undefined);
    const trace = text(traceAt, contextAt);
    const clientContext = text(contextAt, identityAt);
    const identity = text(identityAt, payloadAt);
    const headers = {
      'lambda-runtime-aws-request-id': text(EVENT_HEAD, arnAt),
      'lambda-runtime-deadline-ms': String(data.readBigUInt64BE(4)),
      'lambda-runtime-invoked-function-arn': text(arnAt, traceAt),
    };
    if (trace) headers['lambda-runtime-trace-id'] = trace;
    if (clientContext) headers['lambda-runtime-client-context'] = clientContext;
    if (identity) headers['lambda-runtime-cognito-identity'] = identity;
    const waiting = this.waiting;
    this.waiting = null;
    this.input.unref();
    if (waiting) waiting.resolve({ status: 200, headers, body: data.subarray(payloadAt, total) });
  }

  next() {
    const asked = this.asked;
    this.asked = null;
    return asked || this.ask(NEXT, '', '', '');
  }

  postResponse(id, payload) {
    this.asked = this.ask(RESPONSE, id, '', payload);
    return Promise.resolve();
  }

  postError(id, error) {
    this.asked = this.ask(ERROR, id, 'Unhandled', JSON.stringify(errorBody(error)));
    return Promise.resolve();
  }

  postInitError(error) {
    const body = errorBody(error);
    try {
      this.send(INIT_ERROR, '', body.errorType, JSON.stringify(body));
    } catch (err) {
      return Promise.reject(err);
    }
    return Promise.resolve();
  }
}

/**
 * The platform's channel when it gave one (taken out of process.env), otherwise, or
 * when its descriptors are not there after all, the Runtime API.
 */
function connect() {
  const channel = process.env[CHANNEL_VARIABLE];
  delete process.env[CHANNEL_VARIABLE]; // the platform's, not the function's
  if (channel) {
    try {
      return new RuntimeChannel(channel);
    } catch (err) {
      // fall through to the Runtime API
    }
  }
  return new RuntimeApi(process.env.AWS_LAMBDA_RUNTIME_API);
}

// -- loading the handler ----------------------------------------------------------

function nearestPackageIsModule(folder) {
  for (let dir = folder; ; dir = path.dirname(dir)) {
    if (dir.endsWith(`${path.sep}node_modules`)) return false;
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      try {
        return JSON.parse(fs.readFileSync(manifest, 'utf8')).type === 'module';
      } catch (err) {
        console.warn(`${manifest} cannot be read, it will be ignored for ES module detection purposes.`, err);
        return false;
      }
    }
    if (dir === path.dirname(dir)) return false;
  }
}

async function importFile(file) {
  registerSdkResolution();
  return import(url.pathToFileURL(file).href);
}

async function loadModule(taskRoot, moduleRoot, moduleName) {
  const base = path.resolve(taskRoot, moduleRoot, moduleName);
  const isFile = (file) => fs.existsSync(file) && fs.statSync(file).isFile();
  if (isFile(base)) return require(base);
  const esm = nearestPackageIsModule(path.dirname(base));
  if (isFile(`${base}.js`)) return esm ? importFile(`${base}.js`) : require(`${base}.js`);
  if (isFile(`${base}.mjs`)) return importFile(`${base}.mjs`);
  if (isFile(`${base}.cjs`)) return require(`${base}.cjs`);
  // A package name, or a directory with an index: Node's own resolution,
  // from the task root rather than from this file's directory.
  return require(require.resolve(moduleName, { paths: [taskRoot, path.resolve(taskRoot, moduleRoot)] }));
}

/** Resolve `_HANDLER` to a function, or throw a Runtime.* error like AWS. */
async function loadHandler(taskRoot, fullHandler) {
  if (fullHandler.includes('..')) {
    throw new MalformedHandlerName(
      `'${fullHandler}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const moduleAndHandler = path.basename(fullHandler);
  const moduleRoot = fullHandler.slice(0, fullHandler.length - moduleAndHandler.length);
  const match = /^([^.]*)\.(.*)$/.exec(moduleAndHandler);
  if (!match) throw new MalformedHandlerName('Bad handler');
  const [, moduleName, handlerPath] = match;

  let userModule;
  try {
    userModule = await loadModule(taskRoot, moduleRoot, moduleName);
  } catch (err) {
    if (err instanceof SyntaxError) throw new UserCodeSyntaxError(String(err));
    if (err && err.code === 'MODULE_NOT_FOUND') throw new ImportModuleError(String(err));
    throw err;
  }
  const handler = handlerPath.split('.').reduce((obj, key) => obj && obj[key], userModule);
  if (!handler) throw new HandlerNotFound(`${fullHandler} is undefined or not exported`);
  if (typeof handler !== 'function') throw new HandlerNotFound(`${fullHandler} is not a function`);
  return handler;
}

// -- invocations ------------------------------------------------------------------

function parseJsonHeader(value, name) {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${err.toString()}`);
  }
}

function serialize(result) {
  try {
    return JSON.stringify(result === undefined ? null : result);
  } catch (_) {
    throw new Error('Unable to stringify response body');
  }
}

/** What to do when the event loop runs dry ('beforeExit'); set per invocation. */
let onEmptyEventLoop = null;
process.on('beforeExit', () => {
  const action = onEmptyEventLoop;
  onEmptyEventLoop = null;
  if (action) action();
});

/** Errors outside the handler's own call stack go to the invocation in progress, or to init. */
let reportFatal = null;

function isAsyncFunction(fn) {
  return fn.constructor && fn.constructor.name === 'AsyncFunction';
}

class Runtime {
  constructor(api, handler) {
    this.api = api;
    this.handler = handler;
  }

  scheduleNext() {
    setImmediate(() =>
      this.handleOne().catch((err) => {
        console.log(`Unexpected Top Level Error: ${err.toString()}`);
        process.exit(1);
      }),
    );
  }

  async handleOne() {
    const { headers, body } = await this.api.next();
    const id = headers['lambda-runtime-aws-request-id'];
    currentRequestId = id;
    if (headers['lambda-runtime-trace-id']) process.env._X_AMZN_TRACE_ID = headers['lambda-runtime-trace-id'];
    else delete process.env._X_AMZN_TRACE_ID;

    let finished = false;
    const finish = (send) => {
      if (finished) return;
      finished = true;
      onEmptyEventLoop = null;
      send().then(
        () => this.scheduleNext(),
        (err) => {
          console.log(`Unexpected Top Level Error: ${err.toString()}`);
          process.exit(1);
        },
      );
    };
    const fail = (err) =>
      finish(() => {
        logError('Invoke Error', err);
        return this.api.postError(id, err);
      });
    const succeed = (result) => {
      let payload;
      try {
        payload = serialize(result);
      } catch (err) {
        return fail(err);
      }
      return finish(() => this.api.postResponse(id, payload));
    };
    reportFatal = (err, code) => {
      finished = true;
      this.api.postError(id, err).finally(() => process.exit(code));
    };

    let waitForEmptyEventLoop = true;
    const deadline = Number(headers['lambda-runtime-deadline-ms']);
    const context = {
      get callbackWaitsForEmptyEventLoop() {
        return waitForEmptyEventLoop;
      },
      set callbackWaitsForEmptyEventLoop(value) {
        waitForEmptyEventLoop = value;
      },
      succeed: (result) => succeed(result),
      fail: (err) => fail(err === undefined || err === null ? 'handled' : err),
      done: (err, result) => (err !== undefined && err !== null ? fail(err) : succeed(result)),
      functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
      invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
      awsRequestId: id,
      getRemainingTimeInMillis: () => deadline - Date.now(),
    };
    let callbackCalled = false;
    const callback = (err, result) => {
      if (callbackCalled) return;
      callbackCalled = true;
      if (err !== undefined && err !== null) return fail(err);
      if (!waitForEmptyEventLoop) return succeed(result);
      onEmptyEventLoop = () => setImmediate(() => succeed(result));
    };

    // If nothing ever answers, AWS answers for the handler once the loop is empty.
    const isAsync = isAsyncFunction(this.handler);
    onEmptyEventLoop = () =>
      isAsync
        ? fail(new NodeJsExit('Runtime exited without providing a reason'))
        : finish(() => this.api.postResponse(id, 'null'));

    try {
      context.clientContext = parseJsonHeader(headers['lambda-runtime-client-context'], 'ClientContext');
      context.identity = parseJsonHeader(headers['lambda-runtime-cognito-identity'], 'CognitoIdentity');
      const result = this.handler(JSON.parse(body.toString('utf8')), context, callback);
      if (result && typeof result.then === 'function') result.then(succeed, fail);
    } catch (err) {
      fail(err);
    }
  }
}

// -- main -------------------------------------------------------------------------

const SDK_VARIABLE = '_LAMBDALITE_SDK_NODE';

/** Where a bare `import` falls back to (see sdk_resolve.mjs), until the hook is registered. */
let sdkParentURL = null;

function readSdkLocation() {
  const modules = process.env[SDK_VARIABLE];
  delete process.env[SDK_VARIABLE]; // the platform's, not the function's
  if (modules) sdkParentURL = url.pathToFileURL(path.join(path.dirname(modules), 'lambdalite-sdk.mjs')).href;
}

/**
 * Let a bare `import` fall back to the runtime's SDK. Done only before the first ES
 * module is imported: registering the hook starts a loader thread, which costs a
 * CommonJS handler's cold start tens of milliseconds for nothing (require uses NODE_PATH).
 */
function registerSdkResolution() {
  const parentURL = sdkParentURL;
  sdkParentURL = null;
  const nodeModule = require('module');
  if (parentURL === null || typeof nodeModule.register !== 'function') return;
  nodeModule.register('./sdk_resolve.mjs', url.pathToFileURL(__filename), { data: { parentURL } });
}

async function main() {
  patchConsole();
  readSdkLocation();
  const api = connect();
  const taskRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();

  reportFatal = (err, code) => {
    api.postInitError(err).finally(() => process.exit(code));
  };
  process.on('uncaughtException', (err) => {
    logError('Uncaught Exception', err);
    reportFatal(err, 129);
  });
  process.on('unhandledRejection', (reason) => {
    const err = new UnhandledPromiseRejection(String(reason));
    err.reason = reason;
    logError('Unhandled Promise Rejection', err);
    reportFatal(err, 128);
  });

  let handler;
  try {
    handler = await loadHandler(taskRoot, process.env._HANDLER || '');
  } catch (err) {
    logError('Uncaught Exception', err);
    reportFatal(err, 129);
    return;
  }
  new Runtime(api, handler).scheduleNext();
}

main();
