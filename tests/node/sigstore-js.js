'use strict';
// The sigstore-js packages the tests run against: the repository's devDependencies (the
// previous majors, which still support Node 20), or the ones installed in SIGSTORE_JS_DIR
// (node/scripts/matrix.js installs the current majors there and runs the suite on Node 22 and 24).

const path = require('node:path');

const dir = process.env.SIGSTORE_JS_DIR;

function load(name) {
  return require(dir ? require.resolve(name, { paths: [dir] }) : name);
}

function version(name) {
  const pkg = dir
    ? require.resolve(`${name}/package.json`, { paths: [dir] })
    : require.resolve(`${name}/package.json`, { paths: [path.resolve(__dirname, '..', '..')] });
  return require(pkg).version;
}

module.exports = {
  bundle: load('@sigstore/bundle'),
  protobufSpecs: load('@sigstore/protobuf-specs'),
  sign: load('@sigstore/sign'),
  verify: load('@sigstore/verify'),
  versions: {
    sign: version('@sigstore/sign'),
    verify: version('@sigstore/verify'),
    bundle: version('@sigstore/bundle'),
  },
};
