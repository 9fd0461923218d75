"""RFC 6962 tree hashing: the published test vectors and the incremental frontier."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit_logging._integrity.merkle import EMPTY_ROOT, Frontier, leaf_hash, root_of

# The leaves and roots of the RFC 6962 reference tests (certificate-transparency-go
# merkletree, also transparency-dev/merkle's testonly vectors): leaf i is the bytes
# below, the root after the first n leaves is ROOTS[n - 1].
LEAVES = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_empty_tree_root_is_sha256_of_nothing():
    """The empty tree's root is SHA-256 of the empty string (RFC 6962 2.1)."""
    assert Frontier().root() == EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_leaf_hash_prefixes_zero_byte():
    """A leaf hash is SHA-256(0x00 || data)."""
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()


@pytest.mark.parametrize("n", range(1, len(ROOTS) + 1))
def test_frontier_matches_rfc6962_vectors(n: int):
    """The incremental root after n leaves is the published root."""
    f = Frontier()
    for leaf in LEAVES[:n]:
        f.append(leaf_hash(bytes.fromhex(leaf)))
    assert f.root().hex() == ROOTS[n - 1]
    assert f.size == n


@pytest.mark.parametrize("n", range(1, len(ROOTS) + 1))
def test_recursive_definition_matches_rfc6962_vectors(n: int):
    """The recursive MTH gives the published roots too."""
    assert root_of([leaf_hash(bytes.fromhex(x)) for x in LEAVES[:n]]).hex() == ROOTS[n - 1]


@given(st.integers(min_value=0, max_value=300))
def test_frontier_equals_recursive_root_for_any_size(n: int):
    """Frontier and recursive definition agree for every size."""
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    f = Frontier()
    for leaf in leaves:
        f.append(leaf)
    assert f.root() == root_of(leaves)
    assert len(f.hashes) == n.bit_count()


def test_frontier_restored_from_hashes_continues_the_tree():
    """A frontier rebuilt from (size, hashes) continues to the same roots."""
    leaves = [leaf_hash(bytes([i])) for i in range(13)]
    f = Frontier()
    for leaf in leaves[:6]:
        f.append(leaf)
    g = Frontier(f.size, f.hashes)
    for leaf in leaves[6:]:
        g.append(leaf)
    assert g.root() == root_of(leaves)


def test_frontier_refuses_wrong_number_of_hashes():
    """A frontier needs one hash per set bit of its size."""
    with pytest.raises(ValueError, match="hashes"):
        Frontier(3, [b"\x00" * 32])


def test_copy_is_independent():
    """Appending to a copy leaves the original untouched (batch rollback)."""
    f = Frontier()
    f.append(leaf_hash(b"a"))
    g = f.copy()
    g.append(leaf_hash(b"b"))
    assert f.size == 1
    assert g.size == 2
