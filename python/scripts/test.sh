#!/usr/bin/env bash
# The Python package's whole check, from a fresh machine (what `make test-python` runs):
#   1. a virtualenv at .venv (repo root; gitignored), with maturin, pytest, mypy, cryptography;
#   2. the package installed: the release wheel from `make dist` when SKP_PY_WHEEL names it
#      (what `make test` does: the wheel users get, no second build), else built from the
#      working tree (`pip install .`: maturin, release build, abi3 wheel for CPython >= 3.9);
#   3. stubtest (the .pyi stubs and inline types match the runtime), mypy --strict on the
#      package and its examples, then the pytest suite in tests/python.
#
# Environment:
#   PYTHON=python3.X          interpreter for the venv (default: python3, must be >= 3.9)
#   SKP_PY_WHEEL=dist/X.whl   install this wheel (built by `make dist`; or a directory holding
#                             it, as `make test` passes dist/) instead of building
#   SKP_PY_BUILD=develop      build with `maturin develop` (debug, faster) instead of `pip install .`
#   SKP_PYTEST_ARGS="-k ..."  extra pytest arguments
# Runs without a terminal or stdin; exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
venv="$root/.venv"
python=${PYTHON:-python3}

step() { printf '\n==> %s\n' "$*"; }

if [[ -d "${SKP_PY_WHEEL:-}" ]]; then
  # A directory (make test passes dist/): its one main abi3 wheel.
  wheels=("$SKP_PY_WHEEL"/sigstore_kms_plugins-*-abi3-*.whl)
  [[ ${#wheels[@]} -eq 1 && -f "${wheels[0]}" ]] || {
    echo "error: no single sigstore_kms_plugins abi3 wheel in $SKP_PY_WHEEL: run \`make dist\` first" >&2; exit 1; }
  SKP_PY_WHEEL=${wheels[0]}
fi
if [[ -n "${SKP_PY_WHEEL:-}" && ! -f "$SKP_PY_WHEEL" ]]; then
  echo "error: SKP_PY_WHEEL=$SKP_PY_WHEEL does not exist: run \`make dist\` first" >&2; exit 1
fi
[[ -n "${SKP_PY_WHEEL:-}" ]] || command -v cargo >/dev/null || { echo "error: cargo not found: install Rust (https://rustup.rs)" >&2; exit 1; }
"$python" - <<'PY' || { echo "error: $python is older than 3.9" >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 9) else 1)
PY

if [[ ! -x "$venv/bin/python" ]]; then
  step "creating $venv"
  "$python" -m venv "$venv"
fi
py="$venv/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

step "installing the test tools"
"$py" -m pip install --quiet --upgrade pip
"$py" -m pip install --quiet "pytest>=7" "mypy>=1.10" "cryptography>=41"
[[ -n "${SKP_PY_WHEEL:-}" ]] || "$py" -m pip install --quiet "maturin>=1.9,<2"
# The real packages the bundle and securesystemslib tests run against (tests/python/test_sigstore.py,
# test_securesystemslib.py); securesystemslib 1.x, python-tuf and in-toto need Python >= 3.10.
"$py" -m pip install --quiet "securesystemslib[crypto]>=1.0,<2; python_version>='3.10'" \
  "tuf>=6; python_version>='3.10'" "in-toto>=3; python_version>='3.10'" \
  "sigstore-models==0.0.6; python_version>='3.10'"
# Where they can be installed they must be, so that their tests run rather than skip.
"$py" - <<'PY'
import sys
if sys.version_info >= (3, 10):
    import in_toto, securesystemslib, sigstore_models, tuf  # noqa: F401
else:
    print("note: Python < 3.10: the securesystemslib, python-tuf and in-toto tests are skipped", file=sys.stderr)
PY

if [[ -n "${SKP_PY_WHEEL:-}" ]]; then
  step "installing the release wheel $SKP_PY_WHEEL"
  "$py" -m pip install --quiet --force-reinstall --no-deps "$SKP_PY_WHEEL"
elif [[ "${SKP_PY_BUILD:-install}" == develop ]]; then
  step "building and installing the package (maturin develop, debug)"
  (source "$venv/bin/activate" && maturin develop --quiet)
else
  step "building and installing the package (pip install .)"
  "$py" -m pip install --quiet --force-reinstall --no-deps .
fi
"$py" -c 'import sigstore_kms_plugins as m; print("installed sigstore-kms-plugins", m.__version__, "from", m.__file__)'

# Run the checks outside the source tree's python/ directory, so they use the installed package.
step "stubtest"
"$py" -m mypy.stubtest sigstore_kms_plugins --mypy-config-file pyproject.toml --allowlist python/stubtest-allowlist.txt

step "mypy --strict (package and examples)"
"$py" -m mypy --strict -p sigstore_kms_plugins
"$py" -m mypy --strict python/examples/usage.py python/examples/pykms_plugin.py

step "pytest"
# shellcheck disable=SC2086 # SKP_PYTEST_ARGS is a list of words on purpose
"$py" -m pytest tests/python ${SKP_PYTEST_ARGS:-}
