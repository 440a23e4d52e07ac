"""The option vocabulary, as the Rust core defines it for every language (docs/options.md).

The table test: every option of the core's table is a keyword of get_signer_verifier with the
table's default, accepts a good value, and refuses a bad one with an error that names it and what
it accepts. The Node suite runs the same test over the same table (tests/node/options.test.js)."""

from __future__ import annotations

import inspect
from typing import Any, Dict, List, Tuple

import pytest

import sigstore_kms_plugins as skp
from conftest import FIXTURE_PATH

SIGNATURE = inspect.signature(skp.get_signer_verifier)

#: Per Python option name: a value it accepts, and values it refuses with the error class.
CASES: Dict[str, Tuple[Any, List[Tuple[Any, type]]]] = {
    "hash_func": ("sha384", [("sha-1024", ValueError), (20, ValueError), (True, TypeError), (5.0, TypeError)]),
    "key_version": ("7", [(7, TypeError), ("bad\udc80", ValueError)]),
    "remote_verification": (True, [(1, TypeError), ("yes", TypeError)]),
    "timeout": (1.5, [(0, ValueError), (-1, ValueError), (float("inf"), ValueError), (float("nan"), ValueError), ("5", TypeError)]),
    "stdout_limit": (1, [(0, ValueError), (-1, ValueError), (2**64, ValueError), (2**200, ValueError), (1.5, TypeError)]),
    "path": (FIXTURE_PATH, [(["/a:b"], ValueError), (5, TypeError)]),
    "stderr": ("capture", [("loud", ValueError), ("ignore", ValueError), (1, TypeError)]),
}


def test_the_table_is_the_cores_and_every_option_is_here() -> None:
    names = [o.python.name for o in skp.OPTIONS]
    assert sorted(names) == sorted(CASES), "a new option needs a case here (and in the Node test)"
    for o in skp.OPTIONS:
        assert o.node.name and o.rust.name and o.meaning
    assert skp.DEFAULT_TIMEOUT == 300.0 and skp.DEFAULT_STDOUT_LIMIT == 4 << 20


@pytest.mark.parametrize("spec", skp.OPTIONS, ids=[o.python.name for o in skp.OPTIONS])
def test_every_option_by_the_table(spec: skp.OptionSpec) -> None:
    name = spec.python.name
    param = SIGNATURE.parameters[name]
    assert repr(param.default) == spec.python.default, f"{name}: the signature's default is the core's"
    good, bad = CASES[name]
    kwargs = {"path": FIXTURE_PATH, name: good}
    assert skp.get_signer_verifier("fixture://k", **kwargs).key_ref == "k"
    for value, error in bad:
        kwargs = {"path": FIXTURE_PATH, name: value}
        with pytest.raises(error) as info:
            skp.get_signer_verifier("fixture://k", **kwargs)
        text = str(info.value)
        assert text.startswith(name + " "), text
        assert spec.python.accepts in text or "contains ':'" in text, text


def test_the_defects_of_before_name_the_option() -> None:
    # Once a bare OverflowError without the argument's name.
    for value in (-1, 2**64):
        with pytest.raises(ValueError, match=r"^stdout_limit must be an integer from 1 to 18446744073709551615 \(bytes\), got "):
            skp.get_signer_verifier("fixture://k", path=FIXTURE_PATH, stdout_limit=value)
    # None is "no timeout"; 0 is refused (Python's spelling of "no timeout" is None).
    assert skp.get_signer_verifier("fixture://k", path=FIXTURE_PATH, timeout=None).timeout is None
    with pytest.raises(ValueError, match="or None for no timeout, got 0"):
        skp.get_signer_verifier("fixture://k", path=FIXTURE_PATH, timeout=0)


def test_a_lone_surrogate_in_the_key_uri_is_an_invalid_key_uri() -> None:
    with pytest.raises(skp.InvalidKeyURIError, match="lone surrogate") as info:
        skp.get_signer_verifier("fixture://k\udc80", path=FIXTURE_PATH)
    assert info.value.kind == "InvalidKeyUri"
    with pytest.raises(skp.InvalidKeyURIError):
        skp.get_async_signer_verifier("\ud800fixture://k", path=FIXTURE_PATH)


def test_a_digest_of_the_wrong_length_names_the_argument() -> None:
    sv = skp.get_signer_verifier("fixture://k", path=FIXTURE_PATH)
    with pytest.raises(ValueError, match="^digest is not a SHA-384 digest: a SHA-384 digest is 48 bytes, got 32 bytes"):
        sv.sign_digest(bytes(32), "sha384")
